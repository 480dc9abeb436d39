using System.Diagnostics;
using Engine;
using Engine.Data;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>What the PixelCNN, VAE and GAN commands share: the training loop's progress bar, batches over epochs, class-row labels and file names.</summary>
static class FamilyRun
{
    /// <summary>
    /// Runs <paramref name="step"/> for <paramref name="steps"/> batches of the shuffled training set under a live
    /// progress bar; <paramref name="step"/> returns the text shown after the step counter (losses, say).
    /// </summary>
    public static TimeSpan Train(ImageDataset train, int steps, int batch, ulong seed, Func<int, Tensor, int[], string> step)
    {
        var loader = new DataLoader(train, batch, shuffle: true, dropLast: true, seed: seed);
        var clock = Stopwatch.StartNew();
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: steps);
                int done = 0;
                for (int epoch = 0; done < steps; epoch++)
                    foreach (var (x, y) in loader.Batches(epoch).Take(steps - done))
                    {
                        string status = step(done, x, y);
                        done++;
                        task.Description = $"step {done}/{steps}  {Markup.Escape(status)}  {done * batch / clock.Elapsed.TotalSeconds:F0} img/s";
                        task.Increment(1);
                    }
            });
        return clock.Elapsed;
    }

    /// <summary>Labels for a grid with one row per class: <paramref name="perClass"/> of class 0, then of class 1, …</summary>
    public static int[] ClassRows(int classes, int perClass) =>
        Enumerable.Range(0, Math.Max(1, classes) * perClass).Select(i => classes == 0 ? 0 : i / perClass).ToArray();

    public static string PrepareOut(string dir)
    {
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void Wrote(params string[] paths) =>
        AnsiConsole.MarkupLine("wrote " + string.Join(", ", paths.Select(p => $"[link]{Markup.Escape(p)}[/]")));

    /// <summary>A running mean over the last <paramref name="window"/> values.</summary>
    public static double Recent(IReadOnlyList<float> values, int window = 50) => values.Skip(Math.Max(0, values.Count - window)).Average();
}
