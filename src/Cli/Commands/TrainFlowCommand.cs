using Engine;
using Engine.Autograd;
using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Flows;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train flow [--toy NAME | --data DIR] [--steps N] [--batch B] [--lr LR] [--hidden H] [--blocks K] [--test N] [--seed S] [--out DIR]</c>:
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

    static int Toy(Args args, string toy, string commandLine)
    {
        int steps = args.Int("steps", 3000, 1, 10_000_000), batch = args.Int("batch", 256, 1, 65536);
        float lr = args.Float("lr", 2e-3f);
        int hidden = args.Int("hidden", 64, 1, 4096), blocks = args.Int("blocks", 8, 1, 256);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        string outDir = args.String("out", Path.Combine("runs", "flow-" + toy));
        args.RejectUnknown();
        _ = Toy2D.Sample(toy, 1, new Generator(0));                                  // unknown names fail before training

        var g = new Generator(seed);
        var flow = NormalizingFlow.RealNvp2D(g, blocks, hidden);
        AnsiConsole.MarkupLine($"[bold]train flow[/]: RealNVP ({blocks} blocks of ActNorm, LU linear, affine coupling; {flow.ParameterCount():N0} parameters) on {toy}");
        var trainer = new FlowTrainer(flow, lr, steps);
        var losses = FlowProgress.Run("RealNVP", steps, batch, _ => trainer.Step(Toy2D.Sample(toy, batch, g)), "NLL");

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
        var densityPath = FlowProgress.OutPath(outDir, "density.png");
        FlowPictures.WriteRow(densityPath,
        [
            FlowPictures.HeatMap(FlowPictures.Histogram(test, n, view), n, view, $"{toy}: data histogram"),
            FlowPictures.HeatMap(density, n, view, $"RealNVP density, NLL {nll:F3} nats"),
        ]);
        var samplesPath = FlowProgress.OutPath(outDir, "samples.png");
        FlowPictures.WriteRow(samplesPath, [FlowPictures.Scatter(Toy2D.Sample(toy, 4000, new Generator(seed + 9)), $"{toy}: data", view), FlowPictures.Scatter(samples, "RealNVP samples", view, color: "#c0392b")]);
        var lossPath = FlowProgress.OutPath(outDir, "loss.png");
        LossPlot.Save(lossPath, losses, $"RealNVP on {toy}: NLL (nats) per step");
        var weights = FlowProgress.OutPath(outDir, "flow.safetensors");
        SafeTensors.Save(weights, flow.StateDict(), new Dictionary<string, string> { ["model"] = "RealNvp2D", ["blocks"] = $"{blocks}", ["hidden"] = $"{hidden}", ["command"] = commandLine });

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
        args.RejectUnknown();

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        testCount = Math.Min(testCount, test.Count);
        var g = new Generator(seed);
        var config = new MultiScaleFlowConfig(1, 28, 28, hidden, CheckerboardCouplings: 2, StepsPerScale: blocks, Scales: 2);
        var flow = NormalizingFlow.Image(config, g);
        AnsiConsole.MarkupLine($"[bold]train flow[/]: multi-scale RealNVP/Glow ({flow.ParameterCount():N0} parameters, {blocks} steps per scale, width {hidden}) on {train.Count:N0} images from {Markup.Escape(train.Source)}");
        var trainer = new FlowTrainer(flow, lr, steps);
        var loader = new DataLoader(train, batch, shuffle: true, dropLast: true, seed: seed);
        var batches = Enumerable.Range(0, int.MaxValue).SelectMany(loader.Batches).GetEnumerator();
        var losses = FlowProgress.Run("flow", steps, batch, _ =>
        {
            batches.MoveNext();
            var y = Dequantization.Uniform(batches.Current.X, g);
            // NLL of the dequantised data in nats → bits/dim of the 8-bit data (range 1).
            return (float)Models.Evaluation.BitsPerDim.FromContinuousNll(trainer.Step(y), flow.Dims, 1.0);
        }, "bits/dim");

        flow.Eval();
        double bpd = flow.BitsPerDimension(test.Images.Narrow(0, 0, testCount), new Generator(seed + 11));
        var gridPath = FlowProgress.OutPath(outDir, "samples.png");
        var t07 = flow.Sample(32, new Generator(seed + 5), 0.7f).Clamp(0f, 1f);
        var t10 = flow.Sample(32, new Generator(seed + 5), 1.0f).Clamp(0f, 1f);
        ImageGrid.Write(gridPath, Tensor.Cat([t07, t10], 0), columns: 16, padValue: 1f);
        var lossPath = FlowProgress.OutPath(outDir, "loss.png");
        LossPlot.Save(lossPath, losses, "multi-scale flow on Fashion-MNIST: training bits/dim");
        var weights = FlowProgress.OutPath(outDir, "flow.safetensors");
        SafeTensors.Save(weights, flow.StateDict(), new Dictionary<string, string> { ["model"] = "MultiScaleFlow", ["config"] = config.ToString(), ["command"] = commandLine });
        AnsiConsole.MarkupLine($"test bits/dim on {testCount:N0} images (uniform dequantisation, exact likelihood): [bold]{bpd:F4}[/]");
        AnsiConsole.MarkupLine($"wrote {gridPath} (top two rows temperature 0.7, bottom two 1.0), {lossPath}, {weights}");
        return 0;
    }
}
