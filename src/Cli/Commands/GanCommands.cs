using System.Globalization;
using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Classifier;
using Models.Evaluation;
using Models.Gan;
using Models.Training;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train gan</c>, <c>engine sample gan</c> and <c>engine eval gan</c>: the class-conditional DCGAN with a
/// spectrally normalised projection discriminator, its sample grids, FCD and conditional accuracy.
/// </summary>
public static class GanCommands
{
    /// <summary>
    /// <c>engine train gan [--steps N] [--batch B] [--lr LR] [--latent Z] [--width W] [--unconditional] [--sample-every N]
    /// [--eval-samples N] [--classifier F] [--data DIR] [--seed S] [--out DIR] [--resume] [--force] [--save-every N]</c>: the run
    /// checkpoint is DIR/run.safetensors, the generator for sampling DIR/generator.safetensors.
    /// </summary>
    public static int Train(Args args, string commandLine)
    {
        bool resume = args.Flag("resume"), force = args.Flag("force");
        FamilyTraining.RefuseChangedOptions(args, resume, "batch", "lr", "latent", "width", "unconditional", "seed");
        int steps = args.Int("steps", 3000, 1, 10_000_000), batch = args.Int("batch", 64, 2, 4096);
        float lr = args.Float("lr", 2e-4f);
        var model = new GanConfig(args.Int("latent", 64, 1, 1024), args.Int("width", 32, 1, 1024), args.Flag("unconditional") ? 0 : 10);
        int sampleEvery = args.Int("sample-every", 250, 0, 10_000_000), evalSamples = args.Int("eval-samples", 2000, 0, 1_000_000);
        int saveEvery = args.Int("save-every", 1000, 0);
        string classifierPath = args.String("classifier", ClassifierCheckpoint.DefaultPath);
        string? dataDir = args.String("data");
        string outDir = args.String("out", Path.Combine("runs", "gan"));
        ulong seed = (ulong)args.Int("seed", 0, 0);
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        TrainingLoop.PrepareFolder(outDir, FamilyTraining.CheckpointName, resume, force);
        RunInfo? info = null;
        var run = resume ? GanRun.Resume(Path.Combine(outDir, FamilyTraining.CheckpointName), train, out info) : new GanRun(new GanRunConfig(model, lr, batch, seed), train);
        var config = run.Config.Model;
        var trainer = run.Trainer;
        AnsiConsole.MarkupLine($"[bold]train gan[/]: {Markup.Escape(config.ToString())}, generator {trainer.G.ParameterCount():N0} and discriminator {trainer.D.ParameterCount():N0} parameters, on {train.Count:N0} images from {Markup.Escape(train.Source)}");
        var result = FamilyTraining.Train(run, outDir, steps, commandLine, "GAN: discriminator loss", info?.TrainSeconds ?? 0, saveEvery, sampleEvery);
        if (result is null) return TrainingLoop.InterruptedExitCode;

        string ckpt = Path.Combine(outDir, "generator.safetensors");
        GanTrainer.SaveGenerator(ckpt, trainer.G, new Dictionary<string, string>
        {
            ["command"] = commandLine, ["steps"] = result.Step.ToString(CultureInfo.InvariantCulture), ["batch"] = run.Config.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["train_seconds"] = result.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture), ["train_source"] = train.Source,
        });
        var pictures = run.WritePictures(outDir, final: true);
        string dCurve = Path.Combine(outDir, "d_loss.png"), gCurve = Path.Combine(outDir, "g_loss.png");
        LossPlot.Save(dCurve, result.History.Select(r => r.Loss).ToList(), "GAN: discriminator loss");
        LossPlot.Save(gCurve, result.History.Select(r => r.Parts.Length > 0 ? r.Parts[0] : float.NaN).ToList(), "GAN: generator loss (non-saturating)");
        FamilyTraining.Wrote([ckpt, .. pictures, dCurve, gCurve]);

        if (evalSamples > 0)
        {
            if (File.Exists(classifierPath)) Quality(trainer.G, classifierPath, dataDir, evalSamples, run.Config.Seed + 3);
            else AnsiConsole.MarkupLine($"[yellow]no classifier at {Markup.Escape(classifierPath)}: FCD and conditional accuracy skipped (`engine eval gan` measures them later)[/]");
        }
        return 0;
    }

    /// <summary><c>engine sample gan --checkpoint F [--per-class N] [--batch-stats] [--seed S] [--out grid.png]</c>: one row per class.</summary>
    public static int Sample(Args args)
    {
        string ckpt = args.Required("checkpoint");
        int perClass = args.Int("per-class", 10, 1, 1000);
        bool batchStats = args.Flag("batch-stats");
        ulong seed = (ulong)args.Int("seed", 1, 0);
        string outPath = args.String("out", Path.Combine("runs", "gan", "samples.png"));
        args.RejectUnknown();
        var (generator, _) = GanTrainer.LoadGenerator(ckpt);
        var labels = FamilyTraining.ClassRows(generator.Config.Classes, perClass);
        ImageGrid.Write(outPath, GanTrainer.Sample(generator, labels, labels.Length, new Generator(seed), batchStats), columns: perClass);
        FamilyTraining.Wrote(outPath);
        return 0;
    }

    /// <summary><c>engine eval gan --checkpoint F [--seed S]</c> (with eval's <c>--samples N --classifier F</c>): FCD, conditional accuracy, sampling cost.</summary>
    public static IReadOnlyList<EvalCommand.Metric> Eval(Args args, EvalCommand.EvalContext c)
    {
        string ckpt = args.Required("checkpoint");
        ulong seed = (ulong)args.Int("seed", 3, 0);
        args.RejectUnknown();
        var (generator, meta) = GanTrainer.LoadGenerator(ckpt);
        var q = GanEvaluation.Measure(generator, c.Metrics, c.TestStatistics, c.Samples, new Generator(seed));
        return
        [
            new("fcd", q.Fcd, $"{q.Samples} samples (classes cycling) vs {c.TestStatistics.Count} test images"),
            new("conditional_accuracy", q.ConditionalAccuracy, "fraction classified as the class asked for"),
            new("sampling_seconds_per_1000", q.Cost.SecondsPer1000Images, "one generator pass per image"),
            new("network_evaluations_per_image", q.Cost.NetworkEvaluationsPerImage, ""),
            new("train_seconds", double.Parse(meta.GetValueOrDefault("train_seconds", "NaN"), CultureInfo.InvariantCulture), meta.GetValueOrDefault("command", "")),
        ];
    }

    static void Quality(DcganGenerator generator, string classifierPath, string? dataDir, int samples, ulong seed)
    {
        var metrics = new ClassifierMetrics(ClassifierCheckpoint.Load(classifierPath));
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        var reference = metrics.Statistics(test.Images);
        var q = GanEvaluation.Measure(generator, metrics, reference, samples, new Generator(seed));
        AnsiConsole.MarkupLine($"gan: FCD [bold]{q.Fcd:F2}[/] ({q.Samples:N0} samples against {test.Count:N0} test images), conditional accuracy [bold]{q.ConditionalAccuracy:P1}[/], " +
            $"{q.Cost.SecondsPer1000Images:F2} s per 1000 images, {q.Cost.NetworkEvaluationsPerImage} network evaluation per image");
    }
}
