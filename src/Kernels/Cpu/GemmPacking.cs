using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Cpu;

/// <summary>
/// The AVX-512 packing of the 14×32 tile (<see cref="Avx512Shape"/>): copies blocks of op(A) and op(B) into the
/// layouts the micro-kernel streams through: A as micro-panels of R rows (for each k-step, R consecutive floats),
/// B as micro-panels of 32 columns (for each k-step, 32 consecutive floats). Short panels at the edges are
/// zero-padded, so the kernel always computes a whole tile. Transposition happens here, in 16×16 register blocks,
/// and edges use masked loads and stores. <see cref="GemmPackingPortable{TShape}"/> is the same contract in plain loops.
/// </summary>
internal static unsafe class GemmPacking
{
    const int Mr = GemmMicroKernel.Mr, Nr = GemmMicroKernel.Nr;

    /// <summary>Floats a packed panel may write past its end (the overlapping 16-wide stores of short panels).</summary>
    public const int Slack = 16;

    /// <summary>The kernel height used for an A panel holding <paramref name="rows"/> (≤ 14) live rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PanelRows(int rows) => rows <= 4 ? 4 : rows <= 8 ? 8 : Mr;

    /// <summary>
    /// Packs op(A)[i0.., p0..p0+kc] (<paramref name="rows"/> rows) into <paramref name="dst"/>: the panel of rows
    /// ir.. starts at dst + ir·kc.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(bool transA, float* a, nint lda, int i0, int rows, int p0, int kc, float* dst)
    {
        if (transA)
        {
            // Stored A is k×m: each k-step is a contiguous run of the block's rows; read it once, left to right,
            // and deal it out to the panels (masked, so nothing spills into a neighbouring panel).
            int full = rows / Mr * Mr, h = rows - full, r = PanelRows(h);
            Vector512<float> whole = FirstLanes(Mr), live = FirstLanes(h), step = FirstLanes(r);
            for (int p = 0; p < kc; p++)
            {
                float* src = a + (nint)(p0 + p) * lda + i0;
                float* d = dst + (nint)p * Mr;
                int ir = 0;
                for (; ir < full; ir += Mr, d += (nint)Mr * kc)
                    Avx512F.MaskStore(d, whole, Avx512F.MaskLoad(src + ir, whole, Vector512<float>.Zero));
                if (h > 0)
                    Avx512F.MaskStore(dst + (nint)ir * kc + (nint)p * r, step, Avx512F.MaskLoad(src + ir, live, Vector512<float>.Zero));
            }
            return;
        }
        for (int ir = 0; ir < rows; ir += Mr)
        {
            int h = Math.Min(Mr, rows - ir), r = PanelRows(h);
            // A 16-row transpose covers the ≤ 14 live rows; its 16-wide results overlap the next step and are overwritten.
            TransposeRows(a + (nint)(i0 + ir) * lda + p0, lda, h, kc, dst + (nint)ir * kc, r);
        }
    }

    /// <summary>
    /// Packs op(B)[p0..p0+kc, j0..j0+cols] into <paramref name="dst"/>: the panel of columns jr.. starts at dst + jr·kc.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB(bool transB, float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst)
    {
        if (!transB) { PackBRows(b, ldb, p0, kc, j0, cols, dst); return; }
        for (int jr = 0; jr < cols; jr += Nr)
        {
            int w = Math.Min(Nr, cols - jr);
            float* panel = dst + (nint)jr * kc;
            // Stored B is n×k: column j of op(B) is a contiguous row; transpose 16 of them at a time.
            float* src = b + (nint)(j0 + jr) * ldb + p0;
            TransposeRows(src, ldb, Math.Min(16, w), kc, panel, Nr);
            TransposeRows(src + 16 * ldb, ldb, Math.Max(0, w - 16), kc, panel + 16, Nr);
        }
    }

    /// <summary>
    /// Packs B (not transposed) a group of panels at a time, row by row: each k-step reads a contiguous 1 KB of a
    /// row of B and writes a few sequential panel streams (one stream per panel would be too many for the caches).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackBRows(float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst)
    {
        const int Group = 8 * Nr;
        for (int g = 0; g < cols; g += Group)
        {
            int gCols = Math.Min(Group, cols - g), full = gCols / Nr * Nr, w = gCols - full;
            var m0 = FirstLanes(Math.Min(16, w)); var m1 = FirstLanes(Math.Max(0, w - 16));
            for (int p = 0; p < kc; p++)
            {
                float* src = b + (nint)(p0 + p) * ldb + j0 + g;
                float* d = dst + (nint)g * kc + (nint)p * Nr;
                int jr = 0;
                for (; jr < full; jr += Nr, d += (nint)Nr * kc)
                {
                    Vector512.Load(src + jr).Store(d);
                    Vector512.Load(src + jr + 16).Store(d + 16);
                }
                if (w > 0)
                {
                    Avx512F.MaskLoad(src + jr, m0, Vector512<float>.Zero).Store(d);
                    Avx512F.MaskLoad(src + jr + 16, m1, Vector512<float>.Zero).Store(d + 16);
                }
            }
        }
    }

    /// <summary>A mask with the first <paramref name="count"/> (0..16) lanes set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> FirstLanes(int count) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();

