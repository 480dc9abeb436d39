using System.Diagnostics;
using Engine;
using Engine.Autograd;
using Engine.Data;
using Engine.IO;
using Engine.Nn;
using Engine.Random;
using Models.Diffusion;
using Models.FlowMatching;
using Models.Training;
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

    /// <summary>A new run from the options, or the saved one with --resume (whose settings are kept).</summary>
    static (FlowMatchingRun Run, double Previous) Open(Args args, bool resume, bool force, FlowMatchingRunConfig config, ImageDataset? data, string outDir)
    {
        FamilyTraining.RefuseChangedOptions(args, resume, "steps", "reflow-steps", "pairs", "pair-steps", "batch", "lr", "hidden", "width", "blocks", "ema", "seed");
        TrainingLoop.PrepareFolder(outDir, FamilyTraining.CheckpointName, resume, force);
        FlowMatchingRun run;
        double previous = 0;
        if (!resume)
        {
            try { run = new FlowMatchingRun(config, data); }
            catch (ArgumentException e) when (e.Message.StartsWith("--", StringComparison.Ordinal)) { throw new UsageException(e.Message); }
        }
        else
        {
            run = FlowMatchingRun.Resume(Path.Combine(outDir, FamilyTraining.CheckpointName), config.Rectified ? "rectified" : "cfm", data, out var info);
            previous = info.TrainSeconds;
            if (run.Config.Toy != config.Toy) throw new UsageException($"--resume: the saved run trained on '{run.Config.Toy ?? "images"}', not '{config.Toy ?? "images"}'");
        }
        return (run, previous);
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
        _ = Toy2D.Sample(toy, 1, new Generator(0));
        int saveEvery = args.Int("save-every", 1000, 0);
        bool resume = args.Flag("resume"), force = args.Flag("force");
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();
        var (run, previous) = Open(args, resume, force, new FlowMatchingRunConfig(rectified, toy, steps, rectified ? reflowSteps : 0, pairCount, lr, batch, Hidden: hidden, Seed: seed), null, outDir);
        seed = run.Config.Seed;

        AnsiConsole.MarkupLine($"[bold]train {(rectified ? "rectified" : "cfm")}[/]: MLP vector field ({((Module)run.FirstField).ParameterCount():N0} parameters) on {toy}, straight path x_t = (1 − t)·x₀ + t·x₁" +
            (rectified ? $"; after {run.Config.Steps} steps, reflow on {run.Config.Pairs:N0} pairs (noise, sample) drawn from it by Dormand–Prince (rtol 1e-5)" : ""));
        var result = FamilyTraining.Train(run, outDir, run.Config.TotalSteps, commandLine, rectified ? "flow matching, then reflow: loss per step" : $"flow matching on {toy}: loss per step", previous, saveEvery);
        if (result is null) return TrainingLoop.InterruptedExitCode;
        var models = new List<(string Name, MlpVelocityField Field)> { (rectified ? "1-rectified" : "CFM", (MlpVelocityField)run.FirstField) };
        if (rectified) models.Add(("2-rectified", (MlpVelocityField)run.SecondField!));
        var reference = new OdeOptions(OdeMethod.DormandPrince, RelativeTolerance: 1e-5, AbsoluteTolerance: 1e-5);

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

        string densityPath = Path.Combine(outDir, "density.png"), trajPath = Path.Combine(outDir, "trajectories.png");
        string fewPath = Path.Combine(outDir, "few-steps.png"), lossPath = Path.Combine(outDir, "loss.png");
        FlowPictures.WriteRow(densityPath, densityPanels);
        FlowPictures.WriteRow(trajPath, trajectoryPanels);
        int perRow = FewSteps.Length + 1;
        var rows = Enumerable.Range(0, models.Count).Select(r => (IReadOnlyList<Engine.IO.PngImage>)fewStepPanels.Skip(r * perRow).Take(perRow).ToList()).ToList();
        FlowPictures.Write(fewPath, rows);
        foreach (var (name, f) in models)
            SafeTensors.Save(Path.Combine(outDir, $"{name.ToLowerInvariant()}.safetensors"), f.StateDict(),
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
        int saveEvery = args.Int("save-every", 500, 0);
        bool resume = args.Flag("resume"), force = args.Flag("force");
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();
        if (width % 8 != 0) throw new UsageException($"--width {width} must be a multiple of 8 (GroupNorm with 8 groups)");
        if (rectified) RequireBatch(pairCount, batch, "--pairs");                 // before training, not after it

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        var (run, previous) = Open(args, resume, force, new FlowMatchingRunConfig(rectified, null, steps, rectified ? reflowSteps : 0, pairCount, lr, batch,
            Width: width, Blocks: blocks, PairSteps: pairSteps, EmaDecay: ema, Seed: seed), train, outDir);
        seed = run.Config.Seed;
        var c0 = run.Config;
        AnsiConsole.MarkupLine($"[bold]train {(rectified ? "rectified" : "cfm")}[/]: UNet-S (width {c0.Width}, {((UNetVelocityField)run.FirstField).Net.ParameterCount():N0} parameters) as a class-conditional vector field on {train.Count:N0} images from {Markup.Escape(train.Source)}; labels dropped with p = 0.1 for guidance" +
            (rectified ? $"; after {c0.Steps} steps, reflow on {c0.Pairs:N0} class-conditional pairs from the 1-rectified flow (EMA weights, RK4, {c0.PairSteps} steps)" : ""));
        var result = FamilyTraining.Train(run, outDir, c0.TotalSteps, commandLine,
            rectified ? "flow matching, then reflow: loss per step" : "conditional flow matching on Fashion-MNIST: loss per step", previous, saveEvery);
        if (result is null) return TrainingLoop.InterruptedExitCode;
        var models = new List<(string Name, UNetVelocityField Field, double Seconds)> { (rectified ? "1-rectified" : "CFM", (UNetVelocityField)run.FirstField, result.TotalSeconds) };
        if (rectified) models.Add(("2-rectified", (UNetVelocityField)run.SecondField!, result.TotalSeconds));

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
            var path = Path.Combine(outDir, $"samples-{tag}.png");
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
            FlowCheckpoint.Save(Path.Combine(outDir, $"{tag}.safetensors"), f, name, commandLine, seconds);
        }
        AnsiConsole.Write(table);
        var lossPath = Path.Combine(outDir, "loss.png");
        AnsiConsole.MarkupLine($"guidance {guidance}; bits/dim: unconditional, Hutchinson divergence, Dormand–Prince rtol 1e-3, uniform dequantisation, data in [[−1, 1]]");
        AnsiConsole.MarkupLine($"wrote {string.Join(", ", written)} (rows: classes {string.Join(", ", FashionMnist.ClassNames)}; column blocks: 1, 2, 4, 8 Euler steps, adaptive), {lossPath}");
        return 0;
    }

    static void RequireBatch(int count, int batch, string what)
    {
        if (count < batch) throw new UsageException($"{what}: {count} is fewer than one batch of {batch}");
    }
}
