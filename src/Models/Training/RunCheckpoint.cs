using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Engine;
using Engine.IO;

namespace Models.Training;

/// <summary>What a run checkpoint says about itself, readable from the header alone.</summary>
/// <param name="Family">The family registered name, e.g. <c>ddpm</c>.</param>
/// <param name="Config">The family's config as JSON: everything that defines the run.</param>
/// <param name="Step">Completed training steps.</param>
/// <param name="Command">The command line that started (or last resumed) the run.</param>
/// <param name="EngineVersion">The engine version that wrote the file.</param>
/// <param name="TrainSeconds">Training time summed over every session of the run.</param>
public sealed record RunInfo(string Family, string Config, int Step, string Command = "", string EngineVersion = "", double TrainSeconds = 0);

/// <summary>
/// The one run-checkpoint format of every family: a safetensors file holding a <see cref="RunState"/>'s tensors
/// (<c>model.*</c>, <c>ema.*</c>, <c>optim.*</c>, …) and in its metadata <c>format</c> = <see cref="Format"/>,
/// <c>format_version</c>, <c>family</c>, <c>config</c> (JSON), <c>step</c>, <c>command</c>, <c>engine_version</c>,
/// <c>train_seconds</c> and the state's values as <c>state.NAME</c>; plus a readable <c>F.json</c> sidecar. Both are
/// written to a temporary name and renamed.
/// </summary>
/// <example><c>RunCheckpoint.Save("runs/ddpm/ddpm.safetensors", run.Info(), run.SaveState()); var (info, state) = RunCheckpoint.Load(path, "ddpm");</c></example>
public static class RunCheckpoint
{
    public const string Format = "engine.run";

    /// <summary>The layout version this engine writes; files of a newer version are refused.</summary>
    public const int Version = 1;

    /// <summary>The engine's version, as stored in checkpoints.</summary>
    public static string EngineVersion { get; } =
        typeof(RunCheckpoint).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
        ?? typeof(RunCheckpoint).Assembly.GetName().Version?.ToString() ?? "0";

    const string StatePrefix = "state.";

    /// <summary>How messages name a family (<c>ddpm</c> → DDPM).</summary>
    public static string DisplayName(string family) => family switch
    {
        "ddpm" => "DDPM", "dit" => "DiT", "mmdit" => "MM-DiT", "gan" => "GAN", "vae" => "VAE", "pixelcnn" => "PixelCNN",
        "cfm" => "CFM", "rectified" => "rectified-flow", _ => family,
    };

