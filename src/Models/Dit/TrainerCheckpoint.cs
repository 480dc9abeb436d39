using System.Text.Json;
using Engine;
using Engine.IO;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;

namespace Models.Dit;

/// <summary>
/// The checkpoint layout of the DiT trainers: one safetensors file with <c>model.*</c>, <c>ema.*</c> and
/// <c>optim.*</c> tensors and metadata (format, config JSON, step, RNG offset, optimizer step and rate), plus a
/// readable <c>path.json</c> sidecar; both written atomically. Enough to resume training exactly.
/// </summary>
public static class TrainerCheckpoint
{
    public static void Save<TConfig>(string path, string format, TConfig config, Module model, Ema ema, Optimizer optimizer, int step, Generator rng)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (n, p) in model.StateDict()) tensors["model." + n] = p;
        foreach (var (n, p) in ema.StateDict()) tensors["ema." + n] = p;
        var opt = optimizer.ExportState();
        foreach (var (n, p) in opt.Tensors) tensors["optim." + n] = p;
        SafeTensors.Save(path, tensors, new Dictionary<string, string>
        {
            ["format"] = format,
            ["config"] = JsonSerializer.Serialize(config),
            ["step"] = step.ToString(),
            ["rng_offset"] = rng.Offset.ToString(),
            ["optim_step"] = opt.Step.ToString(),
            ["optim_lr"] = opt.LearningRate.ToString("R"),
        });
        AtomicFile.WriteAllText(path + ".json", JsonSerializer.Serialize(new { format, step, config }, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads a checkpoint of <paramref name="format"/>: its config and a function that restores a freshly built trainer's state.</summary>
    public static (TConfig Config, int Step, Action<Module, Ema, Optimizer, Generator> Restore) Load<TConfig>(string path, string format, string what)
    {
        var content = SafeTensors.Load(path);
        var meta = content.Metadata;
        if (!meta.TryGetValue("format", out var found) || found != format)
            throw new InvalidDataException($"{path}: not {what} checkpoint (format '{found ?? "none"}', expected '{format}')");
        string Meta(string key) => meta.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"{path}: checkpoint metadata lacks '{key}'");
        var config = JsonSerializer.Deserialize<TConfig>(Meta("config")) ?? throw new InvalidDataException($"{path}: empty config");
        int step = int.Parse(Meta("step"));
        Dictionary<string, Tensor> Prefixed(string prefix) =>
            content.Tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        return (config, step, (model, ema, optimizer, rng) =>
        {
            model.LoadStateDict(Prefixed("model."));
            ema.LoadStateDict(Prefixed("ema."));
            optimizer.ImportState(new OptimizerState(Prefixed("optim."), int.Parse(Meta("optim_step")), float.Parse(Meta("optim_lr"))));
            rng.Offset = ulong.Parse(Meta("rng_offset"));
        });
    }
}
