namespace Engine;

/// <summary>
/// Walks the rows (last axis) of an N-d shape for up to three operands laid out with their own strides and
/// offsets, so strided and broadcast (stride 0) views can be read without copying. The innermost row is handed
/// to a kernel with its two strides.
/// </summary>
internal static class Strided
{
    public delegate void Row2(int outOffset, int aOffset, int bOffset);

    /// <summary>Calls <paramref name="row"/> once per row of <paramref name="shape"/> (rank ≥ 1), with each operand's start offset.</summary>
    public static void ForEachRow(int[] shape, int[] outStrides, int outOffset, int[] aStrides, int aOffset, int[] bStrides, int bOffset, Row2 row)
    {
        int rank = shape.Length;
        if (rank == 0) { row(outOffset, aOffset, bOffset); return; }
        int outer = 1;
        for (int i = 0; i < rank - 1; i++) outer *= shape[i];
        if (outer == 0 || shape[rank - 1] == 0) return;
        var idx = new int[Math.Max(rank - 1, 0)];
        int o = outOffset, a = aOffset, b = bOffset;
        for (int r = 0; r < outer; r++)
        {
            row(o, a, b);
            for (int d = rank - 2; d >= 0; d--)
            {
                idx[d]++; o += outStrides[d]; a += aStrides[d]; b += bStrides[d];
                if (idx[d] < shape[d]) break;
                o -= outStrides[d] * shape[d]; a -= aStrides[d] * shape[d]; b -= bStrides[d] * shape[d];
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
