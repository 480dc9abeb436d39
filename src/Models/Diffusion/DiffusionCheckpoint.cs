using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engine;
using Engine.IO;
using Models.Training;

namespace Models.Diffusion;

/// <summary>
/// DDPM checkpoints. A training run is a <see cref="RunCheckpoint"/> of family <c>ddpm</c>: the weights (<c>model.*</c>,
/// PyTorch names), the EMA weights (<c>ema.*</c>), AdamW's moments (<c>optim.*</c>), the config, the step and the random
/// stream's position — everything <see cref="DiffusionTrainer"/> needs to continue bit for bit — plus a JSON sidecar
/// (<c>F.json</c>). <see cref="SaveSampling"/> writes the EMA weights alone (a quarter of the size): what sampling and
/// evaluation need, and what the repository ships; <see cref="LoadSampling"/> reads either kind.
/// </summary>
public static class DiffusionCheckpoint
{
    /// <summary>The metadata value of <c>format</c> that marks an EMA-only DDPM checkpoint (sampling, evaluation).</summary>
    public const string SamplingFormat = "engine.ddpm-ema/1";

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    /// <summary>The config as stored in checkpoints.</summary>
    public static string ConfigJson(DiffusionConfig config) => JsonSerializer.Serialize(config, Json);

    /// <summary>Writes <paramref name="trainer"/> as a run checkpoint of family <c>ddpm</c>.</summary>
    public static void Save(string path, DiffusionTrainer trainer, string command = "", double trainSeconds = 0)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        RunCheckpoint.Save(path, new RunInfo(DdpmRun.FamilyName, ConfigJson(trainer.Config), trainer.Step, command, TrainSeconds: trainSeconds), State(trainer));
    }

    /// <summary>The trainer's state for a run checkpoint.</summary>
    public static RunState State(DiffusionTrainer trainer) =>
        RunState.Of(trainer.Model, trainer.Ema, trainer.Optimizer, "trainer", trainer.Rng, trainer.Step);

    /// <summary>Restores what <see cref="State"/> wrote into a trainer built from the same config.</summary>
    public static void Restore(DiffusionTrainer trainer, RunState state) =>
        trainer.Step = state.LoadInto(trainer.Model, trainer.Ema, trainer.Optimizer, "trainer", trainer.Rng);

    /// <summary>
    /// Restores a trainer saved by <see cref="Save"/>. A missing file is a <see cref="FileNotFoundException"/>;
    /// a file of another model, or one whose tensors or metadata do not fit, a <see cref="CorruptFileException"/>.
    /// </summary>
    public static DiffusionTrainer Load(string path) => Load(path, out _);

    /// <summary>As <see cref="Load(string)"/>, also giving the checkpoint's header.</summary>
    public static DiffusionTrainer Load(string path, out RunInfo info)
    {
        var (header, state) = RunCheckpoint.Load(path, DdpmRun.FamilyName);
        info = header;
        var trainer = new DiffusionTrainer(ReadConfig(path, header.Config));
        RunCheckpoint.Restore(path, () => Restore(trainer, state));
        if (trainer.Step != header.Step) throw new CorruptFileException(path, $"state step {trainer.Step} differs from the header's {header.Step}");
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
        if (RunCheckpoint.IsRun(meta))
        {
            var trainer = Load(path);
            return new TrainedDiffusion(trainer.Config, trainer.EmaModel(), trainer.Step, meta);
        }
        if (meta.GetValueOrDefault("format") != SamplingFormat)
            throw new CorruptFileException(path, $"not a DDPM checkpoint (format '{meta.GetValueOrDefault("format") ?? meta.GetValueOrDefault("model") ?? "none"}', expected '{RunCheckpoint.Format}' or '{SamplingFormat}')");
        var content = SafeTensors.Load(path);
        var config = ReadConfig(path, Required(path, content.Metadata, "config"));
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
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        var meta = SafeTensors.ReadHeader(path).Metadata;
        if (RunCheckpoint.IsRun(meta))
        {
            var info = RunCheckpoint.Peek(path, DdpmRun.FamilyName);
            return (ReadConfig(path, info.Config), info.Step);
        }
        if (!meta.TryGetValue("format", out var format) || format != SamplingFormat)
            throw new CorruptFileException(path, $"not a DDPM checkpoint (format '{format ?? "none"}', expected '{RunCheckpoint.Format}')");
        return (ReadConfig(path, Required(path, meta, "config")), ReadInt(path, meta, "step"));
    }

    /// <summary>The run's config from the metadata, validated; an unreadable one is a <see cref="CorruptFileException"/>.</summary>
    public static DiffusionConfig ReadConfig(string path, string json)
    {
        try
        {
            var config = JsonSerializer.Deserialize<DiffusionConfig>(json, Json)
                ?? throw new CorruptFileException(path, "the config is null");
            config.Validate();
            return config;
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException or FormatException or InvalidOperationException)
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
