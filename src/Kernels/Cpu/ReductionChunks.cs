namespace Kernels.Cpu;

/// <summary>
/// How a kernel that sums across its work items cuts them into chunks: each chunk summed into its own partial, the
/// partials added in chunk order. The count is fixed by the sizes alone — never by the thread count — so the sum, and
/// so a training run, is the same bit for bit on any number of threads; the threads only decide who runs which chunk.
/// </summary>
public static class ReductionChunks
{
    /// <summary>The most chunks a reduction is cut into (enough to balance up to this many threads).</summary>
    public const int MaxChunks = 16;

    /// <summary>The most floats the partial sums of one reduction may take together (16 MB).</summary>
    public const long MaxPartialFloats = 1L << 22;

    /// <summary>
    /// The chunk count for <paramref name="items"/> items of <paramref name="costPerItem"/> each: one when the work is
    /// below <paramref name="grain"/>, else up to <see cref="MaxChunks"/>, fewer where the partials of
    /// <paramref name="partialLength"/> floats each would pass <see cref="MaxPartialFloats"/> (but at least two).
    /// Cut the items with <see cref="VectorOps.Range"/>.
    /// </summary>
    public static int Count(int items, long costPerItem, long partialLength, long grain = 1 << 18)
    {
        if (items <= 1) return Math.Max(items, 0);
        if (items * costPerItem < grain) return 1;
        long byMemory = Math.Max(2, MaxPartialFloats / Math.Max(1, partialLength));
        return (int)Math.Min(Math.Min(items, MaxChunks), byMemory);
    }
}
