using System.Globalization;
using Engine;
using Engine.IO;
using Engine.Nn;

namespace Models;

/// <summary>
/// A model as one safetensors file: its weights and buffers by name, plus string metadata naming the model,
/// its configuration and how it was made (command, steps, training time). Shared by the PixelCNN, VAE and GAN.
/// </summary>
public static class FamilyCheckpoint
{
    /// <summary>Writes <paramref name="model"/>'s state and <paramref name="metadata"/> (with <c>model</c> = <paramref name="modelName"/>) atomically, creating the folder.</summary>
    public static void Save(string path, Module model, string modelName, IReadOnlyDictionary<string, string> metadata)
    {
        var meta = new Dictionary<string, string>(metadata) { ["model"] = modelName };
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        SafeTensors.Save(path, model.StateDict(), meta);
    }

    /// <summary>Reads a checkpoint of <paramref name="modelName"/>; another model's file is a <see cref="CorruptFileException"/>.</summary>
    public static SafeTensorsContent Open(string path, string modelName)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        var content = SafeTensors.Load(path);
        if (!content.Metadata.TryGetValue("model", out var name) || name != modelName)
            throw new CorruptFileException(path, $"not a {modelName} checkpoint (model = '{name ?? "missing"}')");
        return content;
    }

    /// <summary>Copies the checkpoint's tensors into <paramref name="model"/>; names or shapes that do not fit are a <see cref="CorruptFileException"/>.</summary>
    public static void LoadInto(string path, SafeTensorsContent content, Module model)
    {
        try { model.LoadStateDict(content.Tensors); }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException)
        {
            throw new CorruptFileException(path, $"weights do not fit the configuration in its metadata: {e.Message}");
        }
    }

    /// <summary>An integer from the metadata, within [min, max], or a <see cref="CorruptFileException"/>.</summary>
    public static int Int(string path, SafeTensorsContent content, string key, int min, int max) =>
        content.Metadata.TryGetValue(key, out var s) && int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v : throw new CorruptFileException(path, $"metadata '{key}' missing or outside [{min}, {max}]");

    /// <summary>A metadata string, or <paramref name="fallback"/> when absent.</summary>
    public static string Text(SafeTensorsContent content, string key, string fallback = "") => content.Metadata.GetValueOrDefault(key, fallback);

    public static string Format(int v) => v.ToString(CultureInfo.InvariantCulture);
    public static string Format(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
