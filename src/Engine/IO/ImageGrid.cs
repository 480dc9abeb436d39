namespace Engine.IO;

/// <summary>
/// Tiles a batch of images into one picture, the way samples are inspected during training: <c>columns</c> tiles
/// per row, <c>padding</c> pixels of <c>padValue</c> around and between tiles.
/// </summary>
/// <example><c>ImageGrid.Write("samples.png", samples, columns: 8, signedRange: true); // samples (N, C, H, W) in [-1, 1]</c></example>
public static class ImageGrid
{
    /// <summary>Writes <paramref name="images"/> (N, C, H, W), C 1 or 3, as a PNG grid at <paramref name="path"/>, atomically.</summary>
    /// <param name="signedRange">Values are in [-1, 1] (mapped to [0, 1]); otherwise they are already in [0, 1]. Values outside are clamped.</param>
    public static void Write(string path, Tensor images, int columns = 8, int padding = 2, bool signedRange = false, float padValue = 0f)
    {
        var grid = Compose(images, columns, padding, signedRange, padValue);
        Png.Write(path, grid.Pixels, grid.Width, grid.Height, grid.Channels);
    }

    /// <summary>The grid as 8-bit pixels, without writing a file.</summary>
    public static PngImage Compose(Tensor images, int columns = 8, int padding = 2, bool signedRange = false, float padValue = 0f)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Rank != 4 || (images.Shape[1] != 1 && images.Shape[1] != 3) || images.Shape[0] == 0 || images.Shape[2] == 0 || images.Shape[3] == 0)
            throw new ShapeMismatchException($"ImageGrid: images have shape {Shapes.Format(images.Shape)}; expected (N, C, H, W) with N, H, W > 0 and C 1 or 3");
        if (columns <= 0) throw new ArgumentException($"ImageGrid: columns must be positive, got {columns}");
        if (padding < 0) throw new ArgumentException($"ImageGrid: padding must be non-negative, got {padding}");
        if (!float.IsFinite(padValue)) throw new ArgumentException($"ImageGrid: padValue must be finite, got {padValue}");

        int n = images.Shape[0], c = images.Shape[1], h = images.Shape[2], w = images.Shape[3];
        var values = images.Contiguous().Span;                                     // (N, C, H, W)
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new NonFiniteException($"ImageGrid: images of shape {Shapes.Format(images.Shape)} contain {values[i]} at flat index {i}");

        int cols = Math.Min(columns, n), rows = (n + cols - 1) / cols;
        long gridW = padding + (long)cols * (w + padding), gridH = padding + (long)rows * (h + padding);
        if (gridW * gridH > Png.MaxPixels)
            throw new ArgumentException($"ImageGrid: a {gridW}x{gridH} grid is above the limit of {Png.MaxPixels} pixels");
        int gw = (int)gridW, gh = (int)gridH;

        var pixels = new byte[gw * gh * c];                                          // (gridH, gridW, C)
        Array.Fill(pixels, ToByte(padValue));
        for (int k = 0; k < n; k++)
        {
            int x0 = padding + (k % cols) * (w + padding), y0 = padding + (k / cols) * (h + padding);
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                {
                    var src = values.Slice(((k * c + ch) * h + y) * w, w);
                    int dst = ((y0 + y) * gw + x0) * c + ch;
                    for (int x = 0; x < w; x++, dst += c)
                        pixels[dst] = ToByte(signedRange ? (src[x] + 1f) * 0.5f : src[x]);
                }
        }
        return new PngImage(pixels, gw, gh, c);
    }

    static byte ToByte(float v) => (byte)Math.Round(Math.Clamp(v, 0f, 1f) * 255f);
}
