using System.Diagnostics;
using Engine;
using Engine.Autograd;
using Engine.Data;
using Engine.IO;
using Engine.Nn;
using Engine.Random;
using Models.Diffusion;
using Models.FlowMatching;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train cfm|rectified [--toy NAME | --data DIR] [--steps N] [--batch B] [--lr LR] [--hidden H | --width CH]
/// [--reflow-steps N] [--pairs N] [--guidance S] [--test N] [--seed S] [--out DIR]</c>.
/// <c>cfm</c> trains a vector field by conditional flow matching on the straight path; <c>rectified</c> then
/// draws (noise, sample) pairs from it and trains the 2-rectified flow on them (reflow), and compares the two.
/// With <c>--toy</c> the field is an MLP on 2D points: densities by the CNF (exact divergence), trajectories,
/// samples at 1/2/4/8 Euler steps with their sliced Wasserstein distance to the data, straightness, held-out NLL.
/// Otherwise the W1 UNet-S (class-conditional, classifier-free guidance) on Fashion-MNIST: sample grids at
/// 1/2/4/8 Euler steps and adaptive, straightness, and test bits/dim through the ODE (Hutchinson's estimator).
/// </summary>
public static class TrainFlowMatchingCommand
{
    public static int RunCfm(Args args, string commandLine) => Run(args, commandLine, rectified: false);
    public static int RunRectified(Args args, string commandLine) => Run(args, commandLine, rectified: true);

    static readonly int[] FewSteps = [1, 2, 4, 8];

    static int Run(Args args, string commandLine, bool rectified)
    {
        string? toy = args.String("toy");
        string? dataDir = args.String("data");
        if (toy is not null && dataDir is not null) throw new UsageException("give --toy or --data, not both");
        return toy is not null ? Toy(args, toy, commandLine, rectified) : Images(args, dataDir, commandLine, rectified);
    }

    /// <summary>Trains on fixed pairs (x₀, x₁) drawn in batches: the reflow phase.</summary>
    static List<float> TrainOnPairs(FlowMatchingTrainer trainer, Tensor x0, Tensor x1, int[]? labels, int steps, int batch, ulong seed, string label)
    {
        int b = x0.Shape[0];
        var joined = Tensor.Cat([x0.Reshape(b, 1, -1), x1.Reshape(b, 1, -1)], 1);     // (N, 2, D)
        var loader = new DataLoader(joined, labels, batch, shuffle: true, dropLast: true, seed: seed);
        var batches = Endless(loader, "--pairs");
        int[] sample = x0.Shape[1..];
        return FlowProgress.Run(label, steps, batch, _ =>
        {
            batches.MoveNext();
            var (pair, y) = batches.Current;
            int n = pair.Shape[0];
            var p0 = pair.Narrow(1, 0, 1).Contiguous().Reshape([n, .. sample]);
            var p1 = pair.Narrow(1, 1, 1).Contiguous().Reshape([n, .. sample]);
            return trainer.Step(p1, labels is null ? null : y, p0);
        });
    }

    // ------------------------------------------------------------------ 2D toys

