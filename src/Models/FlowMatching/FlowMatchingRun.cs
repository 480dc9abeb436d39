using System.Text.Json;
using Engine;
using Engine.Data;
using Engine.Nn;
using Engine.Random;
using Models.Diffusion;
using Models.Training;

namespace Models.FlowMatching;

/// <summary>
/// Everything that defines a flow-matching run. <see cref="Toy"/> given: an MLP field (<see cref="Hidden"/>) on 2D points;
/// otherwise the class-conditional UNet-S (<see cref="Width"/>, <see cref="Blocks"/>) on 28×28 images with EMA. With
/// <see cref="Rectified"/>, after <see cref="Steps"/> steps of flow matching the run draws <see cref="Pairs"/> couplings
/// from the first flow and trains the 2-rectified flow on them for <see cref="ReflowSteps"/> more (reflow).
/// </summary>
public sealed record FlowMatchingRunConfig(bool Rectified, string? Toy, int Steps, int ReflowSteps, int Pairs, float LearningRate, int BatchSize,
    int Hidden = 128, int Width = 16, int Blocks = 2, int PairSteps = 8, float EmaDecay = 0.999f, ulong Seed = 0)
{
    public void Validate()
    {
        ConfigRange.Check("FlowMatchingRunConfig", (nameof(Steps), Steps, 1, 100_000_000), (nameof(ReflowSteps), ReflowSteps, 0, 100_000_000),
            (nameof(Pairs), Pairs, 1, 10_000_000), (nameof(LearningRate), LearningRate, 1e-12, 10), (nameof(BatchSize), BatchSize, 1, 65536),
            (nameof(Hidden), Hidden, 1, 4096), (nameof(Width), Width, 8, 256), (nameof(Blocks), Blocks, 1, 8), (nameof(PairSteps), PairSteps, 1, 1000),
            (nameof(EmaDecay), EmaDecay, 0, 1));
        if (Toy is null && Width % 8 != 0) throw new ArgumentException($"FlowMatchingRunConfig: Width = {Width} is not a multiple of 8 (GroupNorm with 8 groups)");
        if (Rectified && Pairs < BatchSize) throw new ArgumentException($"--pairs: {Pairs} is fewer than one batch of {BatchSize}");
        if (Toy is not null) _ = Toy2D.Sample(Toy, 1, new Generator(0));
    }

    public UNetConfig Net => new(BaseChannels: Width, ResBlocks: Blocks);

    /// <summary>Steps of the whole run: flow matching, then reflow when rectified.</summary>
    public int TotalSteps => Steps + (Rectified ? ReflowSteps : 0);
}

/// <summary>
/// The flow-matching families' training run (<c>cfm</c>, and <c>rectified</c> with its two phases). Phase 2 starts at step
/// <see cref="FlowMatchingRunConfig.Steps"/>: it solves the first flow's ODE for the couplings (deterministic given the first
/// flow's weights, which the checkpoint keeps as <c>first.*</c>) and trains a copy of it on them.
/// </summary>
public sealed class FlowMatchingRun : ITrainingRun
{
    readonly Generator g;
    readonly StepBatches? images;
    readonly Module firstModule;
    readonly FlowMatchingTrainer firstTrainer;
    Module? secondModule;
    FlowMatchingTrainer? secondTrainer;
    StepBatches? pairs;
    int[] pairShape = [];
    bool pairLabels;

    public FlowMatchingRunConfig Config { get; }
    public int Step { get; private set; }

    /// <summary>The first flow: the MLP itself on toys, the EMA weights of the UNet on images (set once phase 1 is done, else the live weights).</summary>
    public IVelocityField FirstField => first ?? (Config.Toy is null ? Averaged(firstTrainer) : (IVelocityField)firstModule);

    /// <summary>The 2-rectified flow, once reflow has started (EMA weights on images).</summary>
    public IVelocityField? SecondField => secondTrainer is null ? null : Config.Toy is null ? Averaged(secondTrainer) : (IVelocityField)secondModule!;

    IVelocityField? first;

