using System.Text.Json;
using Engine;
using Engine.Autograd;
using Engine.Optim;
using Engine.Random;
using Models.Training;

namespace Models.Dit;

/// <summary>Everything that defines an MM-DiT run; saved with every checkpoint.</summary>
public sealed record MmDitTrainConfig(
    MmDitConfig Model,
    string Data = "shapes",
    float CaptionDropout = 0.1f,
    float LogitNormalMean = 0f,
    float LogitNormalStd = 1f,
    float LearningRate = 5e-4f,
    float WeightDecay = 0f,
    float EmaDecay = 0.995f,
    float GradClip = 1f,
    ulong Seed = 0,
    int BatchSize = 32)
{
    /// <summary>Throws an <see cref="ArgumentException"/> naming the first field out of range, before anything is built from it.</summary>
    public void Validate()
    {
        if (Model is null) throw new ArgumentException("MmDitTrainConfig: Model is missing");
        Model.Validate();
        ConfigRange.Check("MmDitTrainConfig", (nameof(CaptionDropout), CaptionDropout, 0, 1), (nameof(LogitNormalStd), LogitNormalStd, 0, 100),
            (nameof(LogitNormalMean), LogitNormalMean, -100, 100), (nameof(LearningRate), LearningRate, 1e-12, 10), (nameof(WeightDecay), WeightDecay, 0, 10),
            (nameof(EmaDecay), EmaDecay, 0, 1), (nameof(GradClip), GradClip, 0, 1e9), (nameof(BatchSize), BatchSize, 1, 4096));
    }
}

/// <summary>
/// Trains an <see cref="MmDit"/> with rectified flow: logit-normal times, captions dropped to the empty caption
/// with probability <see cref="MmDitTrainConfig.CaptionDropout"/> (for classifier-free guidance), AdamW,
/// clipping, EMA. <see cref="Sample"/> integrates with Euler steps over shifted times, guided by the caption.
/// </summary>
public sealed class MmDitTrainer
{
    public MmDitTrainConfig Config { get; }
    public MmDit Model { get; }
    public Ema Ema { get; }
    public AdamW Optimizer { get; }
    public Generator Rng { get; }
    public int Step { get; internal set; }

    public MmDitTrainer(MmDitTrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Rng = new Generator(config.Seed);
        Model = new MmDit(config.Model, new Generator(config.Seed + 1));
        Ema = new Ema(Model, config.EmaDecay);
        Optimizer = new AdamW(Model.Parameters(), config.LearningRate, weightDecay: config.WeightDecay);
    }

    /// <summary>One optimisation step on images (B, C, S, S) in [0, 1] with their captions; returns the loss.</summary>
    public float TrainStep(Tensor images, IReadOnlyList<string> captions)
    {
        int b = images.Shape[0];
        if (captions.Count != b) throw new ShapeMismatchException($"MmDitTrainer.TrainStep: {captions.Count} captions for {b} images");
        using var scope = new DeviceScope();                                        // the step's tensors are recycled for the next step
        var x0 = images * 2f - 1f;
        var kept = captions.Select(c => Rng.NextFloat() < Config.CaptionDropout ? "" : c).ToArray();
        var tokens = Model.Tokenizer.EncodeBatch(kept);
        var t = RectifiedFlow.SampleTimes(b, Rng, FlowTimeSampling.LogitNormal, Config.LogitNormalMean, Config.LogitNormalStd);
        var noise = Tensor.Randn(images.Shape, Rng);
        var loss = RectifiedFlow.Loss((xt, tt) => Model.Forward(xt, tt, tokens), x0, noise, t);
        float value = loss.Item();
        if (!float.IsFinite(value)) throw new NonFiniteException($"MmDitTrainer.TrainStep: loss is {value} at step {Step}");
        Optimizer.ZeroGrad();
        loss.Backward();
        if (Config.GradClip > 0) GradClip.ClipGradNorm(Model.Parameters(), Config.GradClip);
        Optimizer.Step();
        Ema.Update(Model, Ema.WarmedUp(Config.EmaDecay, Step));
        Step++;
        return value;
    }

