using System.Text.Json;
using System.Text.Json.Serialization;
using Engine;
using Engine.Data;
using Engine.Autograd;
using Engine.Optim;
using Engine.Random;
using Models.Diffusion;
using Models.Training;

namespace Models.Dit;

/// <summary>What a DiT learns: DDPM ε-prediction over a <see cref="NoiseSchedule"/>, or the rectified-flow velocity.</summary>
public enum DitObjective { Diffusion, RectifiedFlow }

/// <summary>Everything that defines a DiT run; saved with every checkpoint.</summary>
public sealed record DitTrainConfig(
    DitConfig Model,
    DitObjective Objective = DitObjective.Diffusion,
    ScheduleKind Schedule = ScheduleKind.Linear,
    int Timesteps = 1000,
    FlowTimeSampling FlowTimes = FlowTimeSampling.LogitNormal,
    float LabelDropout = 0.1f,
    float LearningRate = 3e-4f,
    float WeightDecay = 0f,
    float EmaDecay = 0.999f,
    float GradClip = 1f,
    ulong Seed = 0,
    int BatchSize = 64)
{
    /// <summary>Throws an <see cref="ArgumentException"/> naming the first field out of range, before anything is built from it.</summary>
    public void Validate()
    {
        if (Model is null) throw new ArgumentException("DitTrainConfig: Model is missing");
        Model.Validate();
        ConfigRange.Check("DitTrainConfig", (nameof(Timesteps), Timesteps, 2, 100_000), (nameof(LabelDropout), LabelDropout, 0, 1),
            (nameof(LearningRate), LearningRate, 1e-12, 10), (nameof(WeightDecay), WeightDecay, 0, 10), (nameof(EmaDecay), EmaDecay, 0, 1),
            (nameof(GradClip), GradClip, 0, 1e9), (nameof(BatchSize), BatchSize, 1, 4096));
    }
}

/// <summary>
/// Trains a class-conditional <see cref="DiT"/> on images in [0, 1] (scaled to [−1, 1]) with either objective,
/// dropping labels to the null class with probability <see cref="DitTrainConfig.LabelDropout"/> for
/// classifier-free guidance; AdamW, gradient clipping, EMA. <see cref="Sample"/> draws guided images with the
/// EMA weights (DDIM for diffusion, Euler for rectified flow). <see cref="Save"/>/<see cref="Load"/> resume exactly.
/// </summary>
public sealed class DitTrainer
{
    public DitTrainConfig Config { get; }
    public DiT Model { get; }
    public Ema Ema { get; }
    public AdamW Optimizer { get; }
    public NoiseSchedule Schedule { get; }
    public Generator Rng { get; }
    public int Step { get; internal set; }

    /// <summary>Rectified-flow times are fed to the timestep embedder scaled to the diffusion range.</summary>
    public const float FlowTimeScale = 1000f;

    public DitTrainer(DitTrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Rng = new Generator(config.Seed);
        Model = new DiT(config.Model, new Generator(config.Seed + 1));
        Ema = new Ema(Model, config.EmaDecay);
        Optimizer = new AdamW(Model.Parameters(), config.LearningRate, weightDecay: config.WeightDecay);
        Schedule = NoiseSchedule.Create(config.Schedule, config.Timesteps);
    }

    /// <summary>One optimisation step on images (B, C, H, W) in [0, 1] with their labels; returns the loss.</summary>
    public float TrainStep(Tensor images, int[] labels)
    {
        int b = images.Shape[0];
        if (labels.Length != b) throw new ShapeMismatchException($"DitTrainer.TrainStep: {labels.Length} labels for {b} images");
        using var scope = new DeviceScope();                                        // the step's tensors are recycled for the next step
        var x0 = images * 2f - 1f;                                                  // [0, 1] → [−1, 1]
        var y = labels.Select(l => Rng.NextFloat() < Config.LabelDropout ? Model.NullClass : l).ToArray();
        var noise = Tensor.Randn(images.Shape, Rng);
        Tensor loss;
        if (Config.Objective == DitObjective.Diffusion)
        {
            var t = Enumerable.Range(0, b).Select(_ => Rng.NextInt(Schedule.Steps)).ToArray();
            loss = (Model.Forward(Schedule.AddNoise(x0, noise, t), t, y) - noise).Square().Mean();
        }
        else
        {
            var t = RectifiedFlow.SampleTimes(b, Rng, Config.FlowTimes);
            loss = RectifiedFlow.Loss((xt, tt) => Model.Forward(xt, Scaled(tt), y), x0, noise, t);
        }
        float value = loss.Item();
        if (!float.IsFinite(value)) throw new NonFiniteException($"DitTrainer.TrainStep: loss is {value} at step {Step}");
        Optimizer.ZeroGrad();
        loss.Backward();
        if (Config.GradClip > 0) GradClip.ClipGradNorm(Model.Parameters(), Config.GradClip);
        Optimizer.Step();
        Ema.Update(Model, Ema.WarmedUp(Config.EmaDecay, Step));
        Step++;
        return value;
    }