    static int Toy(Args args, string toy, string commandLine, bool rectified)
    {
        int steps = args.Int("steps", 3000, 1, 10_000_000), batch = args.Int("batch", 256, 1, 65536);
        int reflowSteps = args.Int("reflow-steps", steps, 1, 10_000_000), pairCount = args.Int("pairs", 20_000, 1, 10_000_000);
        float lr = args.Float("lr", 2e-3f);
        int hidden = args.Int("hidden", 128, 1, 4096);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        string outDir = args.String("out", Path.Combine("runs", (rectified ? "rectified-" : "cfm-") + toy));
        args.RejectUnknown();
        if (rectified) RequireBatch(pairCount, batch, "--pairs");
        _ = Toy2D.Sample(toy, 1, new Generator(0));

        var g = new Generator(seed);
        var field = new MlpVelocityField(2, hidden, g);
        AnsiConsole.MarkupLine($"[bold]train {(rectified ? "rectified" : "cfm")}[/]: MLP vector field ({field.ParameterCount():N0} parameters) on {toy}, straight path x_t = (1 − t)·x₀ + t·x₁");
        var trainer = new FlowMatchingTrainer(field, lr, steps, seed + 1);
        var losses = FlowProgress.Run("flow matching", steps, batch, _ => trainer.Step(Toy2D.Sample(toy, batch, g)));
        var models = new List<(string Name, MlpVelocityField Field)> { (rectified ? "1-rectified" : "CFM", field) };
        var reference = new OdeOptions(OdeMethod.DormandPrince, RelativeTolerance: 1e-5, AbsoluteTolerance: 1e-5);

        if (rectified)
        {
            var clock = Stopwatch.StartNew();
            var (x0, x1, _) = Reflow.Pairs(field, pairCount, [2], reference, new Generator(seed + 2));
            AnsiConsole.MarkupLine($"reflow: {pairCount:N0} pairs (noise, sample) from the 1-rectified flow by Dormand–Prince (rtol 1e-5) in {clock.Elapsed.TotalSeconds:F1} s");
            var second = new MlpVelocityField(2, hidden, new Generator(seed + 3));
            second.LoadStateDict(field.StateDict());                                 // reflow starts from the first flow
            var trainer2 = new FlowMatchingTrainer(second, lr, reflowSteps, seed + 4);
            losses.AddRange(TrainOnPairs(trainer2, x0, x1, null, reflowSteps, batch, seed + 5, "reflow"));
            models.Add(("2-rectified", second));
        }

        var test = Toy2D.Sample(toy, 4000, new Generator(seed + 1_000_003));
        var noise = Tensor.Randn([4000, 2], new Generator(seed + 17));
        var nllTest = Toy2D.Sample(toy, 2000, new Generator(seed + 1_000_033));
        var view = FlowPictures.View.Of(test);
        var pathView = FlowPictures.View.Of(Tensor.Cat([noise.Narrow(0, 0, 300), test], 0));     // trajectories start in the noise
        var table = new Table().AddColumns(["model", "straightness", "NLL (nats, CNF)", .. FewSteps.Select(s => $"SW₁ {s} Euler"), "SW₁ adaptive (NFE)"]);
        var fewStepPanels = new List<Engine.IO.PngImage>();
        var trajectoryPanels = new List<Engine.IO.PngImage>();
        var densityPanels = new List<Engine.IO.PngImage>();
        const int n = 96;
        densityPanels.Add(FlowPictures.HeatMap(FlowPictures.Histogram(test, n, view), n, view, $"{toy}: data histogram"));
        foreach (var (name, f) in models)
        {
            f.Eval();
            double straight = ConditionalFlowMatching.Straightness(f, noise.Narrow(0, 0, 2000), 100);
            double nll = -ContinuousFlow.LogProb(f, nllTest, reference, Divergence.Exact).Mean().Item();
            var row = new List<string> { name, straight.ToString("F4"), nll.ToString("F3") };
            foreach (var s in FewSteps)
            {
                var x = ConditionalFlowMatching.Sample(f, noise, new OdeOptions(OdeMethod.Euler, s)).X;
                row.Add(SlicedWasserstein.Distance(x, test, 200, new Generator(9)).ToString("F4"));
                fewStepPanels.Add(FlowPictures.Scatter(x, $"{name}, {s} Euler step{(s > 1 ? "s" : "")}", view, 300));
            }
            var adaptive = ConditionalFlowMatching.Sample(f, noise, reference);
            row.Add($"{SlicedWasserstein.Distance(adaptive.X, test, 200, new Generator(9)):F4} ({adaptive.Evaluations})");
            fewStepPanels.Add(FlowPictures.Scatter(adaptive.X, $"{name}, adaptive ({adaptive.Evaluations} NFE)", view, 300));
            table.AddRow([.. row]);

            var states = new List<Tensor> { noise };
            ConditionalFlowMatching.Sample(f, noise, new OdeOptions(OdeMethod.Euler, 32), onStep: (_, x) => states.Add(x));
            trajectoryPanels.Add(FlowPictures.Trajectories(states, $"{name} trajectories (straightness {straight:F3})", pathView));
            var density = ContinuousFlow.LogProb(f, FlowPictures.Grid(n, view), new OdeOptions(OdeMethod.Rk4, 24), Divergence.Exact).Exp().ToArray();
            densityPanels.Add(FlowPictures.HeatMap(density, n, view, $"{name} density (CNF), NLL {nll:F3}"));
        }
        table.AddRow([.. new[] { "data (independent draw)", "", "" }.Concat(FewSteps.Select(_ => "")).Append(SlicedWasserstein.Distance(Toy2D.Sample(toy, 4000, new Generator(seed + 99)), test, 200, new Generator(9)).ToString("F4"))]);
        AnsiConsole.Write(table);

        string densityPath = FlowProgress.OutPath(outDir, "density.png"), trajPath = FlowProgress.OutPath(outDir, "trajectories.png");
        string fewPath = FlowProgress.OutPath(outDir, "few-steps.png"), lossPath = FlowProgress.OutPath(outDir, "loss.png");
        FlowPictures.WriteRow(densityPath, densityPanels);
        FlowPictures.WriteRow(trajPath, trajectoryPanels);
        int perRow = FewSteps.Length + 1;
        var rows = Enumerable.Range(0, models.Count).Select(r => (IReadOnlyList<Engine.IO.PngImage>)fewStepPanels.Skip(r * perRow).Take(perRow).ToList()).ToList();
        FlowPictures.Write(fewPath, rows);
        LossPlot.Save(lossPath, losses, rectified ? "flow matching, then reflow on fixed pairs: loss per step" : "conditional flow matching: loss per step");
        foreach (var (name, f) in models)
            SafeTensors.Save(FlowProgress.OutPath(outDir, $"{name.ToLowerInvariant()}.safetensors"), f.StateDict(),
                new Dictionary<string, string> { ["model"] = "MlpVelocityField", ["hidden"] = $"{hidden}", ["command"] = commandLine });
        AnsiConsole.MarkupLine("SW₁: sliced Wasserstein-1 distance of 4,000 samples to 4,000 held-out data points (200 directions); straightness: ∫E‖(X₁−X₀) − v(X_t, t)‖² dt over 100 Euler steps; NLL by the CNF with exact divergence and Dormand–Prince (rtol 1e-5) on 2,000 held-out points");
        AnsiConsole.MarkupLine($"wrote {densityPath}, {trajPath}, {fewPath}, {lossPath} and the weights in {outDir}");
        return 0;
    }

