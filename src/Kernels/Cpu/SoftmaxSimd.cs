using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>
/// The fast softmax kernels (same contracts as <see cref="Softmax"/>'s references). A contiguous line (inner = 1)
/// is vectorised along itself: a max pass, an exp pass that also sums, a scale pass. Strided lines (inner &gt; 1)
/// are vectorised across W neighbouring lines at once, which are adjacent in memory. Lines are split across
/// threads when the tensor is large. Each kernel is a small line type driven by one generic loop, written once for
/// every vector width <typeparamref name="V"/> (see <see cref="IVec{TSelf}"/>).
/// </summary>
public static unsafe class SoftmaxSimd<V> where V : unmanaged, IVec<V>
{
    static int W
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => V.Count;
    }

    /// <summary>Softmax forward; see <see cref="SoftmaxForwardKernel"/>.</summary>
    public static void Forward(int outer, int len, int inner, ReadOnlySpan<float> x, Span<float> y) =>
        Drive<SoftmaxLine>("SoftmaxForward", outer, len, inner, x, x, y);

    /// <summary>Log-softmax forward; see <see cref="SoftmaxForwardKernel"/>.</summary>
    public static void LogForward(int outer, int len, int inner, ReadOnlySpan<float> x, Span<float> y) =>
        Drive<LogSoftmaxLine>("LogSoftmaxForward", outer, len, inner, x, x, y);

    /// <summary>Softmax backward, dx = y·(g − Σ g·y); see <see cref="SoftmaxBackwardKernel"/>.</summary>
    public static void Backward(int outer, int len, int inner, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) =>
        Drive<SoftmaxGradLine>("SoftmaxBackward", outer, len, inner, y, dy, dx);

    /// <summary>Log-softmax backward, dx = g − exp(y)·Σ g; see <see cref="SoftmaxBackwardKernel"/>.</summary>
    public static void LogBackward(int outer, int len, int inner, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) =>
        Drive<LogSoftmaxGradLine>("LogSoftmaxBackward", outer, len, inner, y, dy, dx);

    /// <summary>One kernel along one axis: a contiguous line, W adjacent strided lines, or one strided line (scalar).</summary>
    interface ILine
    {
        static abstract void Row(float* a, float* b, float* dst, int len);
        static abstract void Columns(float* a, float* b, float* dst, int len, int stride);
        static abstract void Column(float* a, float* b, float* dst, int len, int stride);
    }

    static void Drive<T>(string op, int outer, int len, int inner, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst) where T : ILine
    {
        Softmax.Check(op, outer, len, inner, a.Length, b.Length, dst.Length);
        if (outer == 0 || inner == 0) return;
        fixed (float* ap = a, bp = b, dp = dst)
        {
            nint aa = (nint)ap, ba = (nint)bp, da = (nint)dp;
            if (inner == 1)
            {
                int chunks = VectorOps.Chunks(outer, 2L * len);
                Parallelism.For(chunks, 2L * outer * len / chunks, ci =>
                {
                    var (r0, r1) = VectorOps.Range(ci, chunks, outer);
                    for (long r = r0; r < r1; r++) T.Row((float*)aa + r * len, (float*)ba + r * len, (float*)da + r * len, len);
                });
                return;
            }
            // Work units per outer index: blocks of W adjacent lines, then the remaining lines one by one.
            int blocks = inner / W, units = blocks + (inner - blocks * W);
            int items = outer * units, uchunks = VectorOps.Chunks(items, 2L * W * len);
            Parallelism.For(uchunks, 2L * items * W * len / uchunks, ci =>
            {
                var (u0, u1) = VectorOps.Range(ci, uchunks, items);
                for (int u = u0; u < u1; u++)
                {
                    int o = u / units, k = u % units;
                    long start = (long)o * len * inner + (k < blocks ? k * W : blocks * W + (k - blocks));
                    if (k < blocks) T.Columns((float*)aa + start, (float*)ba + start, (float*)da + start, len, inner);
                    else T.Column((float*)aa + start, (float*)ba + start, (float*)da + start, len, inner);
                }
            });
        }
    }

    readonly struct SoftmaxLine : ILine
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Row(float* x, float* _, float* y, int n)
        {
            float max = RowMax(x, n), sum = 0;
            int j = 0;
            {
                var mv = V.Create(max);
                V s0 = default, s1 = default;
                for (; j <= n - 2 * W; j += 2 * W)
                {
                    var e0 = V.Exp(V.Load(x + j) - mv); var e1 = V.Exp(V.Load(x + j + W) - mv);
                    V.Store(e0, y + j); V.Store(e1, y + j + W);
                    s0 += e0; s1 += e1;
                }
                for (; j <= n - W; j += W) { var e = V.Exp(V.Load(x + j) - mv); V.Store(e, y + j); s0 += e; }
                sum = V.Sum(s0 + s1);
            }
            for (; j < n; j++) { float e = MathF.Exp(x[j] - max); y[j] = e; sum += e; }
            Scale(y, n, 1f / sum);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Columns(float* x, float* _, float* y, int n, int s)
        {
            var max = ColumnsMax(x, n, s);
            var sum = V.Zero;
            for (int j = 0; j < n; j++) { var e = V.Exp(V.Load(x + (long)j * s) - max); V.Store(e, y + (long)j * s); sum += e; }
            var inv = V.One / sum;
            for (int j = 0; j < n; j++) V.Store(V.Load(y + (long)j * s) * inv, y + (long)j * s);
        }

        public static void Column(float* x, float* _, float* y, int n, int s)
        {
            float max = ColumnMax(x, n, s), sum = 0;
            for (int j = 0; j < n; j++) { float e = MathF.Exp(x[(long)j * s] - max); y[(long)j * s] = e; sum += e; }
            float inv = 1f / sum;
            for (int j = 0; j < n; j++) y[(long)j * s] *= inv;
        }
    }

    readonly struct LogSoftmaxLine : ILine
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Row(float* x, float* _, float* y, int n)
        {
            float max = RowMax(x, n), sum = 0;
            int j = 0;
            {
                var mv = V.Create(max);
                V s0 = default, s1 = default;
                for (; j <= n - 2 * W; j += 2 * W)
                {
                    s0 += V.Exp(V.Load(x + j) - mv);
                    s1 += V.Exp(V.Load(x + j + W) - mv);
                }
                for (; j <= n - W; j += W) s0 += V.Exp(V.Load(x + j) - mv);
                sum = V.Sum(s0 + s1);
            }
            for (; j < n; j++) sum += MathF.Exp(x[j] - max);
            // (x − max) − log Σ, in that order: x − (max + log Σ) would lose the low bits of large logits.
            float logSum = MathF.Log(sum);
            j = 0;
            {
                var mv = V.Create(max); var lv = V.Create(logSum);
                for (; j <= n - W; j += W) V.Store(V.Load(x + j) - mv - lv, y + j);
            }
            for (; j < n; j++) y[j] = x[j] - max - logSum;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Columns(float* x, float* _, float* y, int n, int s)
        {
            var max = ColumnsMax(x, n, s);
            var sum = V.Zero;
            for (int j = 0; j < n; j++) sum += V.Exp(V.Load(x + (long)j * s) - max);
            var logSum = V.Log(sum);
            for (int j = 0; j < n; j++) V.Store(V.Load(x + (long)j * s) - max - logSum, y + (long)j * s);
        }

        public static void Column(float* x, float* _, float* y, int n, int s)
        {
            float max = ColumnMax(x, n, s), sum = 0;
            for (int j = 0; j < n; j++) sum += MathF.Exp(x[(long)j * s] - max);
            float logSum = MathF.Log(sum);
            for (int j = 0; j < n; j++) y[(long)j * s] = x[(long)j * s] - max - logSum;
        }
    }

    readonly struct SoftmaxGradLine : ILine
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Row(float* y, float* g, float* dx, int n)
        {
            float dot = 0;
            int j = 0;
            {
                V s0 = default, s1 = default;
                for (; j <= n - 2 * W; j += 2 * W)
                {
                    s0 = V.Fma(V.Load(g + j), V.Load(y + j), s0);
                    s1 = V.Fma(V.Load(g + j + W), V.Load(y + j + W), s1);
                }
                for (; j <= n - W; j += W) s0 = V.Fma(V.Load(g + j), V.Load(y + j), s0);
                dot = V.Sum(s0 + s1);
            }
            for (; j < n; j++) dot += g[j] * y[j];
            j = 0;
            {
                var dv = V.Create(dot);
                for (; j <= n - W; j += W) V.Store((V.Load(g + j) - dv) * V.Load(y + j), dx + j);
            }
            for (; j < n; j++) dx[j] = (g[j] - dot) * y[j];
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Columns(float* y, float* g, float* dx, int n, int s)
        {
            var dot = V.Zero;
            for (int j = 0; j < n; j++) dot = V.Fma(V.Load(g + (long)j * s), V.Load(y + (long)j * s), dot);
            for (int j = 0; j < n; j++) V.Store((V.Load(g + (long)j * s) - dot) * V.Load(y + (long)j * s), dx + (long)j * s);
        }

        public static void Column(float* y, float* g, float* dx, int n, int s)
        {
            float dot = 0;
            for (int j = 0; j < n; j++) dot += g[(long)j * s] * y[(long)j * s];
            for (int j = 0; j < n; j++) dx[(long)j * s] = (g[(long)j * s] - dot) * y[(long)j * s];
        }
    }

    readonly struct LogSoftmaxGradLine : ILine
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Row(float* y, float* g, float* dx, int n)
        {
            float total = VectorOps<V>.Sum(g, n);
            int j = 0;
            {
                var tv = V.Create(total);
                for (; j <= n - W; j += W) V.Store(V.Fma(-V.Exp(V.Load(y + j)), tv, V.Load(g + j)), dx + j);
            }
            for (; j < n; j++) dx[j] = g[j] - MathF.Exp(y[j]) * total;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Columns(float* y, float* g, float* dx, int n, int s)
        {
            var total = V.Zero;
            for (int j = 0; j < n; j++) total += V.Load(g + (long)j * s);
            for (int j = 0; j < n; j++)
                V.Store(V.Fma(-V.Exp(V.Load(y + (long)j * s)), total, V.Load(g + (long)j * s)), dx + (long)j * s);
        }

        public static void Column(float* y, float* g, float* dx, int n, int s)
        {
            float total = 0;
            for (int j = 0; j < n; j++) total += g[(long)j * s];
            for (int j = 0; j < n; j++) dx[(long)j * s] = g[(long)j * s] - MathF.Exp(y[(long)j * s]) * total;
        }
    }

    /// <summary>The maximum of a contiguous line, or 0 when it is −∞ (a fully masked line).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float RowMax(float* x, int n)
    {
        float max = float.NegativeInfinity;
        int j = 0;
        if (n >= W)
        {
            var m0 = V.Create(float.NegativeInfinity); var m1 = m0;
            for (; j <= n - 2 * W; j += 2 * W) { m0 = V.Max(m0, V.Load(x + j)); m1 = V.Max(m1, V.Load(x + j + W)); }
            for (; j <= n - W; j += W) m0 = V.Max(m0, V.Load(x + j));
            max = V.MaxLane(V.Max(m0, m1));
        }
        for (; j < n; j++) max = MathF.Max(max, x[j]);
        return float.IsNegativeInfinity(max) ? 0f : max;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static V ColumnsMax(float* x, int n, int s)
    {
        var max = V.Create(float.NegativeInfinity);
        for (int j = 0; j < n; j++) max = V.Max(max, V.Load(x + (long)j * s));
        return V.Select(V.Equal(max, V.Create(float.NegativeInfinity)), V.Zero, max);
    }

    static float ColumnMax(float* x, int n, int s)
    {
        float max = float.NegativeInfinity;
        for (int j = 0; j < n; j++) max = MathF.Max(max, x[(long)j * s]);
        return float.IsNegativeInfinity(max) ? 0f : max;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Scale(float* y, int n, float a)
    {
        int j = 0;
        {
            var av = V.Create(a);
            for (; j <= n - W; j += W) V.Store(V.Load(y + j) * av, y + j);
        }
        for (; j < n; j++) y[j] *= a;
    }
}
