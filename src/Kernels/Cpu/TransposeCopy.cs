namespace Kernels.Cpu;

/// <summary>
/// The copy behind making a transposed view contiguous: dst[r·cols + c] = src[c·srcStride + r] for r &lt; rows,
/// c &lt; cols, where dst is row-major and src steps by 1 along the rows and by srcStride along the columns (a
/// matrix stored column by column). <see cref="Reference"/> walks dst in order, reading src a column step apart;
/// <see cref="Blocked"/> goes tile by tile so that both sides stay within a few cache lines at a time, 16×16 tiles
/// through registers where AVX-512 runs (<see cref="GemmPacking.Transpose16"/>).
/// </summary>
public static class TransposeCopy
{
    /// <summary>Edge of the square tiles of <see cref="Blocked"/>: 16 rows of 16 floats is 16 cache lines on each side.</summary>
    public const int Tile = 16;

    public static void Reference(ReadOnlySpan<float> src, int srcOffset, int srcStride, int rows, int cols, Span<float> dst, int dstOffset)
    {
        Check(src, srcOffset, srcStride, rows, cols, dst, dstOffset);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                dst[dstOffset + r * cols + c] = src[srcOffset + c * srcStride + r];
    }

    public static unsafe void Blocked(ReadOnlySpan<float> src, int srcOffset, int srcStride, int rows, int cols, Span<float> dst, int dstOffset)
    {
        Check(src, srcOffset, srcStride, rows, cols, dst, dstOffset);
        if (rows == 0 || cols == 0) return;
        int done = 0;
        if (Vec512.IsAccelerated)
        {
            // Whole groups of 16 columns: 16×16 tiles through registers, each dst row segment one 16-float store.
            done = cols / Tile * Tile;
            fixed (float* s = src, d = dst)
                for (int c0 = 0; c0 < done; c0 += Tile)
                    for (int r0 = 0; r0 < rows; r0 += Tile)
                        GemmPacking.Transpose16(s + srcOffset + (nint)c0 * srcStride + r0, srcStride, Tile, Math.Min(Tile, rows - r0),
                            d + dstOffset + (nint)r0 * cols + c0, cols);
        }
        for (int r0 = 0; r0 < rows; r0 += Tile)
        {
            int r1 = Math.Min(rows, r0 + Tile);
            for (int c0 = done; c0 < cols; c0 += Tile)
            {
                int c1 = Math.Min(cols, c0 + Tile);
                for (int c = c0; c < c1; c++)
                {
                    var column = src.Slice(srcOffset + c * srcStride + r0, r1 - r0);      // contiguous in src
                    for (int r = r0, at = dstOffset + r0 * cols + c; r < r1; r++, at += cols) dst[at] = column[r - r0];
                }
            }
        }
    }

    static void Check(ReadOnlySpan<float> src, int srcOffset, int srcStride, int rows, int cols, Span<float> dst, int dstOffset)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(nameof(rows), $"TransposeCopy: negative size {rows}×{cols}");
        if (rows == 0 || cols == 0) return;
        if (srcStride < rows) throw new ArgumentException($"TransposeCopy: column step {srcStride} is shorter than the {rows} rows");
        if (srcOffset < 0 || (long)srcOffset + (long)(cols - 1) * srcStride + rows > src.Length)
            throw new ArgumentException($"TransposeCopy: a {rows}×{cols} matrix at {srcOffset} with column step {srcStride} does not fit in {src.Length} floats");
        if (dstOffset < 0 || (long)dstOffset + (long)rows * cols > dst.Length)
            throw new ArgumentException($"TransposeCopy: {rows}×{cols} floats at {dstOffset} do not fit in {dst.Length}");
    }
}
