using System.Text.Json;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;
using Models.Training;

namespace Models.Classifier;

/// <summary>Everything that defines a classifier run (the cosine schedule spans <see cref="TotalSteps"/>); stored in its checkpoint.</summary>
public sealed record ClassifierRunConfig(int TotalSteps, int Width = 32, int Hidden = 128, float Dropout = 0.3f, float LearningRate = 2e-3f,
    float WeightDecay = 5e-4f, int BatchSize = 128, ulong Seed = 0)
{
    public void Validate() => ConfigRange.Check("ClassifierRunConfig", (nameof(TotalSteps), TotalSteps, 1, 100_000_000), (nameof(Width), Width, 1, 512),
        (nameof(Hidden), Hidden, 1, 4096), (nameof(Dropout), Dropout, 0, 0.99), (nameof(LearningRate), LearningRate, 1e-12, 10),
        (nameof(WeightDecay), WeightDecay, 0, 10), (nameof(BatchSize), BatchSize, 1, 4096));
}

/// <summary>
/// The classifier family's training run: the <see cref="SmallConvNet"/> that defines FCD and conditional accuracy, cross-entropy
/// with AdamW and a cosine schedule; the dropout stream (the init generator's continuation) is saved with the run.
/// </summary>
public sealed class ClassifierRun : ITrainingRun
{
    public const string FamilyName = "classifier";

    readonly StepBatches batches;
    readonly AdamW optimizer;
    readonly Generator g;

    public ClassifierRunConfig Config { get; }
    public SmallConvNet Model { get; }
    public int Step { get; private set; }

    public ClassifierRun(ClassifierRunConfig config, ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        g = new Generator(config.Seed);
        Model = new SmallConvNet(g, config.Width, hidden: config.Hidden, dropout: config.Dropout);
        int steps = config.TotalSteps;
        optimizer = new AdamW(Model.Parameters(), lr: config.LearningRate, weightDecay: config.WeightDecay)
        {
            Schedule = LrSchedule.Cosine(config.LearningRate, steps, warmupSteps: Math.Min(200, steps / 10)),
        };
        batches = new StepBatches(data, config.BatchSize, config.Seed);
    }

    public string Family => FamilyName;
    public string ConfigJson => JsonSerializer.Serialize(Config);
    public int BatchSize => Config.BatchSize;

    public StepLosses TrainStep()
    {
        var (x, y) = batches.For(Step);
        Model.Train();
        var loss = Losses.CrossEntropy(Model.Forward(x), y);
        optimizer.ZeroGrad();
        loss.Backward();
        optimizer.Step();
        Step++;
        return loss.Item();
    }

    public RunState SaveState() => RunState.Of(Model, null, optimizer, "dropout", g, Step);

    public void LoadState(RunState s) => Step = s.LoadInto(Model, null, optimizer, "dropout", g);

    public static ClassifierRun Resume(string path, ImageDataset data, out RunInfo info) =>
        RunCheckpoint.Resume<ClassifierRunConfig, ClassifierRun>(path, FamilyName, c => c.Validate(), c => new ClassifierRun(c, data), out info);
}
