using Engine;
using Engine.Autograd;
using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Flows;
using Models.Training;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train flow [--toy NAME | --data DIR] [--steps N] [--batch B] [--lr LR] [--hidden H] [--blocks K] [--test N] [--seed S] [--out DIR] [--resume] [--force] [--save-every N]</c>:
/// maximum-likelihood training of a normalizing flow. With <c>--toy</c> (moons, 8gaussians, checkerboard,
/// swissroll) a 2D RealNVP; it writes the model density beside the data histogram, samples and the loss curve,
/// and prints the held-out NLL. Otherwise the multi-scale RealNVP/Glow flow on Fashion-MNIST (embedded, or the
/// IDX files in DIR); it prints test bits/dim and writes sample grids.
/// </summary>
public static class TrainFlowCommand
{
    public static int Run(Args args, string commandLine)
    {
        string? toy = args.String("toy");
        string? dataDir = args.String("data");
        if (toy is not null && dataDir is not null) throw new UsageException("give --toy or --data, not both");
        return toy is not null ? Toy(args, toy, commandLine) : Images(args, dataDir, commandLine);
    }

    /// <summary>A new run from the options, or the saved one with --resume (whose settings are kept).</summary>
    static (FlowRun Run, double Previous) Open(Args args, bool resume, bool force, FlowRunConfig config, ImageDataset? data, string outDir)
    {
        FamilyTraining.RefuseChangedOptions(args, resume, "steps", "batch", "lr", "hidden", "blocks", "seed");
        TrainingLoop.PrepareFolder(outDir, FamilyTraining.CheckpointName, resume, force);
        if (!resume) return (new FlowRun(config, data), 0);
        var run = FlowRun.Resume(Path.Combine(outDir, FamilyTraining.CheckpointName), data, out var info);
        if (run.Config.Toy != config.Toy) throw new UsageException($"--resume: the saved run trained on '{run.Config.Toy ?? "images"}', not '{config.Toy ?? "images"}'");
        return (run, info.TrainSeconds);
    }

    static int Toy(Args args, string toy, string commandLine)
    {
        int steps = args.Int("steps", 3000, 1, 10_000_000), batch = args.Int("batch", 256, 1, 65536);
        float lr = args.Float("lr", 2e-3f);
        int hidden = args.Int("hidden", 64, 1, 4096), blocks = args.Int("blocks", 8, 1, 256);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        string outDir = args.String("out", Path.Combine("runs", "flow-" + toy));
        _ = Toy2D.Sample(toy, 1, new Generator(0));                                  // unknown names fail before training
        int saveEvery = args.Int("save-every", 1000, 0);
        bool resume = args.Flag("resume"), force = args.Flag("force");
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();
        var (run, previous) = Open(args, resume, force, new FlowRunConfig(toy, hidden, blocks, steps, lr, batch, seed), null, outDir);
        (seed, blocks) = (run.Config.Seed, run.Config.Blocks);

        var flow = run.Flow;
        AnsiConsole.MarkupLine($"[bold]train flow[/]: RealNVP ({blocks} blocks of ActNorm, LU linear, affine coupling; {flow.ParameterCount():N0} parameters) on {toy}");
        var result = FamilyTraining.Train(run, outDir, run.Config.TotalSteps, commandLine, $"RealNVP on {toy}: NLL (nats) per step", previous, saveEvery);
        if (result is null) return TrainingLoop.InterruptedExitCode;

        flow.Eval();
        var test = Toy2D.Sample(toy, 10_000, new Generator(seed + 1_000_003));
        var view = FlowPictures.View.Of(test);
        double nll;
        const int n = 128;
        float[] density;
        Tensor samples;
        using (GradMode.NoGrad())
        {
            nll = -flow.LogProb(test).Mean().Item();
            density = flow.LogProb(FlowPictures.Grid(n, view)).Exp().ToArray();
            samples = flow.Sample(4000, new Generator(seed + 7));
        }
        var densityPath = Path.Combine(outDir, "density.png");
        FlowPictures.WriteRow(densityPath,
        [
            FlowPictures.HeatMap(FlowPictures.Histogram(test, n, view), n, view, $"{toy}: data histogram"),
            FlowPictures.HeatMap(density, n, view, $"RealNVP density, NLL {nll:F3} nats"),
        ]);
        var samplesPath = Path.Combine(outDir, "samples.png");
        FlowPictures.WriteRow(samplesPath, [FlowPictures.Scatter(Toy2D.Sample(toy, 4000, new Generator(seed + 9)), $"{toy}: data", view), FlowPictures.Scatter(samples, "RealNVP samples", view, color: "#c0392b")]);
        var lossPath = Path.Combine(outDir, "loss.png");
        var weights = Path.Combine(outDir, "flow.safetensors");
        SafeTensors.Save(weights, flow.StateDict(), new Dictionary<string, string> { ["model"] = "RealNvp2D", ["blocks"] = $"{blocks}", ["hidden"] = $"{run.Config.Hidden}", ["command"] = commandLine });

        AnsiConsole.MarkupLine($"held-out NLL on 10,000 {toy} points: [bold]{nll:F4} nats[/] ({nll / 2 / Math.Log(2):F4} bits/dim)");
        AnsiConsole.MarkupLine($"wrote {densityPath}, {samplesPath}, {lossPath}, {weights}");
        return 0;
    }

