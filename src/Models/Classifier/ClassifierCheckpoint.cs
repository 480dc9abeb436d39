using System.Globalization;
using Engine;
using Engine.IO;
using Engine.Random;

namespace Models.Classifier;

/// <summary>
/// A <see cref="SmallConvNet"/> as a safetensors file: the weights by name, and its width, hidden size and
/// measured test accuracy in the metadata, so the evaluation metrics load the same network everywhere.
/// </summary>
public static class ClassifierCheckpoint
{
    public const string ModelName = "SmallConvNet";

    /// <summary>The classifier that defines FCD and conditional accuracy for this repository (trained by <c>engine train classifier</c>).</summary>
    public static string DefaultPath => Path.Combine("checkpoints", "fmnist-classifier.safetensors");

    public static void Save(string path, SmallConvNet model, double testAccuracy, string command)
    {
        var meta = new Dictionary<string, string>
        {
            ["model"] = ModelName,
            ["width"] = model.Width.ToString(CultureInfo.InvariantCulture),
            ["hidden"] = model.Hidden.ToString(CultureInfo.InvariantCulture),
            ["test_accuracy"] = testAccuracy.ToString("F4", CultureInfo.InvariantCulture),
            ["command"] = command,
        };
        SafeTensors.Save(path, model.StateDict(), meta);
    }

    /// <summary>Loads a classifier in eval mode; a file of another model or with missing metadata is a <see cref="CorruptFileException"/>.</summary>
    public static SmallConvNet Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"classifier checkpoint not found: {path} (train one with `engine train classifier`)", path);
        var content = SafeTensors.Load(path);
        var meta = content.Metadata;
        if (!meta.TryGetValue("model", out var name) || name != ModelName)
            throw new CorruptFileException(path, $"not a {ModelName} checkpoint (model = '{(name ?? "missing")}')");
        int width = ReadInt(path, meta, "width"), hidden = ReadInt(path, meta, "hidden");
        var model = new SmallConvNet(new Generator(0), width, hidden: hidden);
        try { model.LoadStateDict(content.Tensors); }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException)
        {
            throw new CorruptFileException(path, $"weights do not fit a {ModelName}(width {width}, hidden {hidden}): {e.Message}");
        }
        model.Eval();
        return model;
    }

    /// <summary>The test accuracy recorded when the checkpoint was written.</summary>
    public static double RecordedAccuracy(string path) =>
        double.Parse(SafeTensors.ReadHeader(path).Metadata.GetValueOrDefault("test_accuracy", "NaN"), CultureInfo.InvariantCulture);

    static int ReadInt(string path, Dictionary<string, string> meta, string key) =>
        meta.TryGetValue(key, out var s) && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 && v <= 4096
            ? v : throw new CorruptFileException(path, $"metadata '{key}' missing or invalid");
}
