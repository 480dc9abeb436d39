using Engine;
using Engine.Data;
using Models.Training;

namespace Models.Diffusion;

/// <summary>
/// The DDPM family's training run: a <see cref="DiffusionTrainer"/> over a shuffled loader of the training images (the batch of
/// step n is fixed by n), saved as a run checkpoint of family <c>ddpm</c> by <see cref="DiffusionCheckpoint"/>.
/// </summary>
public sealed class DdpmRun : ITrainingRun
{
    public const string FamilyName = "ddpm";

    readonly DataLoader loader;

    public DiffusionTrainer Trainer { get; }

    public DdpmRun(DiffusionTrainer trainer, ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(data);
        var c = trainer.Config;
        if (data.Channels != 1 || data.Height != c.ImageSize || data.Width != c.ImageSize)
            throw new ShapeMismatchException($"the data are {data.Channels}×{data.Height}×{data.Width} images; the model takes 1×{c.ImageSize}×{c.ImageSize}");
        if (data.Count < c.BatchSize) throw new ArgumentException($"--batch {c.BatchSize} is larger than the {data.Count} training images");
        Trainer = trainer;
        loader = new DataLoader(data, c.BatchSize, shuffle: true, dropLast: true, seed: c.Seed);
    }

    public DdpmRun(DiffusionConfig config, ImageDataset data) : this(new DiffusionTrainer(config), data) { }

    public string Family => FamilyName;
    public string ConfigJson => DiffusionCheckpoint.ConfigJson(Trainer.Config);
    public int Step => Trainer.Step;
    public int BatchSize => Trainer.Config.BatchSize;
    public StepLosses TrainStep() => Trainer.TrainStep(loader);
    public RunState SaveState() => DiffusionCheckpoint.State(Trainer);
    public void LoadState(RunState state) => DiffusionCheckpoint.Restore(Trainer, state);
}
