using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>
/// The fast normalisation kernels (same contracts as the references in <see cref="Norm"/>): two vector passes
/// over each row for the statistics (mean, then squared deviations, so offset data keeps its precision), one
/// to write; the backward folds its row sums into dx = g·a + (x − mean)·b + c. Rows (or channels, for batch norm)
/// are split across threads when the tensor is large; weight and bias gradients are summed per chunk of rows and
/// the chunks added in double at the end, so threads never share a write. Written once for every vector width
/// <typeparamref name="V"/> (see <see cref="IVec{TSelf}"/>).
/// </summary>
public static unsafe class NormSimd<V> where V : unmanaged, IVec<V>
{
    static int W
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => V.Count;
    }
    const int FlushRows = 64; // rows summed in float before the weight and bias gradients are added into double

    /// <summary>Row-norm forward; see <see cref="RowNormForwardKernel"/>.</summary>
    public static void RowForward(int rows, int len, int groups, int spatial, float eps, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, Span<float> mean, Span<float> rstd) =>
        RowForwardCore(rows, len, groups, spatial, eps, center, x, weight, bias, y, mean, rstd, silu: false);

    /// <summary>Row norm then SiLU, each row activated while it is still in cache; see <see cref="RowNormForwardKernel"/>.</summary>
    public static void RowForwardSilu(int rows, int len, int groups, int spatial, float eps, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, Span<float> mean, Span<float> rstd) =>
        RowForwardCore(rows, len, groups, spatial, eps, center, x, weight, bias, y, mean, rstd, silu: true);

    static void RowForwardCore(int rows, int len, int groups, int spatial, float eps, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, Span<float> mean, Span<float> rstd, bool silu)
    {
        int perRow = Norm.CheckRow("RowNormForward", rows, len, groups, spatial, x.Length, weight.Length, bias.Length, y.Length, mean.Length, rstd.Length);
        if (rows == 0) return;
        int channels = groups * perRow;
        ReadOnlySpan<float> w = weight.IsEmpty ? Filled(channels, 1f) : weight, b = bias.IsEmpty ? Filled(channels, 0f) : bias;
        fixed (float* xp = x, wp = w, bp = b, yp = y, mp = mean, rp = rstd)
        {
            nint xa = (nint)xp, wa = (nint)wp, ba = (nint)bp, ya = (nint)yp, ma = (nint)mp, ra = (nint)rp;
            int chunks = VectorOps.Chunks(rows, len);
            Parallelism.For(chunks, (long)rows * len / chunks, ci =>
            {
                var (r0, r1) = VectorOps.Range(ci, chunks, rows);
                for (int r = r0; r < r1; r++)
                {
                    int c0 = r % groups * perRow;
                    ForwardRow((float*)xa + (long)r * len, (float*)ya + (long)r * len, len, spatial, perRow,
                        (float*)wa + c0, (float*)ba + c0, eps, center, out ((float*)ma)[r], out ((float*)ra)[r]);
                    if (silu) SiluInPlace((float*)ya + (long)r * len, len);
                }
            });
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void ForwardRow(float* x, float* y, int len, int spatial, int perRow, float* w, float* b, float eps, bool center, out float mean, out float rstd)
    {
        float m = center ? VectorOps<V>.Sum(x, len) / len : 0f;
        float rs = (float)(1.0 / Math.Sqrt(VectorOps<V>.SumSquaredDeviation(x, len, m) / len + (double)eps));
        mean = m; rstd = rs;
        if (spatial > 1)
        {
            for (int k = 0; k < perRow; k++)
                VectorOps<V>.CenterScaleShift(x + k * spatial, y + k * spatial, spatial, m, rs * w[k], b[k]);
            return;
        }
        // One channel per element: y = (x − m)·rs·w + b with w and b loaded as vectors.
        int j = 0;
        {
            var mv = V.Create(m); var rv = V.Create(rs);
            for (; j <= len - W; j += W)
                V.Store(V.Fma((V.Load(x + j) - mv) * rv, V.Load(w + j), V.Load(b + j)), y + j);
        }
        for (; j < len; j++) y[j] = (x[j] - m) * rs * w[j] + b[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void SiluInPlace(float* y, int n)
    {
        int j = 0;
        for (; j <= n - W; j += W) V.Store(SiluOp.Invoke(V.Load(y + j)), y + j);
        for (; j < n; j++) y[j] = SiluOp.Invoke(y[j]);
    }

    /// <summary>Row-norm backward; see <see cref="RowNormBackwardKernel"/>.</summary>
    public static void RowBackward(int rows, int len, int groups, int spatial, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, ReadOnlySpan<float> dy,
        Span<float> dx, Span<float> dweight, Span<float> dbias) =>
        RowBackwardCore("RowNormBackward", rows, len, groups, spatial, center, x, weight, default, mean, rstd, dy, dx, dweight, dbias, silu: false);

    /// <summary>
    /// Backward of row norm then SiLU; see <see cref="RowNormSiluBackwardKernel"/>. Each row's dz = dy·silu′(z) is formed
    /// in a per-thread row buffer (z recomputed from x) and goes straight into the row-norm backward, so it never
    /// reaches memory.
    /// </summary>
    public static void RowBackwardSilu(int rows, int len, int groups, int spatial, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias) =>
        RowBackwardCore("RowNormSiluBackward", rows, len, groups, spatial, center, x, weight, bias, mean, rstd, dy, dx, dweight, dbias, silu: true);

    static void RowBackwardCore(string op, int rows, int len, int groups, int spatial, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias, bool silu)
    {
        int perRow = Norm.CheckRow(op, rows, len, groups, spatial, x.Length, weight.Length, bias.Length, dy.Length, mean.Length, rstd.Length);
        int channels = groups * perRow;
        Norm.CheckGradients(op, (long)rows * len, channels, dx.Length, dweight.Length, dbias.Length);
        if (rows == 0) { dweight.Clear(); dbias.Clear(); return; }
        ReadOnlySpan<float> w = weight.IsEmpty ? Filled(channels, 1f) : weight, b = bias.IsEmpty ? Filled(channels, 0f) : bias;
        int chunks = ReductionChunks.Count(rows, 2L * len, 2L * channels);   // fixed by the sizes: the same sums on any thread count
        // Per-chunk weight and bias gradients, side by side: chunk ci owns [ci·2C, (ci + 1)·2C). Rows add into a
        // float scratch that is flushed into these double sums every FlushRows rows, so long columns keep precision.
        var partial = new double[chunks * 2 * channels];
        bool wantDx = !dx.IsEmpty;
        fixed (float* xp = x, wp = w, bp = b, mp = mean, rp = rstd, gp = dy, dxp = dx)
        {
            nint xa = (nint)xp, wa = (nint)wp, ba = (nint)bp, ma = (nint)mp, ra = (nint)rp, ga = (nint)gp, dxa = (nint)dxp;
            Parallelism.For(chunks, 2L * rows * len / chunks, ci =>
            {
                var (r0, r1) = VectorOps.Range(ci, chunks, rows);
                var scratch = new float[2 * channels + (silu ? len : 0)];
                fixed (float* dw = scratch)
                fixed (double* sums = &partial[ci * 2 * channels])
                {
                    float* db = dw + channels, dz = dw + 2 * channels;
                    for (int r = r0; r < r1; r++)
                    {
                        int c0 = r % groups * perRow;
                        long o = (long)r * len;
                        float* g = (float*)ga + o;
                        if (silu)
                        {
                            SiluGrad((float*)xa + o, g, dz, len, spatial, perRow, (float*)wa + c0, (float*)ba + c0, ((float*)ma)[r], ((float*)ra)[r]);
                            g = dz;
                        }
                        BackwardRow((float*)xa + o, g, wantDx ? (float*)dxa + o : null, len, spatial, perRow, (float*)wa + c0,
                            ((float*)ma)[r], ((float*)ra)[r], center, dw + c0, db + c0);
                        if ((r - r0) % FlushRows == FlushRows - 1 || r == r1 - 1) Flush(dw, sums, 2 * channels);
                    }
                }
            });
        }
        for (int c = 0; c < channels; c++)
        {
            double sw = 0, sb = 0;
            for (int ci = 0; ci < chunks; ci++) { sw += partial[ci * 2 * channels + c]; sb += partial[ci * 2 * channels + channels + c]; }
            if (!dweight.IsEmpty) dweight[c] = (float)sw;
            if (!dbias.IsEmpty) dbias[c] = (float)sb;
        }
    }

    /// <summary>dz = dy·silu′(z) over one row, with z = (x − m)·rs·w + b per channel segment (or per element when spatial is 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void SiluGrad(float* x, float* dy, float* dz, int len, int spatial, int perRow, float* w, float* b, float m, float rs)
    {
        if (spatial > 1)
        {
            for (int k = 0; k < perRow; k++)
            {
                float* xs = x + k * spatial, gs = dy + k * spatial, ds = dz + k * spatial;
                float a = rs * w[k], c = b[k] - m * a;                       // z = x·a + c
                var av = V.Create(a); var cv = V.Create(c);
                int j = 0;
                for (; j <= spatial - W; j += W)
                    V.Store(V.Load(gs + j) * SiluOp.Derivative(V.Fma(V.Load(xs + j), av, cv), default(V)), ds + j);
                for (; j < spatial; j++) ds[j] = gs[j] * SiluOp.Derivative(xs[j] * a + c, 0f);
            }
            return;
        }
        {
            var mv = V.Create(m); var rv = V.Create(rs);
            int j = 0;
            for (; j <= len - W; j += W)
                V.Store(V.Load(dy + j) * SiluOp.Derivative(V.Fma((V.Load(x + j) - mv) * rv, V.Load(w + j), V.Load(b + j)), default(V)), dz + j);
            for (; j < len; j++) dz[j] = dy[j] * SiluOp.Derivative((x[j] - m) * rs * w[j] + b[j], 0f);
        }
    }

    /// <summary>sums[i] += scratch[i] in double, then scratch[i] = 0.</summary>
    static void Flush(float* scratch, double* sums, int n)
    {
        for (int i = 0; i < n; i++) { sums[i] += scratch[i]; scratch[i] = 0; }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void BackwardRow(float* x, float* g, float* dx, int len, int spatial, int perRow, float* w, float m, float rs, bool center, float* dw, float* db)
    {
        if (spatial > 1)
        {
            // Per channel segment: Σ g and Σ g·(x − m); they give dbias, dweight and the row sums of dx̂ = g·w.
            double sumD = 0, sumDX = 0;
            for (int k = 0; k < perRow; k++)
            {
                var (sg, sgt) = VectorOps<V>.SumAndDot(g + k * spatial, x + k * spatial, spatial, m);
                float sgx = sgt * rs;
                dw[k] += sgx; db[k] += sg;
                sumD += (double)w[k] * sg; sumDX += (double)w[k] * sgx;
            }
            if (dx == null) return;
            float meanD = center ? (float)(sumD / len) : 0f, meanDX = (float)(sumDX / len);
            // dx = rs·(w·g − meanD − (x − m)·rs·meanDX)
            for (int k = 0; k < perRow; k++)
                VectorOps<V>.NormGrad(g + k * spatial, x + k * spatial, dx + k * spatial, spatial, m, rs * w[k], -rs * rs * meanDX, -rs * meanD);
            return;
        }

        // One channel per element: accumulate dweight and dbias as vectors.
        float sD = 0, sDX = 0;
        int j = 0;
        var mv = V.Create(m); var rv = V.Create(rs);
        {
            V aD = default, aDX = default, bD = default, bDX = default;
            for (; j <= len - 2 * W; j += 2 * W)
            {
                var g0 = V.Load(g + j); var g1 = V.Load(g + j + W);
                var xh0 = (V.Load(x + j) - mv) * rv; var xh1 = (V.Load(x + j + W) - mv) * rv;
                var gw0 = g0 * V.Load(w + j); var gw1 = g1 * V.Load(w + j + W);
                aD += gw0; aDX = V.Fma(gw0, xh0, aDX);
                bD += gw1; bDX = V.Fma(gw1, xh1, bDX);
                V.Store(V.Fma(g0, xh0, V.Load(dw + j)), dw + j);
                V.Store(V.Fma(g1, xh1, V.Load(dw + j + W)), dw + j + W);
                V.Store(V.Load(db + j) + g0, db + j);
                V.Store(V.Load(db + j + W) + g1, db + j + W);
            }
            for (; j <= len - W; j += W)
            {
                var gv = V.Load(g + j);
                var xh = (V.Load(x + j) - mv) * rv;
                var gw = gv * V.Load(w + j);
                aD += gw; aDX = V.Fma(gw, xh, aDX);
                V.Store(V.Fma(gv, xh, V.Load(dw + j)), dw + j);
                V.Store(V.Load(db + j) + gv, db + j);
            }
            sD = V.Sum(aD + bD); sDX = V.Sum(aDX + bDX);
        }
        for (int t = j; t < len; t++)
        {
            float xh = (x[t] - m) * rs, gw = g[t] * w[t];
            sD += gw; sDX += gw * xh;
            dw[t] += g[t] * xh; db[t] += g[t];
        }
        if (dx == null) return;
        float meanDs = center ? sD / len : 0f, meanDXs = sDX / len;
        j = 0;
        {
            var md = V.Create(meanDs); var mdx = V.Create(meanDXs);
            for (; j <= len - W; j += W)
            {
                var xh = (V.Load(x + j) - mv) * rv;
                var gw = V.Load(g + j) * V.Load(w + j);
                V.Store(V.Fma(-xh, mdx, gw - md) * rv, dx + j);
            }
        }
        for (; j < len; j++) dx[j] = (g[j] * w[j] - meanDs - (x[j] - m) * rs * meanDXs) * rs;
    }

    /// <summary>Batch-norm statistics; see <see cref="BatchNormStatsKernel"/>. Channels run in parallel.</summary>
    public static void BatchStats(int n, int c, int s, ReadOnlySpan<float> x, Span<float> mean, Span<float> variance)
    {
        Norm.CheckBatch("BatchNormStats", n, c, s, x.Length, mean.Length, variance.Length, 0, 0, x.Length);
        fixed (float* xp = x, mp = mean, vp = variance)
        {
            nint xa = (nint)xp, ma = (nint)mp, va = (nint)vp;
            Parallelism.For(c, 2L * n * s, ch =>
            {
                double count = (double)n * s, sum = 0, sq = 0;
                for (int i = 0; i < n; i++) sum += VectorOps<V>.Sum((float*)xa + ((long)i * c + ch) * s, s);
                float m = (float)(sum / count);
                for (int i = 0; i < n; i++) sq += VectorOps<V>.SumSquaredDeviation((float*)xa + ((long)i * c + ch) * s, s, m);
                ((float*)ma)[ch] = m; ((float*)va)[ch] = (float)(sq / count);
            });
        }
    }

    /// <summary>Batch-norm forward; see <see cref="BatchNormForwardKernel"/>. (N·C) planes run in parallel.</summary>
    public static void BatchForward(int n, int c, int s, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y)
    {
        Norm.CheckBatch("BatchNormForward", n, c, s, x.Length, mean.Length, rstd.Length, weight.Length, bias.Length, y.Length);
        ReadOnlySpan<float> w = weight.IsEmpty ? Filled(c, 1f) : weight, b = bias.IsEmpty ? Filled(c, 0f) : bias;
        fixed (float* xp = x, mp = mean, rp = rstd, wp = w, bp = b, yp = y)
        {
            nint xa = (nint)xp, ma = (nint)mp, ra = (nint)rp, wa = (nint)wp, ba = (nint)bp, ya = (nint)yp;
            Parallelism.For(n * c, s, plane =>
            {
                int ch = plane % c;
                VectorOps<V>.CenterScaleShift((float*)xa + (long)plane * s, (float*)ya + (long)plane * s, s,
                    ((float*)ma)[ch], ((float*)ra)[ch] * ((float*)wa)[ch], ((float*)ba)[ch]);
            });
        }
    }

    /// <summary>Batch-norm backward; see <see cref="BatchNormBackwardKernel"/>. Channels run in parallel.</summary>
    public static void BatchBackward(int n, int c, int s, bool training, ReadOnlySpan<float> x, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, ReadOnlySpan<float> weight, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias)
    {
        Norm.CheckBatch("BatchNormBackward", n, c, s, x.Length, mean.Length, rstd.Length, weight.Length, 0, dy.Length);
        Norm.CheckGradients("BatchNormBackward", x.Length, c, dx.Length, dweight.Length, dbias.Length);
        ReadOnlySpan<float> w = weight.IsEmpty ? Filled(c, 1f) : weight;
        bool wantDx = !dx.IsEmpty, wantDw = !dweight.IsEmpty, wantDb = !dbias.IsEmpty;
        fixed (float* xp = x, mp = mean, rp = rstd, wp = w, gp = dy, dxp = dx, dwp = dweight, dbp = dbias)
        {
            nint xa = (nint)xp, ma = (nint)mp, ra = (nint)rp, wa = (nint)wp, ga = (nint)gp, dxa = (nint)dxp, dwa = (nint)dwp, dba = (nint)dbp;
            Parallelism.For(c, 2L * n * s, ch =>
            {
                float m = ((float*)ma)[ch], rs = ((float*)ra)[ch], wc = ((float*)wa)[ch];
                double sumG = 0, sumGT = 0;
                for (int i = 0; i < n; i++)
                {
                    long o = ((long)i * c + ch) * s;
                    var (sg, sgt) = VectorOps<V>.SumAndDot((float*)ga + o, (float*)xa + o, s, m);
                    sumG += sg; sumGT += sgt;
                }
                double sumGX = sumGT * rs, count = (double)n * s;
                if (wantDw) ((float*)dwa)[ch] = (float)sumGX;
                if (wantDb) ((float*)dba)[ch] = (float)sumG;
                if (!wantDx) return;
                float meanG = training ? (float)(sumG / count) : 0f, meanGX = training ? (float)(sumGX / count) : 0f;
                // dx = rs·w·(g − meanG − (x − m)·rs·meanGX)
                float a = rs * wc;
                for (int i = 0; i < n; i++)
                {
                    long o = ((long)i * c + ch) * s;
                    VectorOps<V>.NormGrad((float*)ga + o, (float*)xa + o, (float*)dxa + o, s, m, a, -a * rs * meanGX, -a * meanG);
                }
            });
        }
    }

    static float[] Filled(int count, float value)
    {
        var a = new float[count];
        if (value != 0) Array.Fill(a, value);
        return a;
    }
}
