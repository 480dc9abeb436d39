using Engine;
using Engine.IO;

namespace Cli.Commands;

/// <summary>
/// Pictures of 2D flows, rendered with ScottPlot: density heat maps, scatter plots and trajectories, placed
/// side by side in one PNG. Every file is written atomically.
/// </summary>
public static class FlowPictures
{
    /// <summary>The square a picture shows: centre and half-width.</summary>
    public readonly record struct View(float CentreX, float CentreY, float Half)
    {
        /// <summary>The square around (N, 2) points with a 10% margin.</summary>
        public static View Of(Tensor points)
        {
            var v = points.ToArray();
            float minX = float.MaxValue, maxX = float.MinValue, minY = float.MaxValue, maxY = float.MinValue;
            for (int i = 0; i < v.Length / 2; i++)
            {
                minX = Math.Min(minX, v[2 * i]); maxX = Math.Max(maxX, v[2 * i]);
                minY = Math.Min(minY, v[2 * i + 1]); maxY = Math.Max(maxY, v[2 * i + 1]);
            }
            return new View((minX + maxX) / 2, (minY + maxY) / 2, 0.55f * Math.Max(maxX - minX, maxY - minY));
        }

        public float Left => CentreX - Half;
        public float Top => CentreY + Half;
    }

    /// <summary>Centres of an n×n grid over the view, (n·n, 2), row-major from the top row down.</summary>
    public static Tensor Grid(int n, View view)
    {
        var p = new float[n * n * 2];
        float step = 2 * view.Half / n;
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++)
            {
                p[(r * n + c) * 2] = view.Left + (c + 0.5f) * step;
                p[(r * n + c) * 2 + 1] = view.Top - (r + 0.5f) * step;
            }
        return Tensor.Wrap(p, n * n, 2);
    }

    /// <summary>A 2D histogram of <paramref name="points"/> (N, 2) on the same grid, as densities.</summary>
    public static float[] Histogram(Tensor points, int n, View view)
    {
        var v = points.ToArray();
        var h = new float[n * n];
        float step = 2 * view.Half / n;
        int count = v.Length / 2;
        for (int i = 0; i < count; i++)
        {
            int c = (int)MathF.Floor((v[2 * i] - view.Left) / step), r = (int)MathF.Floor((view.Top - v[2 * i + 1]) / step);
            if ((uint)c < (uint)n && (uint)r < (uint)n) h[r * n + c] += 1f / (count * step * step);
        }
        return h;
    }

    /// <summary>Densities on the n×n grid of <see cref="Grid"/> as a heat map (viridis) with axes and a title.</summary>
    public static PngImage HeatMap(float[] density, int n, View view, string title, int size = 380)
    {
        var plot = NewPlot(title, view);
        var values = new double[n, n];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++) values[r, c] = float.IsFinite(density[r * n + c]) ? density[r * n + c] : 0;
        var map = plot.Add.Heatmap(values);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        map.Rectangle = new ScottPlot.CoordinateRect(view.Left, view.Left + 2 * view.Half, view.Top - 2 * view.Half, view.Top);
        return Render(plot, size, size);
    }

    /// <summary>Panels placed left to right with a white gap, written as one PNG.</summary>
    public static void WriteRow(string path, IReadOnlyList<PngImage> panels, int gap = 6) => Write(path, [panels], gap);

    /// <summary>Rows of panels, each row left to right, rows top to bottom, written as one PNG.</summary>
    public static void Write(string path, IReadOnlyList<IReadOnlyList<PngImage>> rows, int gap = 6)
    {
        int w = rows.Max(r => r.Sum(p => p.Width) + gap * (r.Count - 1));
        int h = rows.Sum(r => r.Max(p => p.Height)) + gap * (rows.Count - 1);
        var px = new byte[w * h * 3];
        Array.Fill(px, (byte)255);
        int y0 = 0;
        foreach (var row in rows)
        {
            int x0 = 0;
            foreach (var p in row)
            {
                for (int y = 0; y < p.Height; y++)
                    for (int x = 0; x < p.Width; x++)
                        for (int c = 0; c < 3; c++)
                            px[((y0 + y) * w + x0 + x) * 3 + c] = p.Pixels[(y * p.Width + x) * p.Channels + Math.Min(c, p.Channels - 1)];
                x0 += p.Width + gap;
            }
            y0 += row.Max(p => p.Height) + gap;
        }
        Png.Write(path, px, w, h, 3);
    }

    /// <summary>A scatter plot of (N, 2) points, rendered to pixels.</summary>
    public static PngImage Scatter(Tensor points, string title, View view, int size = 360, string color = "#1f4e9c")
    {
        var plot = NewPlot(title, view);
        var v = points.ToArray();
        var xs = new double[v.Length / 2]; var ys = new double[v.Length / 2];
        for (int i = 0; i < xs.Length; i++) { xs[i] = v[2 * i]; ys[i] = v[2 * i + 1]; }
        var s = plot.Add.ScatterPoints(xs, ys);
        s.MarkerSize = 2; s.Color = ScottPlot.Color.FromHex(color).WithAlpha(0.5);
        return Render(plot, size, size);
    }

    /// <summary>
    /// Trajectories: <paramref name="states"/> holds the (N, 2) positions at successive times; each point's path is a
    /// thin line from a grey start to a blue end.
    /// </summary>
    public static PngImage Trajectories(IReadOnlyList<Tensor> states, string title, View view, int size = 420, int maxPaths = 300)
    {
        var plot = NewPlot(title, view);
        var arrays = states.Select(s => s.ToArray()).ToList();
        int n = Math.Min(maxPaths, arrays[0].Length / 2);
        for (int i = 0; i < n; i++)
        {
            var line = plot.Add.ScatterLine(arrays.Select(a => (double)a[2 * i]).ToArray(), arrays.Select(a => (double)a[2 * i + 1]).ToArray());
            line.LineWidth = 0.7f; line.Color = ScottPlot.Color.FromHex("#e0731a").WithAlpha(0.35);
        }
        double[] X(float[] a) => Enumerable.Range(0, n).Select(i => (double)a[2 * i]).ToArray();
        double[] Y(float[] a) => Enumerable.Range(0, n).Select(i => (double)a[2 * i + 1]).ToArray();
        var start = plot.Add.ScatterPoints(X(arrays[0]), Y(arrays[0]));
        start.MarkerSize = 3; start.Color = ScottPlot.Colors.Gray;
        var end = plot.Add.ScatterPoints(X(arrays[^1]), Y(arrays[^1]));
        end.MarkerSize = 3; end.Color = ScottPlot.Color.FromHex("#1f4e9c");
        return Render(plot, size, size);
    }

    static ScottPlot.Plot NewPlot(string title, View view)
    {
        var plot = new ScottPlot.Plot();
        plot.Title(title, size: 13);
        plot.Axes.SetLimits(view.Left, view.Left + 2 * view.Half, view.Top - 2 * view.Half, view.Top);
        return plot;
    }

    static PngImage Render(ScottPlot.Plot plot, int width, int height) =>
        Png.Decode(plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png), "plot", 3);
}