    public FlowMatchingRun(FlowMatchingRunConfig config, ImageDataset? data)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        g = new Generator(config.Seed);
        if (config.Toy is null)
        {
            if (data is null) throw new ArgumentException("FlowMatchingRun: an image run needs training images");
            var net = new UNet(config.Net, g);
            firstModule = net;
            firstTrainer = new FlowMatchingTrainer(new UNetVelocityField(net), config.LearningRate, config.Steps, config.Seed + 1, labelDrop: 0.1f, emaOf: net, emaDecay: config.EmaDecay);
            images = new StepBatches(data, config.BatchSize, config.Seed);
        }
        else
        {
            var field = new MlpVelocityField(2, config.Hidden, g);
            firstModule = field;
            firstTrainer = new FlowMatchingTrainer(field, config.LearningRate, config.Steps, config.Seed + 1);
        }
    }

    public string Family => Config.Rectified ? "rectified" : "cfm";
    public string ConfigJson => JsonSerializer.Serialize(Config);
    public int BatchSize => Config.BatchSize;

    /// <summary>Whether reflow (phase 2) has started.</summary>
    public bool Reflowing => secondTrainer is not null;

    public StepLosses TrainStep()
    {
        float loss;
        if (Step < Config.Steps)
        {
            if (images is null) loss = firstTrainer.Step(Toy2D.Sample(Config.Toy!, Config.BatchSize, g));
            else
            {
                var (x, y) = images.For(Step);
                loss = firstTrainer.Step(Flows.Dequantization.Uniform(x, g) * 2f - 1f, y);
            }
        }
        else
        {
            if (secondTrainer is null) StartReflow();
            var (pair, y) = pairs!.For(Step - Config.Steps);
            int n = pair.Shape[0];
            var p0 = pair.Narrow(1, 0, 1).Contiguous().Reshape([n, .. pairShape]);
            var p1 = pair.Narrow(1, 1, 1).Contiguous().Reshape([n, .. pairShape]);
            loss = secondTrainer!.Step(p1, pairLabels ? y : null, p0);
        }
        Step++;
        return loss;
    }

    /// <summary>Phase 2: the first flow is fixed, its couplings drawn, and a copy of it trained on them.</summary>
    void StartReflow()
    {
        var c = Config;
        if (c.Toy is null)
        {
            var firstField = (UNetVelocityField)(first ??= Averaged(firstTrainer));
            var (x0, x1, labels) = Reflow.Pairs(firstField, c.Pairs, [1, 28, 28], new OdeOptions(OdeMethod.Rk4, c.PairSteps), new Generator(c.Seed + 2), batch: 100, classes: 10);
            var second = new UNet(c.Net, new Generator(c.Seed + 3));
            second.LoadStateDict(firstField.Net.StateDict());                                        // reflow starts from the first flow
            secondModule = second;
            secondTrainer = new FlowMatchingTrainer(new UNetVelocityField(second), c.LearningRate, c.ReflowSteps, c.Seed + 4, labelDrop: 0.1f, emaOf: second, emaDecay: c.EmaDecay);
            UsePairs(x0, x1, labels, [1, 28, 28]);
        }
        else
        {
            var field = (MlpVelocityField)firstModule;
            first = field;
            var reference = new OdeOptions(OdeMethod.DormandPrince, RelativeTolerance: 1e-5, AbsoluteTolerance: 1e-5);
            var (x0, x1, _) = Reflow.Pairs(field, c.Pairs, [2], reference, new Generator(c.Seed + 2));
            var second = new MlpVelocityField(2, c.Hidden, new Generator(c.Seed + 3));
            second.LoadStateDict(field.StateDict());
            secondModule = second;
            secondTrainer = new FlowMatchingTrainer(second, c.LearningRate, c.ReflowSteps, c.Seed + 4);
            UsePairs(x0, x1, null, [2]);
        }
    }

    void UsePairs(Tensor x0, Tensor x1, int[]? labels, int[] shape)
    {
        int b = x0.Shape[0];
        var joined = Tensor.Cat([x0.Reshape(b, 1, -1), x1.Reshape(b, 1, -1)], 1);                   // (N, 2, D)
        pairs = new StepBatches(new DataLoader(joined, labels, Config.BatchSize, shuffle: true, dropLast: true, seed: Config.Seed + 5), "--pairs");
        pairShape = shape;
        pairLabels = labels is not null;
    }

    static UNetVelocityField Averaged(FlowMatchingTrainer trainer)
    {
        var live = ((UNetVelocityField)trainer.Field).Net;
        var net = new UNet(live.Config, new Generator(0));
        trainer.Ema!.CopyTo(net);
        return new UNetVelocityField(net);
    }

    Module FirstWeights => Config.Toy is null ? ((UNetVelocityField)first!).Net : firstModule;

    public RunState SaveState()
    {
        var s = new RunState();
        s.SetInt("step", Step);
        s.AddGenerator("data", g);
        if (secondTrainer is null)
        {
            s.SetInt("phase", 1);
            s.AddModule("model", firstModule);
            if (firstTrainer.Ema is { } ema) s.AddEma("ema", ema);
            s.AddOptimizer("optim", firstTrainer.Optimizer);
            s.AddGenerator("trainer", firstTrainer.Rng);
        }
        else
        {
            s.SetInt("phase", 2);
            s.AddModule("first", FirstWeights);
            s.AddModule("model", secondModule!);
            if (secondTrainer.Ema is { } ema) s.AddEma("ema", ema);
            s.AddOptimizer("optim", secondTrainer.Optimizer);
            s.AddGenerator("trainer", secondTrainer.Rng);
        }
        return s;
    }

    public void LoadState(RunState s)
    {
        int phase = s.Int("phase");
        s.LoadGenerator("data", g);
        Step = s.Int("step");
        if (phase == 1)
        {
            if (Step > Config.Steps) throw new InvalidDataException($"step {Step} is past the {Config.Steps} steps of phase 1");
            s.LoadModule("model", firstModule);
            if (firstTrainer.Ema is { } ema) s.LoadEma("ema", ema);
            s.LoadOptimizer("optim", firstTrainer.Optimizer);
            s.LoadGenerator("trainer", firstTrainer.Rng);
            return;
        }
        if (phase != 2 || !Config.Rectified || Step < Config.Steps) throw new InvalidDataException($"phase {phase} at step {Step} does not fit the config");
        if (Config.Toy is null)
        {
            var net = new UNet(Config.Net, new Generator(0));
            s.LoadModule("first", net);
            first = new UNetVelocityField(net);
        }
        else s.LoadModule("first", firstModule);
        StartReflow();
        s.LoadModule("model", secondModule!);
        if (secondTrainer!.Ema is { } ema2) s.LoadEma("ema", ema2);
        s.LoadOptimizer("optim", secondTrainer.Optimizer);
        s.LoadGenerator("trainer", secondTrainer.Rng);
    }

    public static FlowMatchingRun Resume(string path, string family, ImageDataset? data, out RunInfo info) =>
        RunCheckpoint.Resume<FlowMatchingRunConfig, FlowMatchingRun>(path, family, c =>
        {
            c.Validate();
            if (c.Rectified != (family == "rectified")) throw new ArgumentException($"the config says Rectified = {c.Rectified}, the family is '{family}'");
        }, c => new FlowMatchingRun(c, data), out info);
}
