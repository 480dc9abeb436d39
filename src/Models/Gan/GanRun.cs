using System.Text.Json;
using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Training;

namespace Models.Gan;

/// <summary>Everything that defines a GAN run; stored in its checkpoint.</summary>
public sealed record GanRunConfig(GanConfig Model, float LearningRate = 2e-4f, int BatchSize = 64, ulong Seed = 0)
{
    public void Validate()
    {
        if (Model is null) throw new ArgumentException("GanRunConfig: Model is missing");
        ConfigRange.Check("GanRunConfig", ("Model.Latent", Model.Latent, 1, 4096), ("Model.Width", Model.Width, 1, 4096), ("Model.Classes", Model.Classes, 0, 100_000),
            (nameof(LearningRate), LearningRate, 1e-12, 10), (nameof(BatchSize), BatchSize, 2, 4096));
        Model.Validate();
    }
}

/// <summary>
/// The GAN family's training run: a <see cref="GanTrainer"/> (generator and discriminator, two Adam optimizers, one noise
/// stream) over a shuffled loader; its pictures are a grid of samples, one row per class, from a fixed noise.
/// </summary>
public sealed class GanRun : ITrainingRun, IPictureRun
{
    public const string FamilyName = "gan";

    readonly StepBatches batches;

    public GanRunConfig Config { get; }
    public GanTrainer Trainer { get; }

    public GanRun(GanRunConfig config, ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        var g = new Generator(config.Seed);
        Trainer = new GanTrainer(new DcganGenerator(config.Model, g), new DcganDiscriminator(config.Model, g), config.LearningRate, config.Seed + 1);
        batches = new StepBatches(data, config.BatchSize, config.Seed);
    }

    public string Family => FamilyName;
    public string ConfigJson => JsonSerializer.Serialize(Config);
    public int Step => Trainer.Step;
    public int BatchSize => Config.BatchSize;

    public StepLosses TrainStep()
    {
        var (x, y) = batches.For(Step);
        var l = Trainer.TrainStep(x, y);
        return new StepLosses(l.Discriminator, [("G", l.Generator), ("D(real)", l.RealScore), ("D(fake)", l.FakeScore)]);
    }

    public RunState SaveState()
    {
        var s = new RunState();
        Trainer.SaveState(s);
        return s;
    }

    public void LoadState(RunState state) => Trainer.LoadState(state);

    /// <summary>Labels for the picture grid: ten of each class, one row per class (or 100 unconditional).</summary>
    public int[] PictureLabels() => Enumerable.Range(0, Math.Max(1, Config.Model.Classes) * 10).Select(i => Config.Model.Classes == 0 ? 0 : i / 10).ToArray();

    public IReadOnlyList<string> WritePictures(string dir, bool final)
    {
        var labels = PictureLabels();
        string path = Path.Combine(dir, final ? "samples.png" : $"samples_{Step:D6}.png");
        ImageGrid.Write(path, GanTrainer.Sample(Trainer.G, labels, labels.Length, new Generator(Config.Seed + 2)), columns: 10);
        return [path];
    }

    /// <summary>Rebuilds the run saved at <paramref name="path"/> over <paramref name="data"/>.</summary>
    public static GanRun Resume(string path, ImageDataset data, out RunInfo info) =>
        RunCheckpoint.Resume<GanRunConfig, GanRun>(path, FamilyName, c => c.Validate(), c => new GanRun(c, data), out info);
}
