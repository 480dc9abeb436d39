namespace Engine.Data;

/// <summary>
/// A labelled image set held in memory: <see cref="Images"/> (N, C, H, W) with values in [0, 1] and one class
/// index per image in <see cref="Labels"/>.
/// </summary>
public sealed class ImageDataset
{
    /// <summary>All images, (N, C, H, W), float32 in [0, 1].</summary>
    public Tensor Images { get; }

    /// <summary>Class index of each image, length N.</summary>
    public int[] Labels { get; }

    /// <summary>Human-readable class names, indexed by label; may be empty when the source has none.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Where the data came from (a path, or a description of the embedded set and the slice used).</summary>
    public string Source { get; }

    public int Count => Labels.Length;
    public int Channels => Images.Shape[1];
    public int Height => Images.Shape[2];
    public int Width => Images.Shape[3];

    public ImageDataset(Tensor images, int[] labels, IReadOnlyList<string>? classNames = null, string source = "")
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.Rank != 4)
            throw new ShapeMismatchException($"ImageDataset: images have shape {Shapes.Format(images.Shape)}; expected (N, C, H, W)");
        if (images.Shape[0] != labels.Length)
            throw new ShapeMismatchException($"ImageDataset: {images.Shape[0]} images of shape {Shapes.Format(images.Shape)} but {labels.Length} labels");
        classNames ??= [];
        if (classNames.Count > 0)
            foreach (var l in labels)
                if ((uint)l >= (uint)classNames.Count)
                    throw new ArgumentException($"ImageDataset: label {l} is outside the {classNames.Count} classes");
        Images = images; Labels = labels; ClassNames = classNames; Source = source;
    }

    /// <summary>Images <paramref name="start"/> .. <paramref name="start"/> + <paramref name="count"/> as a new dataset; the images are a view (no copy).</summary>
    public ImageDataset Slice(int start, int count)
    {
        if (start < 0 || count < 0 || start + (long)count > Count)
            throw new ArgumentOutOfRangeException(nameof(start), $"ImageDataset.Slice: [{start}, {start + (long)count}) is outside [0, {Count})");
        return new ImageDataset(Images.Narrow(0, start, count), Labels.AsSpan(start, count).ToArray(), ClassNames,
            $"{Source} [{start}, {start + count})");
    }
}
