using Kernels.Cpu;

namespace Engine;

/// <summary>
/// Walks the rows (last axis) of an N-d shape for up to three operands laid out with their own strides and
/// offsets, so strided and broadcast (stride 0) views can be read without copying. Before the walk, adjacent axes
/// that every operand steps through as one (a contiguous block, or a broadcast over both) are merged, so a row is
/// as long as the layouts allow: adding a (B, C, 1, 1) bias to (B, C, H, W) walks rows of H·W, not of W.
/// </summary>
internal static class Strided
{
    public delegate void Row2(int outOffset, int aOffset, int bOffset);

    /// <summary>Rows of at least this many elements in all are spread over the threads.</summary>
    const long ParallelGrain = 1 << 16;

    /// <summary>A shape and the strides of the output and two operands over it, with mergeable axes merged.</summary>
    public sealed class Layout
    {
        public int[] Shape = [], Out = [], A = [], B = [];

        /// <summary>Elements per row (the last merged axis), and each operand's stride along it.</summary>
        public int Length => Shape[^1];
        public int OutStep => Out[^1];
        public int AStep => A[^1];
        public int BStep => B[^1];
    }

    /// <summary>
    /// <paramref name="shape"/> with axes of length 1 dropped and every pair of neighbouring axes merged where, for all
    /// three operands, stepping the outer axis once equals stepping the inner one through its whole length. A rank-0
    /// or all-ones shape becomes one row of one element.
    /// </summary>
    public static Layout Coalesce(int[] shape, int[] outStrides, int[] aStrides, int[] bStrides)
    {
        var s = new List<int>(); var o = new List<int>(); var a = new List<int>(); var b = new List<int>();
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 1) continue;
            int last = s.Count - 1;
            if (last >= 0 && o[last] == outStrides[i] * shape[i] && a[last] == aStrides[i] * shape[i] && b[last] == bStrides[i] * shape[i])
            {
                s[last] *= shape[i]; o[last] = outStrides[i]; a[last] = aStrides[i]; b[last] = bStrides[i];
                continue;
            }
            s.Add(shape[i]); o.Add(outStrides[i]); a.Add(aStrides[i]); b.Add(bStrides[i]);
        }
        if (s.Count == 0) { s.Add(1); o.Add(1); a.Add(1); b.Add(1); }
        return new Layout { Shape = [.. s], Out = [.. o], A = [.. a], B = [.. b] };
    }

    /// <summary>
    /// Calls <paramref name="row"/> once per row of <paramref name="layout"/> with each operand's start offset. Rows
    /// may run on several threads at once, so they must write disjoint outputs (each row writes its own).
    /// </summary>
    public static void ForEachRow(Layout layout, int outOffset, int aOffset, int bOffset, Row2 row)
    {
        var shape = layout.Shape;
        int rank = shape.Length;
        long outer = 1;
        for (int i = 0; i < rank - 1; i++) outer *= shape[i];
        if (outer == 0 || layout.Length == 0) return;
        if (outer == 1) { row(outOffset, aOffset, bOffset); return; }
        int threads = (int)Math.Min(Math.Min(Parallelism.MaxThreads, outer), outer * layout.Length / ParallelGrain);
        if (threads <= 1) { Rows(layout, 0, outer, outOffset, aOffset, bOffset, row); return; }
        Parallelism.Run(threads, c => Rows(layout, outer * c / threads, outer * (c + 1) / threads, outOffset, aOffset, bOffset, row));
    }

    /// <summary>Rows [first, end) of the walk, in order.</summary>
    static void Rows(Layout layout, long first, long end, int outOffset, int aOffset, int bOffset, Row2 row)
    {
        var shape = layout.Shape;
        int rank = shape.Length;
        var idx = new int[rank - 1];
        int o = outOffset, a = aOffset, b = bOffset;
        long rest = first;
        for (int d = rank - 2; d >= 0; d--)
        {
            idx[d] = (int)(rest % shape[d]); rest /= shape[d];
            o += idx[d] * layout.Out[d]; a += idx[d] * layout.A[d]; b += idx[d] * layout.B[d];
        }
        for (long r = first; r < end; r++)
        {
            row(o, a, b);
            for (int d = rank - 2; d >= 0; d--)
            {
                idx[d]++; o += layout.Out[d]; a += layout.A[d]; b += layout.B[d];
                if (idx[d] < shape[d]) break;
                o -= layout.Out[d] * shape[d]; a -= layout.A[d] * shape[d]; b -= layout.B[d] * shape[d];
                idx[d] = 0;
            }
        }
    }

    /// <summary>Strides of <paramref name="t"/> viewed at the broadcast shape <paramref name="shape"/>: 0 along broadcast axes.</summary>
    public static int[] BroadcastStrides(Tensor t, int[] shape)
    {
        var s = new int[shape.Length];
        int lead = shape.Length - t.Rank;
        for (int i = 0; i < t.Rank; i++) s[lead + i] = t.Shape[i] == 1 && shape[lead + i] != 1 ? 0 : t.Strides[i];
        return s;
    }
}
