using System.Text.Json;
using Engine.Data;
using Engine.Optim;
using Engine.Random;
using Models.Training;

namespace Models.PixelCnn;

/// <summary>Everything that defines a PixelCNN run (the cosine schedule spans <see cref="TotalSteps"/>); stored in its checkpoint.</summary>
public sealed record PixelCnnRunConfig(PixelCnnConfig Model, int TotalSteps, float LearningRate = 2e-3f, int BatchSize = 32, ulong Seed = 0)
{
    public void Validate()
    {
        if (Model is null) throw new ArgumentException("PixelCnnRunConfig: Model is missing");
        ConfigRange.Check("PixelCnnRunConfig", ("Model.Channels", Model.Channels, 1, 1024), ("Model.Layers", Model.Layers, 1, 64), ("Model.KernelSize", Model.KernelSize, 3, 15),
            ("Model.Classes", Model.Classes, 0, 100_000), ("Model.HeadChannels", Model.HeadChannels, 1, 4096), (nameof(TotalSteps), TotalSteps, 1, 100_000_000),
            (nameof(LearningRate), LearningRate, 1e-12, 10), (nameof(BatchSize), BatchSize, 1, 4096));
        Model.Validate();
    }
}

/// <summary>The PixelCNN family's training run: exact NLL in bits/dim, AdamW with a cosine schedule, batches fixed by the step.</summary>
public sealed class PixelCnnRun : ITrainingRun
{
    public const string FamilyName = "pixelcnn";

    readonly StepBatches batches;
    readonly AdamW optimizer;
    readonly int dims;

    public PixelCnnRunConfig Config { get; }
    public GatedPixelCnn Model { get; }
    public int Step { get; private set; }

    public PixelCnnRun(PixelCnnRunConfig config, ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Model = new GatedPixelCnn(config.Model, new Generator(config.Seed));
        int steps = config.TotalSteps;
        optimizer = new AdamW(Model.Parameters(), lr: config.LearningRate, weightDecay: 0f)
        {
            Schedule = LrSchedule.Cosine(config.LearningRate, steps, warmupSteps: Math.Min(100, steps / 10)),
        };
        batches = new StepBatches(data, config.BatchSize, config.Seed);
        dims = data.Channels * data.Height * data.Width;
    }

    public string Family => FamilyName;
    public string ConfigJson => JsonSerializer.Serialize(Config);
    public int BatchSize => Config.BatchSize;

    public StepLosses TrainStep()
    {
        var (x, y) = batches.For(Step);
        var loss = Model.Nll(x, Config.Model.Classes > 0 ? y : null).Mean() / (dims * MathF.Log(2));   // bits/dim
        optimizer.ZeroGrad();
        loss.Backward();
        optimizer.Step();
        Step++;
        return loss.Item();
    }

    public RunState SaveState() => RunState.Of(Model, null, optimizer, null, null, Step);

    public void LoadState(RunState s) => Step = s.LoadInto(Model, null, optimizer, null, null);

    public static PixelCnnRun Resume(string path, ImageDataset data, out RunInfo info) =>
        RunCheckpoint.Resume<PixelCnnRunConfig, PixelCnnRun>(path, FamilyName, c => c.Validate(), c => new PixelCnnRun(c, data), out info);
}
