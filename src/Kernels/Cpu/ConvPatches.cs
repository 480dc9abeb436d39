using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Cpu;

// Dimension letters as in Conv.cs. P = Cg·Kh·Kw (patch size); a block is the output rows [oh0, oh1) of one image.

/// <summary>
/// Fills one block of the patch (im2col) matrix of one image and group: row p = (c, ki, kj) holds, for every
/// output position of the block, the input pixel under tap (ki, kj) of channel c, or zero where the tap falls in
/// the padding. Rows are <c>ld</c> floats apart; the columns past the block's live ones are zeroed, so a GEMM may
/// read whole 32-column panels. Padding may be negative (a crop), which the input gradient of a convolution needs
/// when it runs as a convolution of dy.
/// </summary>
internal static unsafe class ConvPatches
{
    /// <summary>
    /// Block [oh0, oh1) of the (P, L) patch matrix into <paramref name="dst"/> (P rows of <paramref name="ld"/> floats).
    /// <paramref name="x"/> points at the group's first input channel of the image.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Fill(in Conv2dGeometry g, float* x, int oh0, int oh1, float* dst, nint ld)
    {
        int ow = g.OutW, live = (oh1 - oh0) * ow, kw = g.KernelW;
        // Per tap column kj: the live output columns [lo, hi) and, for stride 1, the 16-lane read masks of a row copy.
        int vectors = (ow + 15) / 16;
        int* range = stackalloc int[2 * kw];
        Vector512<float>* masks = stackalloc Vector512<float>[kw * vectors];
        for (int kj = 0; kj < kw; kj++)
        {
            var (lo, hi) = ValidRange(kj * g.DilationW - g.PadW, g.StrideW, g.InW, ow);
            range[2 * kj] = lo; range[2 * kj + 1] = hi;
            for (int v = 0; v < vectors; v++)
            {
                var idx = Vector512<int>.Indices + Vector512.Create(16 * v);
                masks[kj * vectors + v] = (Vector512.GreaterThanOrEqual(idx, Vector512.Create(lo)) & Vector512.LessThan(idx, Vector512.Create(hi))).AsSingle();
            }
        }
        var tail = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(ow - 16 * (vectors - 1))).AsSingle();
        float* row = dst;
        for (int c = 0; c < g.InPerGroup; c++)
        {
            float* plane = x + (nint)c * g.InPlane;
            for (int ki = 0; ki < g.KernelH; ki++)
                for (int kj = 0; kj < kw; kj++, row += ld)
                {
                    int offH = ki * g.DilationH - g.PadH, offW = kj * g.DilationW - g.PadW, lo = range[2 * kj], hi = range[2 * kj + 1];
                    Vector512<float>* m = masks + kj * vectors;
                    float* d = row;
                    for (int oh = oh0; oh < oh1; oh++, d += ow)
                    {
                        int ih = oh * g.StrideH + offH;
                        float* src = plane + (nint)ih * g.InW + offW;
                        if (ih < 0 || ih >= g.InH || lo >= hi) Zero(d, ow);
                        else if (g.StrideW != 1) GatherStrided(src, g.StrideW, d, lo, hi, ow);
                        else
                        {
                            // Masked-off lanes are neither read nor faulted on, so the padding costs nothing.
                            int v = 0;
                            for (; v < vectors - 1; v++) Avx512F.MaskLoad(src + 16 * v, m[v], Vector512<float>.Zero).Store(d + 16 * v);
                            Avx512F.MaskStore(d + 16 * v, tail, Avx512F.MaskLoad(src + 16 * v, m[v], Vector512<float>.Zero));
                        }
                    }
                    Zero(row + live, (int)ld - live);
                }
        }
    }

    /// <summary>
    /// The adjoint of <see cref="Fill"/>: adds block [oh0, oh1) of a (P, L) column matrix (rows <paramref name="ld"/>
    /// floats apart) into the input planes of the group at <paramref name="dx"/>, each entry onto the pixel it was read from.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScatterAdd(in Conv2dGeometry g, float* cols, nint ld, int oh0, int oh1, float* dx)
    {
        int ow = g.OutW, sw = g.StrideW;
        float* row = cols;
        for (int c = 0; c < g.InPerGroup; c++)
        {
            float* plane = dx + (nint)c * g.InPlane;
            for (int ki = 0; ki < g.KernelH; ki++)
                for (int kj = 0; kj < g.KernelW; kj++, row += ld)
                {
                    int offH = ki * g.DilationH - g.PadH, offW = kj * g.DilationW - g.PadW;
                    var (lo, hi) = ValidRange(offW, sw, g.InW, ow);
                    float* s = row;
                    for (int oh = oh0; oh < oh1; oh++, s += ow)
                    {
                        int ih = oh * g.StrideH + offH;
                        if (ih < 0 || ih >= g.InH) continue;
                        float* d = plane + (nint)ih * g.InW + offW;
                        for (int j = lo; j < hi; j++) d[(nint)j * sw] += s[j];
                    }
                }
        }
    }

    /// <summary>d[j] = src[j·stride] for j in [lo, hi), 0 for the rest of [0, n).</summary>
    static void GatherStrided(float* src, int stride, float* d, int lo, int hi, int n)
    {
        for (int j = 0; j < lo; j++) d[j] = 0;
        for (int j = lo; j < hi; j++) d[j] = src[(nint)j * stride];
        for (int j = hi; j < n; j++) d[j] = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Zero(float* d, int n)
    {
        int j = 0;
        for (; j + 16 <= n; j += 16) Vector512<float>.Zero.Store(d + j);
        if (j < n) Avx512F.MaskStore(d + j, Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n - j)).AsSingle(), Vector512<float>.Zero);
    }

    /// <summary>Output columns [lo, hi) whose input column ow·stride + offset lies inside [0, inSize).</summary>
    public static (int lo, int hi) ValidRange(int offset, int stride, int inSize, int outSize)
    {
        int lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
        int hi = inSize - 1 - offset < 0 ? 0 : (inSize - 1 - offset) / stride + 1;
        lo = Math.Min(lo, outSize);
        hi = Math.Clamp(hi, lo, outSize);
        return (lo, hi);
    }
}
