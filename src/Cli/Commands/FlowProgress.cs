using System.Diagnostics;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>The training loop shell shared by the flow commands: a live progress bar with step, loss, rate and ETA.</summary>
public static class FlowProgress
{
    /// <summary>Runs <paramref name="step"/> (given the step index, returning the loss) <paramref name="steps"/> times; returns the losses.</summary>
    public static List<float> Run(string label, int steps, int batch, Func<int, float> step, string unit = "loss")
    {
        var losses = new List<float>(steps);
        var clock = Stopwatch.StartNew();
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: steps);
                for (int i = 0; i < steps; i++)
                {
                    losses.Add(step(i));
                    double rate = (i + 1) * batch / clock.Elapsed.TotalSeconds;
                    task.Description = $"{label}  step {i + 1}/{steps}  {unit} {losses.TakeLast(50).Average():F4}  {rate:F0} samples/s";
                    task.Increment(1);
                }
            });
        AnsiConsole.MarkupLine($"{Markup.Escape(label)}: {steps} steps in {clock.Elapsed.TotalSeconds:F1} s, final {unit} (mean of last 50) {losses.TakeLast(50).Average():F4}");
        return losses;
    }

    /// <summary>Creates <paramref name="dir"/> and returns the path of <paramref name="name"/> in it.</summary>
    public static string OutPath(string dir, string name)
    {
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }
}