    // ------------------------------------------------------------------ Fashion-MNIST

    static int Images(Args args, string? dataDir, string commandLine, bool rectified)
    {
        int steps = args.Int("steps", 2000, 1, 10_000_000), batch = args.Int("batch", 32, 1, 4096);
        int reflowSteps = args.Int("reflow-steps", steps, 1, 10_000_000), pairCount = args.Int("pairs", 2000, 1, 1_000_000);
        float lr = args.Float("lr", 5e-4f), guidance = args.Float("guidance", 2f);
        int width = args.Int("width", 16, 8, 256), testCount = args.Int("test", 20, 0, 100_000);
        int pairSteps = args.Int("pair-steps", 8, 1, 1000), blocks = args.Int("blocks", 2, 1, 8);
        float ema = args.Float("ema", 0.999f);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        string outDir = args.String("out", Path.Combine("runs", rectified ? "rectified-fmnist" : "cfm-fmnist"));
        args.RejectUnknown();
        if (width % 8 != 0) throw new UsageException($"--width {width} must be a multiple of 8 (GroupNorm with 8 groups)");
        if (rectified) RequireBatch(pairCount, batch, "--pairs");                 // before training, not after it

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        var g = new Generator(seed);
        var config = new UNetConfig(BaseChannels: width, ResBlocks: blocks);
        var net = new UNet(config, g);
        var field = new UNetVelocityField(net);
        AnsiConsole.MarkupLine($"[bold]train {(rectified ? "rectified" : "cfm")}[/]: UNet-S (width {width}, {net.ParameterCount():N0} parameters) as a class-conditional vector field on {train.Count:N0} images from {Markup.Escape(train.Source)}; labels dropped with p = 0.1 for guidance");
        var trainer = new FlowMatchingTrainer(field, lr, steps, seed + 1, labelDrop: 0.1f, emaOf: net, emaDecay: ema);
        var loader = new DataLoader(train, batch, shuffle: true, dropLast: true, seed: seed);
        var batches = Endless(loader, "training images");
        var clock = Stopwatch.StartNew();
        var losses = FlowProgress.Run("flow matching", steps, batch, _ =>
        {
            batches.MoveNext();
            var (x, y) = batches.Current;
            return trainer.Step(Dequantization(x, g), y);
        });
        var first = Averaged(trainer, config);
        var models = new List<(string Name, UNetVelocityField Field, double Seconds)> { (rectified ? "1-rectified" : "CFM", first, clock.Elapsed.TotalSeconds) };

        if (rectified)
        {
            clock.Restart();
            var (x0, x1, labels) = Reflow.Pairs(first, pairCount, [1, 28, 28], new OdeOptions(OdeMethod.Rk4, pairSteps), new Generator(seed + 2), batch: 100, classes: 10);
            AnsiConsole.MarkupLine($"reflow: {pairCount:N0} class-conditional pairs from the 1-rectified flow (EMA weights, RK4, {pairSteps} steps) in {clock.Elapsed.TotalSeconds:F0} s");
            var second = new UNet(config, new Generator(seed + 3));
            second.LoadStateDict(first.Net.StateDict());                                                // reflow starts from the first flow
            var trainer2 = new FlowMatchingTrainer(new UNetVelocityField(second), lr, reflowSteps, seed + 4, labelDrop: 0.1f, emaOf: second, emaDecay: ema);
            losses.AddRange(TrainOnPairs(trainer2, x0, x1, labels, reflowSteps, batch, seed + 5, "reflow"));
            models.Add(("2-rectified", Averaged(trainer2, config), clock.Elapsed.TotalSeconds));
        }

        var perClass = Enumerable.Range(0, 10).SelectMany(c => Enumerable.Repeat(c, 8)).ToArray();           // one row of 8 per class
        var noise = Tensor.Randn([perClass.Length, 1, 28, 28], new Generator(seed + 17));
        var adaptive = new OdeOptions(OdeMethod.DormandPrince, RelativeTolerance: 1e-3, AbsoluteTolerance: 1e-3);
        var table = new Table().AddColumns("model", "straightness (guided)", $"test bits/dim ({testCount} images)", "adaptive NFE");
        var written = new List<string>();
        foreach (var (name, f, seconds) in models)
        {
            f.Net.Eval();
            string tag = name.ToLowerInvariant();
            var grids = new List<Tensor>();
            foreach (var s in FewSteps)
                grids.Add(ConditionalFlowMatching.Sample(f, noise, new OdeOptions(OdeMethod.Euler, s), perClass, guidance).X);
            var final = ConditionalFlowMatching.Sample(f, noise, adaptive, perClass, guidance);
            grids.Add(final.X);
            // Columns: 1, 2, 4, 8 Euler steps, adaptive — 8 samples each, one row per class.
            var tiles = new List<Tensor>();
            for (int c = 0; c < 10; c++)
                foreach (var gr in grids) tiles.Add(gr.Narrow(0, c * 8, 8));
            var path = FlowProgress.OutPath(outDir, $"samples-{tag}.png");
            ImageGrid.Write(path, Tensor.Cat([.. tiles], 0) , columns: 8 * grids.Count, signedRange: true, padValue: 1f);
            written.Add(path);
            double straight = ConditionalFlowMatching.Straightness(f, noise.Narrow(0, 0, 40), 20, perClass[..40], guidance);
            string bpd = "—";
            if (testCount > 0)
            {
                var bpdClock = Stopwatch.StartNew();
                bpd = ContinuousFlow.BitsPerDimension(f, test.Images.Narrow(0, 0, Math.Min(testCount, test.Count)), adaptive, new Generator(seed + 23), batch: 10).ToString("F3");
                AnsiConsole.MarkupLine($"{name}: bits/dim through the ODE in {bpdClock.Elapsed.TotalSeconds:F0} s");
            }
            table.AddRow(name, straight.ToString("F2"), bpd, final.Evaluations.ToString());
            FlowCheckpoint.Save(FlowProgress.OutPath(outDir, $"{tag}.safetensors"), f, name, commandLine, seconds);
        }
        AnsiConsole.Write(table);
        var lossPath = FlowProgress.OutPath(outDir, "loss.png");
        LossPlot.Save(lossPath, losses, rectified ? "flow matching, then reflow: loss per step" : "conditional flow matching on Fashion-MNIST: loss per step");
        AnsiConsole.MarkupLine($"guidance {guidance}; bits/dim: unconditional, Hutchinson divergence, Dormand–Prince rtol 1e-3, uniform dequantisation, data in [[−1, 1]]");
        AnsiConsole.MarkupLine($"wrote {string.Join(", ", written)} (rows: classes {string.Join(", ", FashionMnist.ClassNames)}; column blocks: 1, 2, 4, 8 Euler steps, adaptive), {lossPath}");
        return 0;
    }

    /// <summary>The loader's batches, epoch after epoch; one with no full batch is a usage error, not an endless loop.</summary>
    static IEnumerator<(Tensor X, int[] Y)> Endless(DataLoader loader, string what)
    {
        RequireBatch(loader.Count, loader.BatchSize, what);
        return Enumerable.Range(0, int.MaxValue).SelectMany(loader.Batches).GetEnumerator();
    }

    static void RequireBatch(int count, int batch, string what)
    {
        if (count < batch) throw new UsageException($"{what}: {count} is fewer than one batch of {batch}");
    }

    /// <summary>A fresh UNet carrying the trainer's averaged weights, as a vector field.</summary>
    static UNetVelocityField Averaged(FlowMatchingTrainer trainer, UNetConfig config)
    {
        var net = new UNet(config, new Generator(0));
        trainer.Ema!.CopyTo(net);
        return new UNetVelocityField(net);
    }

    /// <summary>Uniformly dequantised images scaled to [−1, 1], the data the image fields are trained on.</summary>
    static Tensor Dequantization(Tensor images, Generator g) => Models.Flows.Dequantization.Uniform(images, g) * 2f - 1f;
}
