using Engine;
using Engine.Data;
using Engine.Optim;
using Engine.Random;

namespace Models.Diffusion;

/// <summary>
/// Trains a class-conditional <see cref="UNet"/> with the DDPM objective: sample t and ε, noise the batch in
/// closed form, regress ε (or v) with MSE (optionally min-SNR-γ weighted), drop labels to the null class with
/// probability <see cref="DiffusionConfig.LabelDropout"/> for classifier-free guidance, clip, step AdamW, update
/// the EMA. <see cref="DiffusionCheckpoint"/> saves and restores all of it, so training resumes exactly.
/// </summary>
/// <example>
/// <code>
/// var trainer = new DiffusionTrainer(new DiffusionConfig(BaseChannels: 16, LearningRate: 1e-3f));
/// var loader = new DataLoader(FashionMnist.Load(), trainer.Config.BatchSize, dropLast: true, seed: 0);
/// for (int i = 0; i &lt; 1000; i++) trainer.TrainStep(loader);
/// DiffusionCheckpoint.Save("ddpm.safetensors", trainer);
/// </code>
/// </example>
public sealed class DiffusionTrainer
{
    public DiffusionConfig Config { get; }
    public UNet Model { get; }
    public Ema Ema { get; }
    public AdamW Optimizer { get; }
    public NoiseSchedule Schedule { get; }

    /// <summary>Draws timesteps, label dropout and noise; its position is saved in checkpoints.</summary>
    public Generator Rng { get; }

    /// <summary>Completed training steps.</summary>
    public int Step { get; internal set; }

    int cachedEpoch = -1;
    int[] cachedOrder = [];

    public DiffusionTrainer(DiffusionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Rng = new Generator(config.Seed);
        Model = new UNet(config.Network, new Generator(config.Seed + 1));
        Ema = new Ema(Model, config.EmaDecay);
        Optimizer = new AdamW(Model.Parameters(), config.LearningRate, weightDecay: config.WeightDecay)
        {
            Schedule = LrSchedule.LinearWarmup(config.LearningRate, config.WarmupSteps),
        };
        Schedule = NoiseSchedule.Create(config.Schedule, config.Timesteps);
    }

    /// <summary>
    /// One step on the batch of <paramref name="loader"/> for step <see cref="Step"/> (epoch Step / full batches
    /// per epoch, position Step mod that), so a resumed run sees the data an uninterrupted one would.
    /// </summary>
    public float TrainStep(DataLoader loader)
    {
        ArgumentNullException.ThrowIfNull(loader);
        if (loader.BatchSize != Config.BatchSize)
            throw new ArgumentException($"TrainStep: the loader gives batches of {loader.BatchSize}, the run was configured with {Config.BatchSize}");
        int perEpoch = loader.Count / loader.BatchSize;                           // full batches only
        if (perEpoch == 0) throw new ArgumentException($"TrainStep: {loader.Count} images do not fill one batch of {loader.BatchSize}");
        int epoch = Step / perEpoch, index = Step % perEpoch;
        if (epoch != cachedEpoch) { cachedOrder = loader.Order(epoch); cachedEpoch = epoch; }
        var (x, y) = loader.Gather(cachedOrder.AsSpan(index * loader.BatchSize, loader.BatchSize));
        return TrainStep(x, y);
    }

    /// <summary>One optimisation step on images in [0, 1] (B, C, H, W) with their labels; returns the loss.</summary>
    public float TrainStep(Tensor images, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        int b = images.Rank > 0 ? images.Shape[0] : 0;
        if (labels.Length != b) throw new ShapeMismatchException($"TrainStep: {labels.Length} labels for {b} images");
        if (images.Rank != 4 || !images.Shape.AsSpan(1).SequenceEqual(Config.ImageShape))
            throw new ShapeMismatchException($"TrainStep: images {Shapes.Format(images.Shape)}, expected (B, {string.Join(", ", Config.ImageShape)})");
        foreach (var l in labels)
            if ((uint)l >= (uint)Config.Classes) throw new ArgumentOutOfRangeException(nameof(labels), $"TrainStep: label {l} is outside [0, {Config.Classes})");
        if (!images.AllFinite()) throw new NonFiniteException($"TrainStep: the image batch {Shapes.Format(images.Shape)} contains NaN or infinite values");

        using var scope = new DeviceScope();                                      // the step's tensors are recycled for the next step
        var x0 = images * 2f - 1f;                                                // [0, 1] → [−1, 1]
        var t = Enumerable.Range(0, b).Select(_ => Rng.NextInt(Schedule.Steps)).ToArray();
        var y = labels.Select(l => Rng.NextFloat() < Config.LabelDropout ? Model.NullClass : l).ToArray();
        var noise = Tensor.Randn(images.Shape, Rng);
        var xt = Schedule.AddNoise(x0, noise, t);
        var target = Config.Prediction == Prediction.Epsilon ? noise : Schedule.VelocityTarget(x0, noise, t);
        var error = (Model.Forward(xt, t, y) - target).Square().Mean([1, 2, 3]);  // (B)
        var loss = Config.MinSnrGamma > 0
            ? (error * Schedule.MinSnrWeights(t, Config.MinSnrGamma, Config.Prediction == Prediction.Velocity)).Mean()
            : error.Mean();
        float value = loss.Item();
        if (!float.IsFinite(value)) throw new NonFiniteException($"TrainStep: loss is {value} at step {Step}; lower the learning rate");
        Optimizer.ZeroGrad();
        loss.Backward();
        if (Config.GradClip > 0) GradClip.ClipGradNorm(Model.Parameters(), Config.GradClip);
        Optimizer.Step();
        Ema.Update(Model, EmaDecayAt(Step));
        Step++;
        return value;
    }

    /// <summary>The EMA decay used at update <paramref name="n"/> (0-based).</summary>
    public float EmaDecayAt(int n) => Config.EmaWarmup ? Ema.WarmedUp(Config.EmaDecay, n) : Config.EmaDecay;

    /// <summary>A copy of the network carrying the EMA weights, for sampling and evaluation.</summary>
    public UNet EmaModel()
    {
        var copy = new UNet(Model.Config, new Generator(0));
        Ema.CopyTo(copy);
        return copy;
    }

    /// <summary>A sampler over this run's schedule and parameterisation.</summary>
    public Sampler Sampler() => new(Schedule, Config.Prediction);
}
