using System.Text.Json;
using Engine;
using Engine.Data;
using Engine.Random;
using Models.Training;

namespace Models.Flows;

/// <summary>
/// Everything that defines a normalizing-flow run: a 2D RealNVP on a toy set (<see cref="Toy"/> given) or the multi-scale
/// RealNVP/Glow flow on 28×28 images; the cosine schedule spans <see cref="TotalSteps"/>.
/// </summary>
public sealed record FlowRunConfig(string? Toy, int Hidden, int Blocks, int TotalSteps, float LearningRate, int BatchSize, ulong Seed = 0)
{
    public void Validate()
    {
        ConfigRange.Check("FlowRunConfig", (nameof(Hidden), Hidden, 1, 4096), (nameof(Blocks), Blocks, 1, 256), (nameof(TotalSteps), TotalSteps, 1, 100_000_000),
            (nameof(LearningRate), LearningRate, 1e-12, 10), (nameof(BatchSize), BatchSize, 1, 65536));
        if (Toy is not null) _ = Toy2D.Sample(Toy, 1, new Generator(0));                 // an unknown toy name fails here
    }

    /// <summary>The image flow's shape.</summary>
    public MultiScaleFlowConfig ImageFlow => new(1, 28, 28, Hidden, CheckerboardCouplings: 2, StepsPerScale: Blocks, Scales: 2);
}

/// <summary>
/// The flow family's training run: maximum likelihood with <see cref="FlowTrainer"/>. On a toy set the loss is the NLL in
/// nats of a fresh batch drawn from the run's generator; on images, bits/dim of uniformly dequantised batches fixed by the step.
/// </summary>
public sealed class FlowRun : ITrainingRun
{
    public const string FamilyName = "flow";

    readonly Generator g;
    readonly StepBatches? batches;

    public FlowRunConfig Config { get; }
    public NormalizingFlow Flow { get; }
    public FlowTrainer Trainer { get; }
    public int Step { get; private set; }

    /// <param name="data">The training images; null for a toy run.</param>
    public FlowRun(FlowRunConfig config, ImageDataset? data)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        g = new Generator(config.Seed);
        if (config.Toy is null)
        {
            if (data is null) throw new ArgumentException("FlowRun: an image run needs training images");
            if (data.Channels != 1 || data.Height != 28 || data.Width != 28)
                throw new ShapeMismatchException($"the data are {data.Channels}×{data.Height}×{data.Width} images; the flow takes 1×28×28");
            Flow = NormalizingFlow.Image(config.ImageFlow, g);
            batches = new StepBatches(data, config.BatchSize, config.Seed);
        }
        else Flow = NormalizingFlow.RealNvp2D(g, config.Blocks, config.Hidden);
        Trainer = new FlowTrainer(Flow, config.LearningRate, config.TotalSteps);
    }

    public string Family => FamilyName;
    public string ConfigJson => JsonSerializer.Serialize(Config);
    public int BatchSize => Config.BatchSize;

    public StepLosses TrainStep()
    {
        float loss;
        if (batches is null) loss = Trainer.Step(Toy2D.Sample(Config.Toy!, Config.BatchSize, g));
        else
        {
            var y = Dequantization.Uniform(batches.For(Step).X, g);
            // NLL of the dequantised data in nats → bits/dim of the 8-bit data (range 1).
            loss = (float)Evaluation.BitsPerDim.FromContinuousNll(Trainer.Step(y), Flow.Dims, 1.0);
        }
        Step++;
        return loss;
    }

    public RunState SaveState()
    {
        var s = new RunState();
        s.AddModule("model", Flow);
        s.AddOptimizer("optim", Trainer.Optimizer);
        s.AddGenerator("data", g);
        s.SetInt("step", Step);
        return s;
    }

    public void LoadState(RunState s)
    {
        s.LoadModule("model", Flow);
        s.LoadOptimizer("optim", Trainer.Optimizer);
        s.LoadGenerator("data", g);
        Step = s.Int("step");
    }

    public static FlowRun Resume(string path, ImageDataset? data, out RunInfo info) =>
        RunCheckpoint.Resume<FlowRunConfig, FlowRun>(path, FamilyName, c => c.Validate(), c => new FlowRun(c, data), out info);
}
