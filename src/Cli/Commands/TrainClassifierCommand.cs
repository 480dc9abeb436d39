using System.Diagnostics;
using Engine.Autograd;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;
using Models.Classifier;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train classifier [--data DIR] [--epochs E] [--batch B] [--lr LR] [--width W] [--hidden H] [--dropout P] [--seed S] [--out F]</c>:
/// trains the Fashion-MNIST classifier whose features define FCD and whose predictions define conditional
/// accuracy (the full 60k set when found, else the embedded part), with AdamW and a cosine schedule, then
/// reports test accuracy per class and writes the checkpoint (default <c>checkpoints/fmnist-classifier.safetensors</c>).
/// </summary>
public static class TrainClassifierCommand
{
    public static int Run(Args args, string commandLine)
    {
        int epochs = args.Int("epochs", 12, 1, 1000);
        int batch = args.Int("batch", 128, 1, 4096);
        float lr = args.Float("lr", 2e-3f);
        int width = args.Int("width", 32, 1, 512), hidden = args.Int("hidden", 128, 1, 4096);
        float dropout = args.Float("dropout", 0.3f);
        string? dataDir = args.String("data");
        string outPath = args.String("out", ClassifierCheckpoint.DefaultPath);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        args.RejectUnknown();

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        AnsiConsole.MarkupLine($"[bold]train classifier[/]: SmallConvNet(width {width}, hidden {hidden}) on {train.Count:N0} training and {test.Count:N0} test images from {Markup.Escape(train.Source)}");

        var model = new SmallConvNet(new Generator(seed), width, hidden: hidden, dropout: dropout);
        var loader = new DataLoader(train, batch, shuffle: true, dropLast: true, seed: seed);
        int totalSteps = epochs * loader.BatchesPerEpoch, step = 0;
        var opt = new AdamW(model.Parameters(), lr: lr, weightDecay: 5e-4f) { Schedule = LrSchedule.Cosine(lr, totalSteps, warmupSteps: Math.Min(200, totalSteps / 10)) };
        var clock = Stopwatch.StartNew();
        var recent = new Queue<float>();

        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: totalSteps);
                for (int epoch = 0; epoch < epochs; epoch++)
                    foreach (var (x, y) in loader.Batches(epoch))
                    {
                        var loss = Losses.CrossEntropy(model.Forward(x), y);
                        opt.ZeroGrad();
                        loss.Backward();
                        opt.Step();
                        recent.Enqueue(loss.Item());
                        if (recent.Count > 50) recent.Dequeue();
                        step++;
                        task.Description = $"epoch {epoch + 1}/{epochs}  step {step}/{totalSteps}  loss {recent.Average():F3}  {step * batch / clock.Elapsed.TotalSeconds:F0} img/s";
                        task.Increment(1);
                    }
            });

        model.Eval();
        double accuracy = model.Accuracy(test.Images, test.Labels);
        var table = new Table().AddColumns("class", "test accuracy");
        var perClass = PerClassAccuracy(model, test);
        for (int c = 0; c < perClass.Length; c++) table.AddRow(FashionMnist.ClassNames[c], perClass[c].ToString("P1"));
        AnsiConsole.Write(table);

        string? dir = Path.GetDirectoryName(Path.GetFullPath(outPath));
        if (dir != null) Directory.CreateDirectory(dir);
        ClassifierCheckpoint.Save(outPath, model, accuracy, commandLine);
        AnsiConsole.MarkupLine($"test accuracy [bold]{accuracy:P2}[/] after {epochs} epochs ({totalSteps} steps) in {clock.Elapsed.TotalSeconds:F0} s; wrote [link]{Markup.Escape(outPath)}[/]");
        return 0;
    }

    static double[] PerClassAccuracy(SmallConvNet model, ImageDataset test)
    {
        using var _ = GradMode.NoGrad();
        var hits = new int[10]; var counts = new int[10];
        for (int i = 0; i < test.Count; i += 500)
        {
            int b = Math.Min(500, test.Count - i);
            var predicted = model.Forward(test.Images.Narrow(0, i, b)).Argmax(1).ToArray();
            for (int j = 0; j < b; j++)
            {
                int label = test.Labels[i + j];
                counts[label]++;
                if ((int)predicted[j] == label) hits[label]++;
            }
        }
        return hits.Select((h, c) => counts[c] == 0 ? 0 : (double)h / counts[c]).ToArray();
    }
}
