using System.Reflection;

namespace Engine.Data;

/// <summary>
/// Fashion-MNIST: 28×28 greyscale pictures of clothing in 10 classes (60,000 train, 10,000 test; MIT licence,
/// Zalando SE). Images come back as (N, 1, 28, 28) in [0, 1].
/// <para>
/// <see cref="Load"/> looks in this order: the directory given (its files must be there, else
/// <see cref="MissingDataException"/>); <see cref="SystemDirectory"/> when it holds the split; otherwise the 10,000
/// test images embedded in this assembly. The embedded set is split so the two parts never overlap:
/// <see cref="DataSplit.Train"/> gets its first <see cref="EmbeddedTrainCount"/> images and
/// <see cref="DataSplit.Test"/> the remaining 1,000. <see cref="LoadEmbedded"/> returns all 10,000.
/// </para>
/// </summary>
/// <example><c>var train = FashionMnist.Load(); Console.WriteLine($"{train.Count} images from {train.Source}");</c></example>
public static class FashionMnist
{
    /// <summary>Where the system-wide copy is looked for when no directory is given.</summary>
    public const string SystemDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Images of the embedded 10k set used as the train split when only embedded data exists; the rest are the test split.</summary>
    public const int EmbeddedTrainCount = 9000;

    const string ResourcePrefix = "Engine.Data.Embedded.";

    /// <summary>The ten classes, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Loads <paramref name="split"/> from <paramref name="dataDir"/>, the system directory or the embedded set (see the class remarks).</summary>
    public static ImageDataset Load(string? dataDir = null, DataSplit split = DataSplit.Train) => Load(dataDir, split, SystemDirectory);

    /// <summary><see cref="Load(string?, DataSplit)"/> with the system directory given (tests point it elsewhere).</summary>
    internal static ImageDataset Load(string? dataDir, DataSplit split, string systemDirectory)
    {
        if (dataDir is not null)
        {
            var (images, labels) = FindFiles(dataDir, split);
            if (images is null || labels is null)
                throw new MissingDataException(
                    $"FashionMnist: '{dataDir}' lacks the {split} files {Prefix(split)}-images-idx3-ubyte[.gz] and {Prefix(split)}-labels-idx1-ubyte[.gz]");
            return FromFiles(images, labels);
        }
        var (sysImages, sysLabels) = FindFiles(systemDirectory, split);
        if (sysImages is not null && sysLabels is not null) return FromFiles(sysImages, sysLabels);

        var all = LoadEmbedded();
        return split == DataSplit.Train
            ? all.Slice(0, EmbeddedTrainCount)
            : all.Slice(EmbeddedTrainCount, all.Count - EmbeddedTrainCount);
    }

    /// <summary>The full 10,000-image test split embedded in the assembly.</summary>
    public static ImageDataset LoadEmbedded()
    {
        var images = ReadEmbedded("t10k-images-idx3-ubyte.gz");
        var labels = ReadEmbedded("t10k-labels-idx1-ubyte.gz");
        return Combine(images, labels, "embedded:t10k-images-idx3-ubyte.gz", "embedded:t10k-labels-idx1-ubyte.gz",
            "embedded Fashion-MNIST test split");
    }

    static IdxArray ReadEmbedded(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourcePrefix + name)
            ?? throw new MissingDataException($"FashionMnist: embedded resource '{ResourcePrefix + name}' is missing from {Assembly.GetExecutingAssembly().GetName().Name}");
        return Idx.ReadRaw(stream, "embedded:" + name);
    }

    static string Prefix(DataSplit split) => split == DataSplit.Train ? "train" : "t10k";

    static (string? Images, string? Labels) FindFiles(string dir, DataSplit split)
    {
        string? Find(string stem) =>
            new[] { stem + ".gz", stem }.Select(f => Path.Combine(dir, f)).FirstOrDefault(File.Exists);
        return (Find($"{Prefix(split)}-images-idx3-ubyte"), Find($"{Prefix(split)}-labels-idx1-ubyte"));
    }

    static ImageDataset FromFiles(string imagesPath, string labelsPath) =>
        Combine(Idx.ReadRaw(imagesPath), Idx.ReadRaw(labelsPath), imagesPath, labelsPath, imagesPath);

    static ImageDataset Combine(IdxArray rawImages, IdxArray rawLabels, string imagesSource, string labelsSource, string description)
    {
        var images = Idx.ToImages(rawImages, imagesSource);                         // (N, 1, 28, 28)
        var labels = Idx.ToLabels(rawLabels, labelsSource);
        if (images.Shape[2] != 28 || images.Shape[3] != 28)
            throw new CorruptFileException(imagesSource, $"Fashion-MNIST: images are {images.Shape[2]}x{images.Shape[3]}; expected 28x28");
        if (labels.Length != images.Shape[0])
            throw new CorruptFileException(labelsSource, $"Fashion-MNIST: {labels.Length} labels for {images.Shape[0]} images in {imagesSource}");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= ClassNames.Count)
                throw new CorruptFileException(labelsSource, $"Fashion-MNIST: label {labels[i]} at index {i}; expected 0 to {ClassNames.Count - 1}");
        return new ImageDataset(images, labels, ClassNames, description);
    }
}
