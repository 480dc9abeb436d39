using Engine.Autograd;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;
using Models.Classifier;
using Models.Training;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train classifier [--data DIR] [--epochs E] [--batch B] [--lr LR] [--width W] [--hidden H] [--dropout P] [--seed S]
/// [--out DIR] [--classifier F] [--resume] [--force] [--save-every N]</c>: trains the Fashion-MNIST classifier whose features
/// define FCD and whose predictions define conditional accuracy (the full 60k set when found, else the embedded part), with
/// AdamW and a cosine schedule, through the training loop (run checkpoint DIR/run.safetensors, default runs/classifier), then
/// reports test accuracy per class and writes the classifier (default <c>checkpoints/fmnist-classifier.safetensors</c>).
/// </summary>
public static class TrainClassifierCommand
{
    public static int Run(Args args, string commandLine)
    {
        bool resume = args.Flag("resume"), force = args.Flag("force");
        FamilyTraining.RefuseChangedOptions(args, resume, "epochs", "batch", "lr", "width", "hidden", "dropout", "seed");
        int epochs = args.Int("epochs", 12, 1, 1000);
        int batch = args.Int("batch", 128, 1, 4096);
        float lr = args.Float("lr", 2e-3f);
        int width = args.Int("width", 32, 1, 512), hidden = args.Int("hidden", 128, 1, 4096);
        float dropout = args.Float("dropout", 0.3f);
        int saveEvery = args.Int("save-every", 1000, 0);
        string? dataDir = args.String("data");
        string outDir = args.String("out", Path.Combine("runs", "classifier"));
        string classifierPath = args.String("classifier", ClassifierCheckpoint.DefaultPath);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        TrainingLoop.PrepareFolder(outDir, FamilyTraining.CheckpointName, resume, force);
        RunInfo? info = null;
        var run = resume ? ClassifierRun.Resume(Path.Combine(outDir, FamilyTraining.CheckpointName), train, out info)
            : new ClassifierRun(new ClassifierRunConfig(epochs * Math.Max(1, train.Count / batch), width, hidden, dropout, lr, BatchSize: batch, Seed: seed), train);
        var c = run.Config;
        AnsiConsole.MarkupLine($"[bold]train classifier[/]: SmallConvNet(width {c.Width}, hidden {c.Hidden}) on {train.Count:N0} training and {test.Count:N0} test images from {Markup.Escape(train.Source)}");
        var result = FamilyTraining.Train(run, outDir, c.TotalSteps, commandLine, "classifier: cross-entropy", info?.TrainSeconds ?? 0, saveEvery);
        if (result is null) return TrainingLoop.InterruptedExitCode;

        var model = run.Model;
        model.Eval();
        double accuracy = model.Accuracy(test.Images, test.Labels);
        var table = new Table().AddColumns("class", "test accuracy");
        var perClass = PerClassAccuracy(model, test);
        for (int k = 0; k < perClass.Length; k++) table.AddRow(FashionMnist.ClassNames[k], perClass[k].ToString("P1"));
        AnsiConsole.Write(table);

        string? dir = Path.GetDirectoryName(Path.GetFullPath(classifierPath));
        if (dir != null) Directory.CreateDirectory(dir);
        ClassifierCheckpoint.Save(classifierPath, model, accuracy, commandLine);
        AnsiConsole.MarkupLine($"test accuracy [bold]{accuracy:P2}[/] after {c.TotalSteps} steps in {result.TotalSeconds:F0} s; wrote [link]{Markup.Escape(classifierPath)}[/]");
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
