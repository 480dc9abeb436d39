using System.Text.Json;
using Engine;
using Engine.Autograd;
using Engine.IO;
using Engine.Optim;
using Engine.Random;

namespace Models.Diffusion;

/// <summary>Everything that defines a diffusion run; saved with every checkpoint.</summary>
public sealed record DiffusionConfig(
    int BaseChannels = 32,
    ScheduleKind Schedule = ScheduleKind.Linear,
    int Timesteps = 1000,
    Prediction Prediction = Prediction.Epsilon,
    float MinSnrGamma = 0f,
    float LabelDropout = 0.1f,
    float LearningRate = 2e-4f,
    float WeightDecay = 0f,
    float EmaDecay = 0.999f,
    float GradClip = 1f,
    ulong Seed = 0);

/// <summary>
/// Trains a class-conditional <see cref="UNet"/> with the DDPM objective: sample t and ε, noise the batch in
/// closed form, regress ε (or v) with MSE (optionally min-SNR-γ weighted), drop labels to the null class with
/// probability <see cref="DiffusionConfig.LabelDropout"/> for classifier-free guidance, clip, step AdamW, update
/// the EMA. <see cref="Save"/>/<see cref="Load"/> capture all of it, so training resumes exactly.
/// </summary>
public sealed class DiffusionTrainer
{
    public DiffusionConfig Config { get; }
    public UNet Model { get; }
    public Ema Ema { get; }
    public AdamW Optimizer { get; }
    public NoiseSchedule Schedule { get; }
    public Generator Rng { get; }
    public int Step { get; private set; }

    public DiffusionTrainer(DiffusionConfig config)
    {
        Config = config;
        Rng = new Generator(config.Seed);
        Model = new UNet(new UNetConfig(config.BaseChannels), new Generator(config.Seed + 1));
        Ema = new Ema(Model, config.EmaDecay);
        Optimizer = new AdamW(Model.Parameters(), config.LearningRate, weightDecay: config.WeightDecay);
        Schedule = NoiseSchedule.Create(config.Schedule, config.Timesteps);
    }

    /// <summary>One optimisation step on images in [0, 1] (B, 1, 28, 28); returns the loss.</summary>
    public float TrainStep(Tensor images, int[] labels)
    {
        int b = images.Shape[0];
        if (labels.Length != b) throw new ShapeMismatchException($"TrainStep: {labels.Length} labels for {b} images");
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
        if (!float.IsFinite(value)) throw new NonFiniteException($"TrainStep: loss is {value} at step {Step}");
        Optimizer.ZeroGrad();
        loss.Backward();
        if (Config.GradClip > 0) GradClip.ClipGradNorm(Model.Parameters(), Config.GradClip);
        Optimizer.Step();
        Ema.Update(Model);
        Step++;
        return value;
    }

    /// <summary>A copy of the network carrying the EMA weights, for sampling.</summary>
    public UNet EmaModel()
    {
        var copy = new UNet(Model.Config, new Generator(0));
        Ema.CopyTo(copy);
        return copy;
    }

    const string Format = "engine.ddpm/1";

    /// <summary>
    /// Writes weights, EMA, optimizer state and RNG position to <paramref name="path"/> (safetensors) and the
    /// config and step to <c>path.json</c>; both atomically.
    /// </summary>
    public void Save(string path)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (n, p) in Model.StateDict()) tensors["model." + n] = p;
        foreach (var (n, p) in Ema.StateDict()) tensors["ema." + n] = p;
        var opt = Optimizer.ExportState();
        foreach (var (n, p) in opt.Tensors) tensors["optim." + n] = p;
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["config"] = JsonSerializer.Serialize(Config),
            ["step"] = Step.ToString(),
            ["rng_offset"] = Rng.Offset.ToString(),
            ["optim_step"] = opt.Step.ToString(),
            ["optim_lr"] = opt.LearningRate.ToString("R"),
        };
        SafeTensors.Save(path, tensors, meta);
        AtomicFile.WriteAllText(path + ".json", JsonSerializer.Serialize(new { format = Format, step = Step, config = Config }, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Restores a trainer saved by <see cref="Save"/>. A file of another model is an <see cref="InvalidDataException"/>.</summary>
    public static DiffusionTrainer Load(string path)
    {
        var content = SafeTensors.Load(path);
        var meta = content.Metadata;
        if (!meta.TryGetValue("format", out var format) || format != Format)
            throw new InvalidDataException($"{path}: not a DDPM checkpoint (format '{format ?? "none"}', expected '{Format}')");
        var config = JsonSerializer.Deserialize<DiffusionConfig>(meta["config"]) ?? throw new InvalidDataException($"{path}: missing config");
        var trainer = new DiffusionTrainer(config);
        Dictionary<string, Tensor> Prefixed(string prefix) =>
            content.Tensors.Where(kv => kv.Key.StartsWith(prefix)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        trainer.Model.LoadStateDict(Prefixed("model."));
        trainer.Ema.LoadStateDict(Prefixed("ema."));
        trainer.Optimizer.ImportState(new OptimizerState(Prefixed("optim."), int.Parse(meta["optim_step"]), float.Parse(meta["optim_lr"])));
        trainer.Step = int.Parse(meta["step"]);
        trainer.Rng.Offset = ulong.Parse(meta["rng_offset"]);
        return trainer;
    }
}
