using Engine.IO;

namespace Engine.Data;

/// <summary>
/// A folder of PNG files loaded into memory. Either every <c>*.png</c> directly in the folder (label 0, no class
/// names), or, with <c>labelsFromSubfolders</c>, one class per subfolder (sorted by name; the label is the index)
/// with the PNGs inside it. All images must have the same size; they are converted to 1 (grey) or 3 (RGB) channels.
/// A truncated, damaged or oversized PNG is a <see cref="CorruptFileException"/> naming the file (see <see cref="Png"/>
/// for the limits); memory is the output tensor plus one decoded image at a time.
/// </summary>
/// <example><c>var ds = ImageFolder.Load("data/faces", channels: 3); // (N, 3, H, W) in [0, 1]</c></example>
public static class ImageFolder
{
    /// <summary>Loads the PNGs under <paramref name="dir"/> as (N, C, H, W) in [0, 1], C = <paramref name="channels"/> (1 or 3).</summary>
    public static ImageDataset Load(string dir, int channels = 3, bool labelsFromSubfolders = false)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"ImageFolder.Load: channels must be 1 (grey) or 3 (RGB), got {channels}");
        if (!Directory.Exists(dir)) throw new MissingDataException($"ImageFolder: no directory at '{dir}'");

        var files = new List<(string Path, int Label)>();
        var classNames = new List<string>();
        if (labelsFromSubfolders)
        {
            foreach (var sub in Directory.GetDirectories(dir).Order(StringComparer.Ordinal))
            {
                foreach (var f in PngFiles(sub)) files.Add((f, classNames.Count));
                classNames.Add(Path.GetFileName(sub));
            }
            if (classNames.Count == 0) throw new MissingDataException($"ImageFolder: '{dir}' has no class subfolders");
        }
        else
        {
            foreach (var f in PngFiles(dir)) files.Add((f, 0));
        }
        if (files.Count == 0) throw new MissingDataException($"ImageFolder: no .png files found in '{dir}'{(labelsFromSubfolders ? " or its subfolders" : "")}");

        var first = Png.Read(files[0].Path, channels);
        int h = first.Height, w = first.Width, per = channels * h * w;
        if ((long)files.Count * per > Array.MaxLength)
            throw new ArgumentException($"ImageFolder.Load: the {files.Count} images of {w}x{h}x{channels} in '{dir}' do not fit in one tensor ({Array.MaxLength} values)");
        var values = new float[files.Count * per];                                   // (N, C, H, W)
        var labels = new int[files.Count];
        for (int i = 0; i < files.Count; i++)
        {
            var img = i == 0 ? first : Png.Read(files[i].Path, channels);
            if (img.Width != w || img.Height != h)
                throw new ShapeMismatchException($"ImageFolder: '{files[i].Path}' is {img.Width}x{img.Height} but '{files[0].Path}' is {w}x{h}; all images must have the same size");
            ToPlanar(img.Pixels, values.AsSpan(i * per, per), channels, h * w);
            labels[i] = files[i].Label;
        }
        return new ImageDataset(Tensor.Wrap(values, files.Count, channels, h, w), labels, classNames, dir);
    }

    static IEnumerable<string> PngFiles(string dir) =>
        Directory.EnumerateFiles(dir)
            .Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal);

    /// <summary>Interleaved (H, W, C) bytes to planar (C, H, W) floats in [0, 1].</summary>
    static void ToPlanar(byte[] src, Span<float> dst, int channels, int pixels)
    {
        for (int c = 0; c < channels; c++)
            for (int p = 0; p < pixels; p++)
                dst[c * pixels + p] = src[p * channels + c] / 255f;
    }
}
