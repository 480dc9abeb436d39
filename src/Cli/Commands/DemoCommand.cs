using System.Diagnostics;
using Engine;
using Engine.Autograd;
using Engine.Data;
using Engine.IO;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;
using Models.Classifier;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine demo [--steps N] [--batch B] [--data DIR] [--out DIR] [--seed S]</c>: trains the small conv classifier on
/// Fashion-MNIST (the embedded copy unless a full set is found or given) with a live progress bar, then writes
/// to runs/demo/: the loss curve, a grid of test images sorted into one row per predicted class, and the
/// trained weights (safetensors).
/// </summary>
public static class DemoCommand
{
    public static int Run(Args args)
    {
        int totalSteps = args.Int("steps", 280, 1, 1_000_000);
        int batch = args.Int("batch", 64, 1, 4096);
        string? dataDir = args.String("data");
        string outDir = args.String("out", Path.Combine("runs", "demo"));
        ulong seed = (ulong)args.Int("seed", 0, 0);
        args.RejectUnknown();

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        AnsiConsole.MarkupLine($"[bold]demo[/]: a conv classifier on Fashion-MNIST — {train.Count:N0} training and {test.Count:N0} test images from {Markup.Escape(train.Source)}");

        var g = new Generator(seed);
        var model = new SmallConvNet(g);
        var opt = new AdamW(model.Parameters(), lr: 2e-3f, weightDecay: 1e-4f);
        var loader = new DataLoader(train, batch, shuffle: true, dropLast: true, seed: seed);
        var losses = new List<float>();
        var clock = Stopwatch.StartNew();

        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: totalSteps);
                for (int epoch = 0; losses.Count < totalSteps; epoch++)
                    foreach (var (x, y) in loader.Batches(epoch).Take(totalSteps - losses.Count))
                    {
                        var loss = Losses.CrossEntropy(model.Forward(x), y);
                        opt.ZeroGrad();
                        loss.Backward();
                        opt.Step();
                        losses.Add(loss.Item());
                        double imagesPerSecond = losses.Count * batch / clock.Elapsed.TotalSeconds;
                        task.Description = $"epoch {epoch + 1}  step {losses.Count}/{totalSteps}  loss {losses.TakeLast(20).Average():F3}  {imagesPerSecond:F0} img/s";
                        task.Increment(1);
                    }
            });

        double accuracy = model.Accuracy(test.Images, test.Labels);
        Directory.CreateDirectory(outDir);
        string curve = Path.Combine(outDir, "loss.png"), grid = Path.Combine(outDir, "predictions.png"), weights = Path.Combine(outDir, "classifier.safetensors");
        LossPlot.Save(curve, losses, $"SmallConvNet on Fashion-MNIST — test accuracy {accuracy:P1}");
        ImageGrid.Write(grid, PredictionRows(model, test, perClass: 12), columns: 12, padding: 2, padValue: 1f);
        SafeTensors.Save(weights, model.StateDict(), new Dictionary<string, string> { ["model"] = "SmallConvNet", ["test_accuracy"] = accuracy.ToString("F4") });

        var table = new Table().AddColumns("class", "test accuracy");
        var perClass = PerClassAccuracy(model, test);
        for (int c = 0; c < perClass.Length; c++) table.AddRow(FashionMnist.ClassNames[c], perClass[c].ToString("P1"));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"test accuracy [bold]{accuracy:P1}[/] after {totalSteps} steps in {clock.Elapsed.TotalSeconds:F0} s");
        AnsiConsole.MarkupLine($"wrote [link]{curve}[/] (loss curve), [link]{grid}[/] (one row per predicted class, in class order: {string.Join(", ", FashionMnist.ClassNames)}), [link]{weights}[/]");
        return 0;
    }

    /// <summary>Up to <paramref name="perClass"/> test images per predicted class, one row per class (blank where fewer).</summary>
    static Tensor PredictionRows(SmallConvNet model, ImageDataset test, int perClass)
    {
        using var _ = GradMode.NoGrad();
        int n = Math.Min(test.Count, 2000);
        var predicted = model.Forward(test.Images.Narrow(0, 0, n)).Argmax(1).ToArray();
        var tiles = new List<Tensor>();
        for (int c = 0; c < 10; c++)
        {
            var picks = Enumerable.Range(0, n).Where(i => (int)predicted[i] == c).Take(perClass).ToList();
            foreach (var i in picks) tiles.Add(test.Images.Narrow(0, i, 1));
            for (int k = picks.Count; k < perClass; k++) tiles.Add(Tensor.Zeros([1, 1, 28, 28]));
        }
        return Tensor.Cat(tiles.ToArray(), 0);
    }

    static double[] PerClassAccuracy(SmallConvNet model, ImageDataset test)
    {
        using var _ = GradMode.NoGrad();
        var predicted = model.Forward(test.Images).Argmax(1).ToArray();
        var hits = new int[10]; var counts = new int[10];
        for (int i = 0; i < test.Count; i++) { counts[test.Labels[i]]++; if ((int)predicted[i] == test.Labels[i]) hits[test.Labels[i]]++; }
        return hits.Select((h, c) => counts[c] == 0 ? 0 : (double)h / counts[c]).ToArray();
    }
}
