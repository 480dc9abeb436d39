namespace Cli;

/// <summary>Writes a training curve (raw loss and its moving average) as a PNG, rendered headless.</summary>
public static class LossPlot
{
    public static void Save(string path, IReadOnlyList<float> losses, string title, int smoothing = 50)
    {
        if (losses.Count == 0) return;
        var plot = new ScottPlot.Plot();
        var xs = Enumerable.Range(1, losses.Count).Select(i => (double)i).ToArray();
        var raw = plot.Add.Scatter(xs, losses.Select(v => (double)v).ToArray());
        raw.MarkerSize = 0; raw.LineWidth = 1; raw.Color = ScottPlot.Colors.SteelBlue.WithAlpha(0.35);
        raw.LegendText = "loss";
        int w = Math.Max(1, Math.Min(smoothing, losses.Count / 5));
        var avg = new double[losses.Count];
        double run = 0;
        for (int i = 0; i < losses.Count; i++)
        {
            run += losses[i];
            if (i >= w) run -= losses[i - w];
            avg[i] = run / Math.Min(i + 1, w);
        }
        var smooth = plot.Add.Scatter(xs, avg);
        smooth.MarkerSize = 0; smooth.LineWidth = 2; smooth.Color = ScottPlot.Colors.DarkBlue;
        smooth.LegendText = $"moving average ({w} steps)";
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.ShowLegend();
        var tmp = path + ".tmp.png";
        plot.SavePng(tmp, 800, 450);
        File.Move(tmp, path, overwrite: true);
    }
}