    static int Images(Args args, string? dataDir, string commandLine)
    {
        int steps = args.Int("steps", 1000, 1, 10_000_000), batch = args.Int("batch", 32, 1, 4096);
        float lr = args.Float("lr", 1e-3f);
        int hidden = args.Int("hidden", 32, 1, 1024), blocks = args.Int("blocks", 4, 1, 64);
        int testCount = args.Int("test", 1000, 1, 1_000_000);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        string outDir = args.String("out", Path.Combine("runs", "flow-fmnist"));
        int saveEvery = args.Int("save-every", 500, 0);
        bool resume = args.Flag("resume"), force = args.Flag("force");
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();
        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        var (run, previous) = Open(args, resume, force, new FlowRunConfig(null, hidden, blocks, steps, lr, batch, seed), train, outDir);
        testCount = Math.Min(testCount, test.Count);
        (seed, blocks, hidden) = (run.Config.Seed, run.Config.Blocks, run.Config.Hidden);
        var config = run.Config.ImageFlow;
        var flow = run.Flow;
        AnsiConsole.MarkupLine($"[bold]train flow[/]: multi-scale RealNVP/Glow ({flow.ParameterCount():N0} parameters, {blocks} steps per scale, width {hidden}) on {train.Count:N0} images from {Markup.Escape(train.Source)}");
        var result = FamilyTraining.Train(run, outDir, run.Config.TotalSteps, commandLine, "multi-scale flow on Fashion-MNIST: training bits/dim", previous, saveEvery);
        if (result is null) return TrainingLoop.InterruptedExitCode;

        flow.Eval();
        double bpd = flow.BitsPerDimension(test.Images.Narrow(0, 0, testCount), new Generator(seed + 11));
        var gridPath = Path.Combine(outDir, "samples.png");
        var t07 = flow.Sample(32, new Generator(seed + 5), 0.7f).Clamp(0f, 1f);
        var t10 = flow.Sample(32, new Generator(seed + 5), 1.0f).Clamp(0f, 1f);
        ImageGrid.Write(gridPath, Tensor.Cat([t07, t10], 0), columns: 16, padValue: 1f);
        var lossPath = Path.Combine(outDir, "loss.png");
        var weights = Path.Combine(outDir, "flow.safetensors");
        SafeTensors.Save(weights, flow.StateDict(), new Dictionary<string, string> { ["model"] = "MultiScaleFlow", ["config"] = config.ToString(), ["command"] = commandLine });
        AnsiConsole.MarkupLine($"test bits/dim on {testCount:N0} images (uniform dequantisation, exact likelihood): [bold]{bpd:F4}[/]");
        AnsiConsole.MarkupLine($"wrote {gridPath} (top two rows temperature 0.7, bottom two 1.0), {lossPath}, {weights}");
        return 0;
    }
}
