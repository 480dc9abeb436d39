using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engine;
using Engine.IO;
using Engine.Optim;

namespace Models.Diffusion;

/// <summary>
/// A diffusion training run as one safetensors file: the weights (<c>model.*</c>, PyTorch names), the EMA
/// weights (<c>ema.*</c>), AdamW's moments (<c>optim.*</c>), and in the metadata the config, the step, the
/// optimizer's step and learning rate and the random stream's position — everything
/// <see cref="DiffusionTrainer"/> needs to continue bit for bit. A JSON sidecar (<c>F.json</c>) repeats the
/// config and step for people and scripts. Both files are written atomically.
/// <see cref="SaveSampling"/> writes the EMA weights alone (a quarter of the size): what sampling and evaluation
/// need, and what the repository ships; <see cref="LoadSampling"/> reads either kind.
/// </summary>
public static class DiffusionCheckpoint
{
    /// <summary>The metadata value of <c>format</c> that marks a DDPM checkpoint.</summary>
    public const string Format = "engine.ddpm/1";

    /// <summary>The metadata value of <c>format</c> that marks an EMA-only DDPM checkpoint (sampling, evaluation).</summary>
    public const string SamplingFormat = "engine.ddpm-ema/1";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    public static void Save(string path, DiffusionTrainer trainer)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (n, p) in trainer.Model.StateDict()) tensors["model." + n] = p;
        foreach (var (n, p) in trainer.Ema.StateDict()) tensors["ema." + n] = p;
        var opt = trainer.Optimizer.ExportState();
        foreach (var (n, p) in opt.Tensors) tensors["optim." + n] = p;
        string config = JsonSerializer.Serialize(trainer.Config, Json);
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["config"] = config,
            ["step"] = Invariant(trainer.Step),
            ["rng_seed"] = Invariant(trainer.Rng.Seed),
            ["rng_offset"] = Invariant(trainer.Rng.Offset),
            ["optim_step"] = Invariant(opt.Step),
            ["optim_lr"] = opt.LearningRate.ToString("R", CultureInfo.InvariantCulture),
        };
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        SafeTensors.Save(path, tensors, meta);
        AtomicFile.WriteAllText(path + ".json",
            $"{{\n  \"format\": \"{Format}\",\n  \"step\": {trainer.Step},\n  \"config\": {config.Replace("\n", "\n  ")}\n}}\n");
    }

    /// <summary>
    /// Restores a trainer saved by <see cref="Save"/>. A missing file is a <see cref="FileNotFoundException"/>;
    /// a file of another model, or one whose tensors or metadata do not fit, a <see cref="CorruptFileException"/>.
    /// </summary>
    public static DiffusionTrainer Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        var content = SafeTensors.Load(path);
        var meta = content.Metadata;
        if (!meta.TryGetValue("format", out var format) || format != Format)
            throw new CorruptFileException(path, $"not a DDPM checkpoint (format '{format ?? meta.GetValueOrDefault("model") ?? "none"}', expected '{Format}')");
        var config = ReadConfig(path, meta);
        var trainer = new DiffusionTrainer(config);
        Dictionary<string, Tensor> Prefixed(string prefix) =>
            content.Tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        try
        {
            trainer.Model.LoadStateDict(Prefixed("model."));
            trainer.Ema.LoadStateDict(Prefixed("ema."));
            trainer.Optimizer.ImportState(new OptimizerState(Prefixed("optim."), ReadInt(path, meta, "optim_step"), ReadFloat(path, meta, "optim_lr")));
        }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException)
        {
            throw new CorruptFileException(path, $"tensors do not fit the configured UNet (width {config.BaseChannels}, {config.ResBlocks} blocks): {e.Message}");
        }
        if (ReadULong(path, meta, "rng_seed") != trainer.Rng.Seed)
            throw new CorruptFileException(path, $"random seed {meta["rng_seed"]} differs from the config's {config.Seed}");
        trainer.Step = ReadInt(path, meta, "step");
        trainer.Rng.Offset = ReadULong(path, meta, "rng_offset");
        return trainer;
    }

    /// <summary>
    /// Writes the EMA weights (<c>ema.*</c>), the config and the step, plus <paramref name="notes"/> (e.g. the command
    /// and training time) as metadata. The result loads with <see cref="LoadSampling"/>, not as a trainer.
    /// </summary>
    public static void SaveSampling(string path, DiffusionTrainer trainer, IReadOnlyDictionary<string, string>? notes = null)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        var tensors = trainer.Ema.StateDict().ToDictionary(kv => "ema." + kv.Key, kv => kv.Value);
        var meta = new Dictionary<string, string>(notes ?? new Dictionary<string, string>())
        {
            ["format"] = SamplingFormat,
            ["config"] = JsonSerializer.Serialize(trainer.Config, Json),
            ["step"] = Invariant(trainer.Step),
        };
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        SafeTensors.Save(path, tensors, meta);
    }

    /// <summary>
    /// The EMA network of a training checkpoint (<see cref="Save"/>) or of an EMA-only one (<see cref="SaveSampling"/>),
    /// with its config, step and metadata. Errors as for <see cref="Load"/>.
    /// </summary>
    public static TrainedDiffusion LoadSampling(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        var meta = SafeTensors.ReadHeader(path).Metadata;
        if (meta.GetValueOrDefault("format") == Format)
        {
            var trainer = Load(path);
            return new TrainedDiffusion(trainer.Config, trainer.EmaModel(), trainer.Step, meta);
        }
        if (meta.GetValueOrDefault("format") != SamplingFormat)
            throw new CorruptFileException(path, $"not a DDPM checkpoint (format '{meta.GetValueOrDefault("format") ?? meta.GetValueOrDefault("model") ?? "none"}', expected '{Format}' or '{SamplingFormat}')");
        var content = SafeTensors.Load(path);
        var config = ReadConfig(path, content.Metadata);
        int step = ReadInt(path, content.Metadata, "step");
        var model = new UNet(config.Network, new Engine.Random.Generator(0));
        try
        {
            model.LoadStateDict(content.Tensors.Where(kv => kv.Key.StartsWith("ema.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key[4..], kv => kv.Value));
        }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException)
        {
            throw new CorruptFileException(path, $"tensors do not fit the configured UNet (width {config.BaseChannels}, {config.ResBlocks} blocks): {e.Message}");
        }
        return new TrainedDiffusion(config, model, step, content.Metadata);
    }

    /// <summary>The config and step of a checkpoint (either kind), read from its header only.</summary>
    public static (DiffusionConfig Config, int Step) Peek(string path)
    {
        var meta = SafeTensors.ReadHeader(path).Metadata;
        if (!meta.TryGetValue("format", out var format) || (format != Format && format != SamplingFormat))
            throw new CorruptFileException(path, $"not a DDPM checkpoint (format '{format ?? "none"}', expected '{Format}')");
        return (ReadConfig(path, meta), ReadInt(path, meta, "step"));
    }

    /// <summary>The run's config from the metadata, validated; an unreadable one is a <see cref="CorruptFileException"/>.</summary>
    static DiffusionConfig ReadConfig(string path, IReadOnlyDictionary<string, string> meta)
    {
        try
        {
            var config = JsonSerializer.Deserialize<DiffusionConfig>(Required(path, meta, "config"), Json)
                ?? throw new CorruptFileException(path, "the config is null");
            config.Validate();
            return config;
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new CorruptFileException(path, $"unreadable config: {e.Message}");
        }
    }

    static string Invariant<T>(T value) where T : IFormattable => value.ToString(null, CultureInfo.InvariantCulture);

    static string Required(string path, IReadOnlyDictionary<string, string> meta, string key) =>
        meta.TryGetValue(key, out var v) ? v : throw new CorruptFileException(path, $"metadata '{key}' is missing");

    static int ReadInt(string path, IReadOnlyDictionary<string, string> meta, string key) =>
        int.TryParse(Required(path, meta, key), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw new CorruptFileException(path, $"metadata '{key}' = '{meta[key]}' is not a non-negative integer");

    static ulong ReadULong(string path, IReadOnlyDictionary<string, string> meta, string key) =>
        ulong.TryParse(Required(path, meta, key), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw new CorruptFileException(path, $"metadata '{key}' = '{meta[key]}' is not a non-negative integer");

    static float ReadFloat(string path, IReadOnlyDictionary<string, string> meta, string key) =>
        float.TryParse(Required(path, meta, key), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && float.IsFinite(v) ? v
            : throw new CorruptFileException(path, $"metadata '{key}' = '{meta[key]}' is not a finite number");
}

/// <summary>A trained denoiser ready to sample: its config, the EMA network, the training step and the checkpoint's metadata.</summary>
public sealed record TrainedDiffusion(DiffusionConfig Config, UNet Model, int Step, IReadOnlyDictionary<string, string> Metadata)
{
    public NoiseSchedule Schedule { get; } = NoiseSchedule.Create(Config.Schedule, Config.Timesteps);

    /// <summary>A sampler over the model's schedule and parameterisation.</summary>
    public Sampler Sampler() => new(Schedule, Config.Prediction);

    /// <summary>The variational bound over the model's schedule (for bits/dim).</summary>
    public VariationalBound Bound() => new(Schedule, Config.Prediction);
}