    /// <summary>
    /// dst[p·dstStep + i] = src[i·srcStride + p] for i &lt; rows (≤ 16), p &lt; kc; slots i in [rows, 16) that land
    /// inside a step receive zeros. Writes 16 floats per step, so when dstStep &lt; 16 each step spills into the next,
    /// and the last one up to 16 − dstStep floats past the panel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void TransposeRows(float* src, nint srcStride, int rows, int kc, float* dst, int dstStep)
    {
        if (rows == 0)
        {
            for (int p = 0; p < kc; p++) Vector512<float>.Zero.Store(dst + (nint)p * dstStep);
            return;
        }
        for (int p0 = 0; p0 < kc; p0 += 16)
            Transpose16(src + p0, srcStride, rows, Math.Min(16, kc - p0), dst + (nint)p0 * dstStep, dstStep);
    }

    /// <summary>Row i of the block (its first <c>cols</c> floats, masked), or zeros past the live rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Row(float* src, nint stride, int i, int rows, int cols, Vector512<float> mask) =>
        i >= rows ? default : cols == 16 ? Vector512.Load(src + i * stride) : Avx512F.MaskLoad(src + i * stride, mask, default);

    static Vector512<float> Lo(Vector512<float> x, Vector512<float> y) => Avx512F.UnpackLow(x.AsDouble(), y.AsDouble()).AsSingle();
    static Vector512<float> Hi(Vector512<float> x, Vector512<float> y) => Avx512F.UnpackHigh(x.AsDouble(), y.AsDouble()).AsSingle();

    /// <summary>
    /// Transposes a 16×16 block (rows × cols live, cols ≥ 1): 16 loads, four shuffle stages, then one 16-wide
    /// store per live column, in ascending order (dead rows read as zero). AVX-512 only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Transpose16(float* src, nint stride, int rows, int cols, float* dst, nint dstStep)
    {
        var m = FirstLanes(cols);
        var r0 = Row(src, stride, 0, rows, cols, m); var r1 = Row(src, stride, 1, rows, cols, m); var r2 = Row(src, stride, 2, rows, cols, m); var r3 = Row(src, stride, 3, rows, cols, m);
        var r4 = Row(src, stride, 4, rows, cols, m); var r5 = Row(src, stride, 5, rows, cols, m); var r6 = Row(src, stride, 6, rows, cols, m); var r7 = Row(src, stride, 7, rows, cols, m);
        var r8 = Row(src, stride, 8, rows, cols, m); var r9 = Row(src, stride, 9, rows, cols, m); var r10 = Row(src, stride, 10, rows, cols, m); var r11 = Row(src, stride, 11, rows, cols, m);
        var r12 = Row(src, stride, 12, rows, cols, m); var r13 = Row(src, stride, 13, rows, cols, m); var r14 = Row(src, stride, 14, rows, cols, m); var r15 = Row(src, stride, 15, rows, cols, m);

        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);

        r0 = Lo(t0, t2); r1 = Hi(t0, t2); r2 = Lo(t1, t3); r3 = Hi(t1, t3);
        r4 = Lo(t4, t6); r5 = Hi(t4, t6); r6 = Lo(t5, t7); r7 = Hi(t5, t7);
        r8 = Lo(t8, t10); r9 = Hi(t8, t10); r10 = Lo(t9, t11); r11 = Hi(t9, t11);
        r12 = Lo(t12, t14); r13 = Hi(t12, t14); r14 = Lo(t13, t15); r15 = Hi(t13, t15);

        t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88);
        t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
        t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD);
        t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
        t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88);
        t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
        t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD);
        t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);

        Avx512F.Shuffle4x128(t0, t8, 0x88).Store(dst);
        if (cols > 1) Avx512F.Shuffle4x128(t1, t9, 0x88).Store(dst + dstStep);
        if (cols > 2) Avx512F.Shuffle4x128(t2, t10, 0x88).Store(dst + 2 * dstStep);
        if (cols > 3) Avx512F.Shuffle4x128(t3, t11, 0x88).Store(dst + 3 * dstStep);
        if (cols > 4) Avx512F.Shuffle4x128(t4, t12, 0x88).Store(dst + 4 * dstStep);
        if (cols > 5) Avx512F.Shuffle4x128(t5, t13, 0x88).Store(dst + 5 * dstStep);
        if (cols > 6) Avx512F.Shuffle4x128(t6, t14, 0x88).Store(dst + 6 * dstStep);
        if (cols > 7) Avx512F.Shuffle4x128(t7, t15, 0x88).Store(dst + 7 * dstStep);
        if (cols > 8) Avx512F.Shuffle4x128(t0, t8, 0xDD).Store(dst + 8 * dstStep);
        if (cols > 9) Avx512F.Shuffle4x128(t1, t9, 0xDD).Store(dst + 9 * dstStep);
        if (cols > 10) Avx512F.Shuffle4x128(t2, t10, 0xDD).Store(dst + 10 * dstStep);
        if (cols > 11) Avx512F.Shuffle4x128(t3, t11, 0xDD).Store(dst + 11 * dstStep);
        if (cols > 12) Avx512F.Shuffle4x128(t4, t12, 0xDD).Store(dst + 12 * dstStep);
        if (cols > 13) Avx512F.Shuffle4x128(t5, t13, 0xDD).Store(dst + 13 * dstStep);
        if (cols > 14) Avx512F.Shuffle4x128(t6, t14, 0xDD).Store(dst + 14 * dstStep);
        if (cols > 15) Avx512F.Shuffle4x128(t7, t15, 0xDD).Store(dst + 15 * dstStep);
    }
}
