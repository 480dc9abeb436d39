using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>
/// Row reductions shared by the memory-bound SIMD kernels (norms, softmax), written once for every vector width
/// <typeparamref name="V"/>: several accumulators while whole vectors remain, a scalar loop for the tail. Pointers,
/// because the callers pin their spans once to hand them to worker threads. The hot loops are compiled fully
/// optimised from the first call: left to tiering, a kernel timed for half a second can still run its unoptimised
/// or on-stack-replaced version (measured: 3.8 ms instead of 0.8 ms for a GroupNorm forward).
/// </summary>
static unsafe class VectorOps<V> where V : unmanaged, IVec<V>
{
    static int W
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => V.Count;
    }

    /// <summary>Σ x[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Sum(float* x, int n)
    {
        int i = 0;
        float total = 0;
        if (n >= W)
        {
            V s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= n - 4 * W; i += 4 * W)
            {
                s0 += V.Load(x + i); s1 += V.Load(x + i + W);
                s2 += V.Load(x + i + 2 * W); s3 += V.Load(x + i + 3 * W);
            }
            for (; i <= n - W; i += W) s0 += V.Load(x + i);
            total = V.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) total += x[i];
        return total;
    }

    /// <summary>Σ (x[i] − m)².</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float SumSquaredDeviation(float* x, int n, float m)
    {
        int i = 0;
        float total = 0;
        if (n >= W)
        {
            var mv = V.Create(m);
            V s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= n - 4 * W; i += 4 * W)
            {
                var d0 = V.Load(x + i) - mv; var d1 = V.Load(x + i + W) - mv;
                var d2 = V.Load(x + i + 2 * W) - mv; var d3 = V.Load(x + i + 3 * W) - mv;
                s0 = V.Fma(d0, d0, s0); s1 = V.Fma(d1, d1, s1);
                s2 = V.Fma(d2, d2, s2); s3 = V.Fma(d3, d3, s3);
            }
            for (; i <= n - W; i += W) { var d = V.Load(x + i) - mv; s0 = V.Fma(d, d, s0); }
            total = V.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) { float d = x[i] - m; total += d * d; }
        return total;
    }

    /// <summary>Σ g[i] and Σ g[i]·(x[i] − m) in one pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (float SumG, float SumGT) SumAndDot(float* g, float* x, int n, float m)
    {
        int i = 0;
        float sg = 0, sgt = 0;
        if (n >= W)
        {
            var mv = V.Create(m);
            V a0 = default, a1 = default, b0 = default, b1 = default;
            for (; i <= n - 2 * W; i += 2 * W)
            {
                var g0 = V.Load(g + i); var g1 = V.Load(g + i + W);
                a0 += g0; a1 += g1;
                b0 = V.Fma(g0, V.Load(x + i) - mv, b0);
                b1 = V.Fma(g1, V.Load(x + i + W) - mv, b1);
            }
            for (; i <= n - W; i += W)
            {
                var g0 = V.Load(g + i);
                a0 += g0; b0 = V.Fma(g0, V.Load(x + i) - mv, b0);
            }
            sg = V.Sum(a0 + a1); sgt = V.Sum(b0 + b1);
        }
        for (; i < n; i++) { sg += g[i]; sgt += g[i] * (x[i] - m); }
        return (sg, sgt);
    }

    /// <summary>y[i] = (x[i] − m)·scale + shift.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CenterScaleShift(float* x, float* y, int n, float m, float scale, float shift)
    {
        int i = 0;
        var mv = V.Create(m); var sv = V.Create(scale); var bv = V.Create(shift);
        for (; i <= n - W; i += W) V.Store(V.Fma(V.Load(x + i) - mv, sv, bv), y + i);
        for (; i < n; i++) y[i] = (x[i] - m) * scale + shift;
    }

    /// <summary>dx[i] = g[i]·a + (x[i] − m)·b + c: the input gradient of a normalisation with its sums folded into a, b, c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void NormGrad(float* g, float* x, float* dx, int n, float m, float a, float b, float c)
    {
        int i = 0;
        var mv = V.Create(m); var av = V.Create(a); var bv = V.Create(b); var cv = V.Create(c);
        for (; i <= n - W; i += W)
            V.Store(V.Fma(V.Load(g + i), av, V.Fma(V.Load(x + i) - mv, bv, cv)), dx + i);
        for (; i < n; i++) dx[i] = g[i] * a + ((x[i] - m) * b + c);
    }
}

/// <summary>How the memory-bound kernels cut their rows into chunks for <see cref="Parallelism.For"/>.</summary>
static class VectorOps
{
    /// <summary>
    /// How many contiguous chunks to cut <paramref name="items"/> items into for <see cref="Parallelism.For"/>:
    /// one when the work is small or threads are off, else a few per thread for balance.
    /// </summary>
    public static int Chunks(int items, long costPerItem, long grain = 1 << 18)
    {
        if (items <= 1) return Math.Max(items, 0);
        if (Parallelism.MaxThreads == 1 || items * costPerItem < grain) return 1;
        return Math.Min(items, Parallelism.MaxThreads * 4);
    }

    /// <summary>The half-open item range [start, end) of chunk <paramref name="chunk"/> of <paramref name="chunks"/>.</summary>
    public static (int Start, int End) Range(int chunk, int chunks, int items) =>
        ((int)((long)items * chunk / chunks), (int)((long)items * (chunk + 1) / chunks));
}