    public MmDit EmaModel()
    {
        var copy = new MmDit(Model.Config, new Generator(0));
        Ema.CopyTo(copy);
        return copy;
    }

    /// <summary>
    /// Images in [0, 1] for <paramref name="prompts"/>: Euler over <paramref name="steps"/> times shifted by
    /// <paramref name="shift"/>, velocity guided as v_u + s·(v_c − v_u) with the empty caption as the unconditional.
    /// </summary>
    public static Tensor Sample(MmDit model, IReadOnlyList<string> prompts, int steps, float guidance, Generator g, float shift = 1f)
    {
        var m = model.Config;
        int b = prompts.Count;
        var cond = model.Tokenizer.EncodeBatch(prompts);
        var both = cond.Concat(model.Tokenizer.EncodeBatch(Enumerable.Repeat("", b).ToArray())).ToArray();
        var noise = Tensor.Randn([b, m.Channels, m.ImageSize, m.ImageSize], g);
        var x = RectifiedFlow.SampleEuler((xt, t) =>
        {
            if (guidance == 1f) return model.Forward(xt, t, cond);
            var v = model.Forward(Tensor.Cat([xt, xt], 0), [.. t, .. t], both);
            var vc = v.Narrow(0, 0, b);
            var vu = v.Narrow(0, b, b);
            return vu + (vc - vu) * guidance;
        }, noise, steps, shift);
        using var _ = GradMode.NoGrad();
        return ((x + 1f) * 0.5f).Clamp(0f, 1f);
    }

    public const string FamilyName = "mmdit";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static string ConfigJson(MmDitTrainConfig config) => JsonSerializer.Serialize(config, Json);

    /// <summary>Weights, EMA, optimizer state and RNG position as a run checkpoint of family <c>mmdit</c> (and <c>path.json</c>); both atomic.</summary>
    public void Save(string path, string command = "", double trainSeconds = 0) =>
        RunCheckpoint.Save(path, new RunInfo(FamilyName, ConfigJson(Config), Step, command, TrainSeconds: trainSeconds), SaveState());

    public RunState SaveState() => RunState.Of(Model, Ema, Optimizer, "trainer", Rng, Step);

    public void LoadState(RunState s) => Step = s.LoadInto(Model, Ema, Optimizer, "trainer", Rng);

    /// <summary>Restores a trainer saved by <see cref="Save"/>. A file of another family, a config out of range or tensors that do not fit are a <see cref="Engine.CorruptFileException"/> naming the file.</summary>
    public static MmDitTrainer Load(string path) => Load(path, out _);

    public static MmDitTrainer Load(string path, out RunInfo info) =>
        RunCheckpoint.Rebuild<MmDitTrainConfig, MmDitTrainer>(path, FamilyName, c => c.Validate(), c => new MmDitTrainer(c), (t, s) => t.LoadState(s), out info, Json);
}

/// <summary>
/// The MM-DiT family's training run: batches of captioned images drawn from a stream whose position is fixed by the step
/// (step n reads counters n·2²⁰ onwards), so a resumed run sees the data an uninterrupted one would.
/// </summary>
public sealed class MmDitRun(MmDitTrainer trainer, Captioned.ICaptionedData data) : ITrainingRun
{
    public MmDitTrainer Trainer { get; } = trainer;
    public Captioned.ICaptionedData Data { get; } = data;

    public string Family => MmDitTrainer.FamilyName;
    public string ConfigJson => MmDitTrainer.ConfigJson(Trainer.Config);
    public int Step => Trainer.Step;
    public int BatchSize => Trainer.Config.BatchSize;

    public StepLosses TrainStep()
    {
        var (x, captions) = Data.Batch(BatchSize, new Generator(Trainer.Config.Seed + 7) { Offset = (ulong)Step << 20 });
        return Trainer.TrainStep(x, captions);
    }

    public RunState SaveState() => Trainer.SaveState();
    public void LoadState(RunState state) => Trainer.LoadState(state);
}