    public static void Save(string path, RunInfo info, RunState state)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(state);
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["format_version"] = Version.ToString(CultureInfo.InvariantCulture),
            ["family"] = info.Family,
            ["config"] = info.Config,
            ["step"] = info.Step.ToString(CultureInfo.InvariantCulture),
            ["command"] = info.Command,
            ["engine_version"] = string.IsNullOrEmpty(info.EngineVersion) ? EngineVersion : info.EngineVersion,
            ["train_seconds"] = info.TrainSeconds.ToString("F1", CultureInfo.InvariantCulture),
        };
        foreach (var (k, v) in state.Values) meta[StatePrefix + k] = v;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        SafeTensors.Save(path, state.Tensors, meta);
        string config;
        try { config = JsonSerializer.Serialize(JsonDocument.Parse(info.Config).RootElement, Indented); }
        catch (JsonException) { config = JsonSerializer.Serialize(info.Config); }
        AtomicFile.WriteAllText(path + ".json",
            $"{{\n  \"format\": \"{Format}\",\n  \"format_version\": {Version},\n  \"family\": {JsonSerializer.Serialize(info.Family)},\n  \"step\": {info.Step},\n  \"config\": {config.Replace("\n", "\n  ")}\n}}\n");
    }

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Whether <paramref name="metadata"/> is a run checkpoint's (of any family or version).</summary>
    public static bool IsRun(IReadOnlyDictionary<string, string> metadata) => metadata.GetValueOrDefault("format") == Format;

    /// <summary>The header of a run checkpoint of <paramref name="family"/> (null: any family), read without its tensors.</summary>
    public static RunInfo Peek(string path, string? family = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        return Info(path, SafeTensors.ReadHeader(path).Metadata, family);
    }

    /// <summary>
    /// Reads a run checkpoint of <paramref name="family"/>. A missing file is a <see cref="FileNotFoundException"/>;
    /// another family or a newer version a <see cref="CorruptFileException"/>; a damaged file a <see cref="CorruptFileException"/>.
    /// </summary>
    public static (RunInfo Info, RunState State) Load(string path, string family)
    {
        var info = Peek(path, family);
        var content = SafeTensors.Load(path);
        var state = new RunState();
        foreach (var (k, t) in content.Tensors) state.Tensors[k] = t;
        foreach (var (k, v) in content.Metadata)
            if (k.StartsWith(StatePrefix, StringComparison.Ordinal)) state.Values[k[StatePrefix.Length..]] = v;
        return (info, state);
    }

    /// <summary>
    /// Rebuilds the run saved at <paramref name="path"/>: reads the header and state, the config (validated by
    /// <paramref name="validate"/> before anything is built from it), builds the run from the config and restores its state.
    /// Every problem with the file is a <see cref="CorruptFileException"/> naming it.
    /// </summary>
    public static TRun Resume<TConfig, TRun>(string path, string family, Action<TConfig> validate, Func<TConfig, TRun> build, out RunInfo info,
        JsonSerializerOptions? json = null) where TConfig : class where TRun : ITrainingRun
    {
        var run = Rebuild(path, family, validate, build, (r, s) => r.LoadState(s), out info, json);
        if (run.Step != info.Step) throw new CorruptFileException(path, $"the state is at step {run.Step}, the header says {info.Step}");
        return run;
    }

    /// <summary>
    /// What <see cref="Resume"/> does for anything saved with a config and a <see cref="RunState"/>: the config read and
    /// validated before <paramref name="build"/> makes the object, then <paramref name="load"/> restores its state.
    /// </summary>
    public static T Rebuild<TConfig, T>(string path, string family, Action<TConfig> validate, Func<TConfig, T> build, Action<T, RunState> load,
        out RunInfo info, JsonSerializerOptions? json = null) where TConfig : class
    {
        var (header, state) = Load(path, family);
        info = header;
        var config = ReadConfig<TConfig>(path, header, json);
        try { validate(config); }
        catch (ArgumentException e) { throw new CorruptFileException(path, e.Message); }
        var built = build(config);
        Restore(path, () => load(built, state));
        return built;
    }

    /// <summary>Runs <paramref name="restore"/> (a family's LoadState), turning what it throws about the file's content into a <see cref="CorruptFileException"/> naming the file.</summary>
    public static void Restore(string path, Action restore)
    {
        try { restore(); }
        catch (InvalidDataException e) { throw new CorruptFileException(path, e.Message); }
    }

    /// <summary>
    /// The config stored in <paramref name="info"/> as <typeparamref name="TConfig"/>; unreadable JSON is a
    /// <see cref="CorruptFileException"/> naming the file, the family and the JSON error.
    /// </summary>
    public static TConfig ReadConfig<TConfig>(string path, RunInfo info, JsonSerializerOptions? options = null) where TConfig : class
    {
        try
        {
            return JsonSerializer.Deserialize<TConfig>(info.Config, options) ?? throw new CorruptFileException(path, $"the {info.Family} config is null");
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException or FormatException or InvalidOperationException)
        {
            throw new CorruptFileException(path, $"the {info.Family} config cannot be read as {typeof(TConfig).Name}: {e.Message}");
        }
    }

    static RunInfo Info(string path, IReadOnlyDictionary<string, string> meta, string? family)
    {
        string found = meta.GetValueOrDefault("format") ?? "none";
        if (found != Format)
        {
            string what = meta.GetValueOrDefault("family") ?? meta.GetValueOrDefault("model") ?? found;
            throw new CorruptFileException(path, family is null
                ? $"not a training-run checkpoint (format '{found}', expected '{Format}')"
                : $"not a {DisplayName(family)} checkpoint (it holds '{what}', format '{found}', expected '{Format}')");
        }
        int version = ReadInt(path, meta, "format_version");
        if (version > Version)
            throw new CorruptFileException(path, $"format version {version} is newer than this engine reads ({Version}); update the engine");
        string fam = Required(path, meta, "family");
        if (family is not null && fam != family)
            throw new CorruptFileException(path, $"not a {DisplayName(family)} checkpoint: it is a {DisplayName(fam)} run (family '{fam}', expected '{family}')");
        double seconds = double.TryParse(meta.GetValueOrDefault("train_seconds"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && double.IsFinite(s) && s >= 0 ? s : 0;
        return new RunInfo(fam, Required(path, meta, "config"), ReadInt(path, meta, "step"), meta.GetValueOrDefault("command", ""),
            meta.GetValueOrDefault("engine_version", ""), seconds);
    }

    static string Required(string path, IReadOnlyDictionary<string, string> meta, string key) =>
        meta.TryGetValue(key, out var v) ? v : throw new CorruptFileException(path, $"metadata '{key}' is missing");

    static int ReadInt(string path, IReadOnlyDictionary<string, string> meta, string key) =>
        int.TryParse(Required(path, meta, key), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw new CorruptFileException(path, $"metadata '{key}' = '{meta[key]}' is not a non-negative integer");
}