    /// <summary>A copy of the network carrying the EMA weights.</summary>
    public DiT EmaModel()
    {
        var copy = new DiT(Model.Config, new Generator(0));
        Ema.CopyTo(copy);
        return copy;
    }

    /// <summary>
    /// Guided samples in [0, 1] for <paramref name="labels"/> (use <see cref="DiT.NullClass"/> for unconditional):
    /// DDIM with <paramref name="steps"/> steps, or Euler over the rectified flow with timestep shift <paramref name="shift"/>.
    /// </summary>
    public static Tensor Sample(DiT model, DitTrainConfig config, int[] labels, int steps, float guidance, Generator g, float shift = 1f)
    {
        var m = model.Config;
        int[] shape = [m.Channels, m.ImageSize, m.ImageSize];
        Tensor x;
        if (config.Objective == DitObjective.Diffusion)
        {
            var sampler = new Sampler(NoiseSchedule.Create(config.Schedule, config.Timesteps), Prediction.Epsilon);
            x = sampler.Sample(model, shape, labels, new SamplerOptions(SamplerKind.Ddim, Math.Min(steps, config.Timesteps), 0f, guidance), g);
        }
        else
        {
            var noise = Tensor.Randn([labels.Length, .. shape], g);
            x = RectifiedFlow.SampleEuler((xt, t) => Guided(model, xt, Scaled(t), labels, guidance), noise, steps, shift);
        }
        using var _ = GradMode.NoGrad();
        return ((x + 1f) * 0.5f).Clamp(0f, 1f);
    }

    /// <summary>Classifier-free guidance with real times: v_u + s·(v_c − v_u), both passes in one batch.</summary>
    static Tensor Guided(DiT model, Tensor x, float[] t, int[] labels, float scale)
    {
        if (scale == 1f) return model.Forward(x, t, labels);
        int b = x.Shape[0];
        var both = model.Forward(Tensor.Cat([x, x], 0), [.. t, .. t], [.. labels, .. Enumerable.Repeat(model.NullClass, b)]);
        var cond = both.Narrow(0, 0, b);
        var uncond = both.Narrow(0, b, b);
        return uncond + (cond - uncond) * scale;
    }

    static float[] Scaled(float[] t) => t.Select(v => v * FlowTimeScale).ToArray();

    public const string FamilyName = "dit";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    /// <summary>The config as stored in checkpoints.</summary>
    public static string ConfigJson(DitTrainConfig config) => JsonSerializer.Serialize(config, Json);

    /// <summary>Weights, EMA, optimizer state and RNG position as a run checkpoint of family <c>dit</c> (and <c>path.json</c>); both atomic.</summary>
    public void Save(string path, string command = "", double trainSeconds = 0) =>
        RunCheckpoint.Save(path, new RunInfo(FamilyName, ConfigJson(Config), Step, command, TrainSeconds: trainSeconds), SaveState());

    public RunState SaveState() => RunState.Of(Model, Ema, Optimizer, "trainer", Rng, Step);

    public void LoadState(RunState s) => Step = s.LoadInto(Model, Ema, Optimizer, "trainer", Rng);

    /// <summary>Restores a trainer saved by <see cref="Save"/>. A file of another family, a config out of range or tensors that do not fit are a <see cref="Engine.CorruptFileException"/> naming the file.</summary>
    public static DitTrainer Load(string path) => Load(path, out _);

    public static DitTrainer Load(string path, out RunInfo info) =>
        RunCheckpoint.Rebuild<DitTrainConfig, DitTrainer>(path, FamilyName, c => c.Validate(), c => new DitTrainer(c), (t, s) => t.LoadState(s), out info, Json);
}

/// <summary>The DiT family's training run: a <see cref="DitTrainer"/> over a shuffled loader; the batch of step n is fixed by n.</summary>
public sealed class DitRun : ITrainingRun
{
    readonly StepBatches batches;

    public DitTrainer Trainer { get; }

    public DitRun(DitTrainer trainer, Engine.Data.ImageDataset data)
    {
        Trainer = trainer;
        var m = trainer.Config.Model;
        if (data.Channels != m.Channels || data.Height != m.ImageSize || data.Width != m.ImageSize)
            throw new ShapeMismatchException($"the data are {data.Channels}×{data.Height}×{data.Width} images; the model takes {m.Channels}×{m.ImageSize}×{m.ImageSize}");
        batches = new StepBatches(data, trainer.Config.BatchSize, trainer.Config.Seed);
    }

    public string Family => DitTrainer.FamilyName;
    public string ConfigJson => DitTrainer.ConfigJson(Trainer.Config);
    public int Step => Trainer.Step;
    public int BatchSize => Trainer.Config.BatchSize;

    public StepLosses TrainStep()
    {
        var (x, y) = batches.For(Step);
        return Trainer.TrainStep(x, y);
    }

    public RunState SaveState() => Trainer.SaveState();
    public void LoadState(RunState state) => Trainer.LoadState(state);
}
