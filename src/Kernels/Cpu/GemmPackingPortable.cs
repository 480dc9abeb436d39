using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>
/// Packing for the tiles of any width, in plain loops (the AVX-512 tile has its own, <see cref="GemmPacking"/>):
/// op(A) as micro-panels of R rows (for each k-step, R consecutive floats; R = <c>PanelRows</c> of the
/// panel's live rows), op(B) as micro-panels of <c>nr</c> columns (for each k-step, nr consecutive floats). The panel of
/// rows ir.. starts at dst + ir·kc, the panel of columns jr.. at dst + jr·kc; short panels are zero-padded.
/// The tile sizes come from <typeparamref name="TShape"/>.
/// </summary>
internal static unsafe class GemmPackingPortable<TShape> where TShape : struct, IGemmShape
{
    /// <summary>Packs op(A)[i0..i0+rows, p0..p0+kc] in panels of up to Mr rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(bool transA, float* a, nint lda, int i0, int rows, int p0, int kc, float* dst)
    {
        int mr = TShape.Mr;
        for (int ir = 0; ir < rows; ir += mr)
        {
            int h = Math.Min(mr, rows - ir), r = TShape.PanelRows(h);
            float* panel = dst + (nint)ir * kc;
            if (transA)
                // Stored A is k×m: the rows of a k-step are contiguous.
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (nint)(p0 + p) * lda + i0 + ir;
                    float* d = panel + (nint)p * r;
                    int i = 0;
                    for (; i < h; i++) d[i] = src[i];
                    for (; i < r; i++) d[i] = 0;
                }
            else
            {
                // Stored A is m×k: read each row once, scatter it down its lane of the panel.
                for (int i = 0; i < h; i++)
                {
                    float* src = a + (nint)(i0 + ir + i) * lda + p0;
                    for (int p = 0; p < kc; p++) panel[(nint)p * r + i] = src[p];
                }
                for (int i = h; i < r; i++)
                    for (int p = 0; p < kc; p++) panel[(nint)p * r + i] = 0;
            }
        }
    }

    /// <summary>Packs op(B)[p0..p0+kc, j0..j0+cols] in panels of Nr columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB(bool transB, float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst)
    {
        int nr = TShape.Nr;
        for (int jr = 0; jr < cols; jr += nr)
        {
            int w = Math.Min(nr, cols - jr);
            float* panel = dst + (nint)jr * kc;
            if (!transB)
                // Stored B is k×n: each k-step of the panel is a contiguous piece of a row.
                for (int p = 0; p < kc; p++)
                {
                    new ReadOnlySpan<float>(b + (nint)(p0 + p) * ldb + j0 + jr, w).CopyTo(new Span<float>(panel + (nint)p * nr, w));
                    if (w < nr) new Span<float>(panel + (nint)p * nr + w, nr - w).Clear();
                }
            else
            {
                // Stored B is n×k: column j of op(B) is a contiguous row; scatter it down its lane.
                for (int j = 0; j < w; j++)
                {
                    float* src = b + (nint)(j0 + jr + j) * ldb + p0;
                    for (int p = 0; p < kc; p++) panel[(nint)p * nr + j] = src[p];
                }
                for (int j = w; j < nr; j++)
                    for (int p = 0; p < kc; p++) panel[(nint)p * nr + j] = 0;
            }
        }
    }
}
