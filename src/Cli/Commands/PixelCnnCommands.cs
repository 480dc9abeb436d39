using System.Diagnostics;
using System.Globalization;
using Engine.Autograd;
using Engine.Data;
using Engine.IO;
using Engine.Optim;
using Engine.Random;
using Models.PixelCnn;
using Models.Training;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train pixelcnn</c>, <c>engine sample pixelcnn</c> and <c>engine eval pixelcnn</c>: the gated PixelCNN on
/// Fashion-MNIST, its exact test bits/dim and raster-order samples (one row per class).
/// </summary>
public static class PixelCnnCommands
{
    /// <summary><c>engine train pixelcnn [--data DIR] [--steps N] [--batch B] [--lr LR] [--channels C] [--layers L] [--kernel K] [--unconditional] [--test-images N] [--seed S] [--out DIR] [--resume] [--force] [--save-every N]</c>;
    /// the run checkpoint is DIR/run.safetensors, the model for sampling and evaluation DIR/pixelcnn.safetensors.</summary>
    public static int Train(Args args, string commandLine)
    {
        bool resume = args.Flag("resume"), force = args.Flag("force");
        FamilyTraining.RefuseChangedOptions(args, resume, "steps", "batch", "lr", "channels", "layers", "kernel", "unconditional", "head", "seed");
        int steps = args.Int("steps", 1500, 1, 10_000_000), batch = args.Int("batch", 32, 1, 4096);
        float lr = args.Float("lr", 2e-3f);
        var model = new PixelCnnConfig(args.Int("channels", 32, 1, 1024), args.Int("layers", 6, 1, 64), args.Int("kernel", 3, 3, 15),
            args.Flag("unconditional") ? 0 : 10, args.Int("head", 64, 1, 4096));
        int testImages = args.Int("test-images", 1000, 1, 1_000_000);
        int saveEvery = args.Int("save-every", 500, 0);
        string? dataDir = args.String("data");
        string outDir = args.String("out", Path.Combine("runs", "pixelcnn"));
        ulong seed = (ulong)args.Int("seed", 0, 0);
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        TrainingLoop.PrepareFolder(outDir, FamilyTraining.CheckpointName, resume, force);
        RunInfo? info = null;
        var run = resume ? PixelCnnRun.Resume(Path.Combine(outDir, FamilyTraining.CheckpointName), train, out info)
            : new PixelCnnRun(new PixelCnnRunConfig(model, steps, lr, batch, seed), train);
        var config = run.Config.Model;
        var net = run.Model;
        AnsiConsole.MarkupLine($"[bold]train pixelcnn[/]: {Markup.Escape(config.ToString())}, {net.ParameterCount():N0} parameters, on {train.Count:N0} images from {Markup.Escape(train.Source)}");
        var result = FamilyTraining.Train(run, outDir, run.Config.TotalSteps, commandLine, "Gated PixelCNN: training NLL (bits/dim)", info?.TrainSeconds ?? 0, saveEvery);
        if (result is null) return TrainingLoop.InterruptedExitCode;

        int n = Math.Min(testImages, test.Count);
        var evalClock = Stopwatch.StartNew();
        double testBpd = net.BitsPerDim(test, limit: n);
        AnsiConsole.MarkupLine($"exact test NLL: [bold]{testBpd:F4} bits/dim[/] on {n:N0} test images ({evalClock.Elapsed.TotalSeconds:F1} s, one parallel pass per batch); training took {result.TotalSeconds:F0} s");

        string ckpt = Path.Combine(outDir, "pixelcnn.safetensors");
        net.Save(ckpt, new Dictionary<string, string>
        {
            ["command"] = commandLine, ["steps"] = result.Step.ToString(CultureInfo.InvariantCulture), ["batch"] = run.Config.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["train_seconds"] = result.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture), ["train_source"] = train.Source,
            ["test_bits_per_dim"] = testBpd.ToString("F4", CultureInfo.InvariantCulture), ["test_images"] = n.ToString(CultureInfo.InvariantCulture),
        });
        string samples = Path.Combine(outDir, "samples.png"), curve = Path.Combine(outDir, "loss.png");
        WriteSamples(net, samples, 10, run.Config.Seed + 1, 1f, naive: false);
        FamilyTraining.Wrote(ckpt, samples, curve);
        return 0;
    }

    /// <summary><c>engine sample pixelcnn --checkpoint F [--per-class N] [--temperature T] [--naive] [--seed S] [--out grid.png]</c>.</summary>
    public static int Sample(Args args)
    {
        string ckpt = args.Required("checkpoint");
        int perClass = args.Int("per-class", 10, 1, 1000);
        float temperature = args.Float("temperature", 1f);
        bool naive = args.Flag("naive");
        ulong seed = (ulong)args.Int("seed", 1, 0);
        string outPath = args.String("out", Path.Combine("runs", "pixelcnn", "samples.png"));
        args.RejectUnknown();
        var (model, _) = GatedPixelCnn.Load(ckpt);
        WriteSamples(model, outPath, perClass, seed, temperature, naive);
        FamilyTraining.Wrote(outPath);
        return 0;
    }

    /// <summary>
    /// <c>engine eval pixelcnn --checkpoint F [--images N] [--cost-images N]</c>: exact test bits/dim (all test images by
    /// default) and the cost of raster-order sampling, timed on a batch of <c>--cost-images</c> (classes cycling).
    /// </summary>
    public static IReadOnlyList<EvalCommand.Metric> Eval(Args args, EvalCommand.EvalContext c)
    {
        string ckpt = args.Required("checkpoint");
        int images = args.Int("images", 10_000, 1, 1_000_000), costImages = args.Int("cost-images", 20, 1, 10_000);
        args.RejectUnknown();
        var (model, meta) = GatedPixelCnn.Load(ckpt);
        int n = Math.Min(images, c.Test.Count);
        double bpd = model.BitsPerDim(c.Test, limit: n);
        int classes = Math.Max(1, model.Config.Classes);
        var labels = Enumerable.Range(0, costImages).Select(i => i % classes).ToArray();
        var clock = Stopwatch.StartNew();
        new PixelCnnSampler(model).Sample(model.Config.Classes > 0 ? labels : null, 28, 28, new Generator(1), count: costImages);
        var cost = Models.Evaluation.SamplingCost.Measure(costImages, clock.Elapsed.TotalSeconds, 28 * 28);
        return
        [
            new("bits_per_dim", bpd, $"exact NLL, {n} test images"),
            new("sampling_seconds_per_1000", cost.SecondsPer1000Images, $"cached raster sampler, timed on {costImages} images"),
            new("network_evaluations_per_image", cost.NetworkEvaluationsPerImage, "sequential pixel steps (H·W)"),
            new("train_seconds", double.Parse(meta.GetValueOrDefault("train_seconds", "NaN"), CultureInfo.InvariantCulture), meta.GetValueOrDefault("command", "")),
        ];
    }

    static void WriteSamples(GatedPixelCnn model, string path, int perClass, ulong seed, float temperature, bool naive)
    {
        int classes = model.Config.Classes;
        var labels = FamilyTraining.ClassRows(classes, perClass);
        var sampler = new PixelCnnSampler(model);
        var clock = Stopwatch.StartNew();
        var images = naive
            ? sampler.SampleNaive(classes > 0 ? labels : null, 28, 28, new Generator(seed), temperature, labels.Length)
            : sampler.Sample(classes > 0 ? labels : null, 28, 28, new Generator(seed), temperature, labels.Length);
        double seconds = clock.Elapsed.TotalSeconds;
        ImageGrid.Write(path, images, columns: perClass);
        AnsiConsole.MarkupLine($"sampled {labels.Length} images ({(naive ? "naive: full network per pixel" : "cached rows")}) in {seconds:F1} s: [bold]{labels.Length / seconds:F2} images/s[/]");
    }
}
