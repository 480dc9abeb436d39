using Kernels.Cpu;

namespace Engine.Backends;

// The network primitives of the CPU: convolution, attention, norms, softmax, pooling, indexing, adaLN, AdamW.
// Each calls the kernel KernelRegistry has chosen; the loops that have no registered kernel are written here.
public sealed partial class CpuBackend
{
    static ReadOnlySpan<float> SpanOrEmpty(Tensor? t) => t is null ? default : t.Span;
    static Span<float> OutOrEmpty(Tensor? t) => t is null ? default : t.Span;

    // ---------------------------------------------------------------- convolution

    public void Conv2dForward(in Conv2dGeometry geo, Tensor x, Tensor w, Tensor? bias, Tensor y) =>
        KernelRegistry.FastConv2dForward(geo, x.Span, w.Span, SpanOrEmpty(bias), y.Span);

    public void Conv2dInputGrad(in Conv2dGeometry geo, Tensor dy, Tensor w, Tensor dx) =>
        KernelRegistry.FastConv2dInputGrad(geo, dy.Span, w.Span, dx.Span);

    public void Conv2dWeightGrad(in Conv2dGeometry geo, Tensor x, Tensor dy, Tensor dw) =>
        KernelRegistry.FastConv2dWeightGrad(geo, x.Span, dy.Span, dw.Span);

    public Tensor ChannelSum(Tensor dy)
    {
        var db = Tensor.Zeros([dy.Shape[1]]);
        KernelRegistry.FastConv2dBiasGrad(dy.Shape[0], dy.Shape[1], dy.Numel / Math.Max(1, dy.Shape[0] * dy.Shape[1]), dy.Span, db.Span);
        return db;
    }

    public void AddChannelBias(Tensor y, Tensor bias)
    {
        int n = y.Shape[0], c = y.Shape[1], plane = y.Numel / Math.Max(1, n * c);
        var ys = y.Span; var bs = bias.Span;
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
            {
                var row = ys.Slice((i * c + ch) * plane, plane);
                float b = bs[ch];
                for (int j = 0; j < row.Length; j++) row[j] += b;
            }
    }

    // ---------------------------------------------------------------- attention

    public int AttentionMaxHeadDim => int.MaxValue;

    public void AttentionForward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse) =>
        KernelRegistry.FastAttentionForward(heads, tq, tk, d, scale, causal, q.Span, k.Span, v.Span, o.Span, lse.Span);

    public void AttentionBackward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        Tensor g, Tensor dq, Tensor dk, Tensor dv) =>
        KernelRegistry.FastAttentionBackward(heads, tq, tk, d, scale, causal, q.Span, k.Span, v.Span, o.Span, lse.Span, g.Span, dq.Span, dk.Span, dv.Span);

    // ---------------------------------------------------------------- normalisation and softmax

    public void RowNormForward(int rows, int len, int groups, int spatial, float eps, bool center, bool silu,
        Tensor x, Tensor? w, Tensor? b, Tensor y, Tensor mean, Tensor rstd) =>
        (silu ? KernelRegistry.FastRowNormSiluForward : KernelRegistry.FastRowNormForward)(rows, len, groups, spatial, eps, center,
            x.Span, SpanOrEmpty(w), SpanOrEmpty(b), y.Span, mean.Span, rstd.Span);

    public void RowNormBackward(int rows, int len, int groups, int spatial, bool center, bool silu, Tensor x, Tensor? w, Tensor? b,
        Tensor mean, Tensor rstd, Tensor g, Tensor? dx, Tensor? dw, Tensor? db)
    {
        if (silu)
            KernelRegistry.FastRowNormSiluBackward(rows, len, groups, spatial, center, x.Span, SpanOrEmpty(w), SpanOrEmpty(b), mean.Span, rstd.Span,
                g.Span, OutOrEmpty(dx), OutOrEmpty(dw), OutOrEmpty(db));
        else
            KernelRegistry.FastRowNormBackward(rows, len, groups, spatial, center, x.Span, SpanOrEmpty(w), mean.Span, rstd.Span, g.Span,
                OutOrEmpty(dx), OutOrEmpty(dw), OutOrEmpty(db));
    }

    public void Softmax(bool log, int outer, int len, int inner, Tensor x, Tensor y) =>
        (log ? KernelRegistry.FastLogSoftmaxForward : KernelRegistry.FastSoftmaxForward)(outer, len, inner, x.Span, y.Span);

    public void SoftmaxBackward(bool log, int outer, int len, int inner, Tensor y, Tensor g, Tensor dx) =>
        (log ? KernelRegistry.FastLogSoftmaxBackward : KernelRegistry.FastSoftmaxBackward)(outer, len, inner, y.Span, g.Span, dx.Span);

    public void BatchNormTrainStats(int n, int c, int s, float momentum, float eps, Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor mean, Tensor rstd)
    {
        var variance = new float[c];
        KernelRegistry.FastBatchNormStats(n, c, s, x.Span, mean.Span, variance);
        var m = mean.Span; var r = rstd.Span;
        int count = n * s;
        if (runningMean is not null && runningVar is not null)
        {
            var rm = runningMean.Span; var rv = runningVar.Span;
            for (int ch = 0; ch < c; ch++)
            {
                rm[ch] = (float)((1 - momentum) * rm[ch] + momentum * (double)m[ch]);
                rv[ch] = (float)((1 - momentum) * rv[ch] + momentum * (double)variance[ch] * count / (count - 1));
            }
        }
        for (int ch = 0; ch < c; ch++) r[ch] = (float)(1.0 / Math.Sqrt(variance[ch] + (double)eps));
    }

    public void BatchNormEvalStats(int c, float eps, Tensor runningMean, Tensor runningVar, Tensor mean, Tensor rstd)
    {
        runningMean.Span.CopyTo(mean.Span);
        var v = runningVar.Span; var r = rstd.Span;
        for (int ch = 0; ch < c; ch++) r[ch] = (float)(1.0 / Math.Sqrt(v[ch] + (double)eps));
    }

    public void BatchNormForward(int n, int c, int s, Tensor x, Tensor mean, Tensor rstd, Tensor? w, Tensor? b, Tensor y) =>
        KernelRegistry.FastBatchNormForward(n, c, s, x.Span, mean.Span, rstd.Span, SpanOrEmpty(w), SpanOrEmpty(b), y.Span);

    public void BatchNormBackward(int n, int c, int s, bool training, Tensor x, Tensor mean, Tensor rstd, Tensor? w, Tensor g,
        Tensor? dx, Tensor? dw, Tensor? db) =>
        KernelRegistry.FastBatchNormBackward(n, c, s, training, x.Span, mean.Span, rstd.Span, SpanOrEmpty(w), g.Span,
            OutOrEmpty(dx), OutOrEmpty(dw), OutOrEmpty(db));

    // ---------------------------------------------------------------- pooling, resampling, indexing

    public void Pool2d(bool max, in PoolGeometry geo, Tensor x, Tensor y, Tensor? argmax)
    {
        var xs = x.Span; var ys = y.Span; var am = OutOrEmpty(argmax);
        int h = geo.H, w = geo.W, ho = geo.OutH, wo = geo.OutW, k = geo.Kernel;
        float inv = 1f / (k * k);
        for (int pl = 0; pl < geo.Planes; pl++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                {
                    var (h0, h1) = geo.Window(oh, h); var (w0, w1) = geo.Window(ow, w);
                    int o = (pl * ho + oh) * wo + ow;
                    if (!max)
                    {
                        double sum = 0;
                        for (int ih = h0; ih < h1; ih++)
                            for (int iw = w0; iw < w1; iw++) sum += xs[(pl * h + ih) * w + iw];
                        ys[o] = (float)sum * inv;
                        continue;
                    }
                    float best = float.NegativeInfinity; int at = -1;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                        {
                            float v = xs[(pl * h + ih) * w + iw];
                            if (at < 0 || v > best || (float.IsNaN(v) && !float.IsNaN(best))) { best = v; at = (ih - (oh * geo.Stride - geo.Padding)) * k + iw - (ow * geo.Stride - geo.Padding); }
                        }
                    ys[o] = best; am[o] = at;
                }
    }

    public void Pool2dBackward(bool max, in PoolGeometry geo, Tensor g, Tensor? argmax, Tensor dx)
    {
        var gs = g.Span; var ds = dx.Span; var am = SpanOrEmpty(argmax);
        ds.Clear();
        int h = geo.H, w = geo.W, ho = geo.OutH, wo = geo.OutW, k = geo.Kernel;
        float inv = 1f / (k * k);
        for (int pl = 0; pl < geo.Planes; pl++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                {
                    int o = (pl * ho + oh) * wo + ow;
                    if (max)
                    {
                        int at = (int)am[o];
                        int ih = oh * geo.Stride - geo.Padding + at / k, iw = ow * geo.Stride - geo.Padding + at % k;
                        ds[(pl * h + ih) * w + iw] += gs[o];
                        continue;
                    }
                    float share = gs[o] * inv;
                    var (h0, h1) = geo.Window(oh, h); var (w0, w1) = geo.Window(ow, w);
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) ds[(pl * h + ih) * w + iw] += share;
                }
    }

    public void Upsample2d(int planes, int h, int w, int scale, Tensor x, Tensor y)
    {
        var xd = x.Storage.Data; var yd = y.Storage.Data;
        int xOff = x.Offset, yOff = y.Offset, ho = h * scale, wo = w * scale;
        // Per plane: each input row widened once into its first output row, which the next scale − 1 rows copy.
        Parallelism.For(planes, (long)ho * wo, pl =>
        {
            for (int ih = 0; ih < h; ih++)
            {
                int src = xOff + (pl * h + ih) * w, dst = yOff + (pl * ho + ih * scale) * wo;
                for (int iw = 0, o = dst; iw < w; iw++)
                    for (int k = 0; k < scale; k++) yd[o++] = xd[src + iw];
                for (int k = 1; k < scale; k++) Array.Copy(yd, dst, yd, dst + k * wo, wo);
            }
        });
    }

    public void Upsample2dBackward(int planes, int h, int w, int scale, Tensor g, Tensor dx)
    {
        var gd = g.Storage.Data; var dd = dx.Storage.Data;
        int gOff = g.Offset, dOff = dx.Offset, ho = h * scale, wo = w * scale;
        Parallelism.For(planes, (long)ho * wo, pl =>
        {
            for (int ih = 0; ih < h; ih++)
                for (int iw = 0; iw < w; iw++)
                {
                    float sum = 0f;
                    int at = gOff + (pl * ho + ih * scale) * wo + iw * scale;
                    for (int a = 0; a < scale; a++, at += wo)
                        for (int b = 0; b < scale; b++) sum += gd[at + b];
                    dd[dOff + (pl * h + ih) * w + iw] = sum;
                }
        });
    }

    public void Gather(int outer, int size, int inner, int k, bool perRow, int[] index, Tensor x, Tensor y)
    {
        var xs = x.Span; var ys = y.Span;
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < k; j++)
            {
                if (!perRow) { xs.Slice((o * size + index[j]) * inner, inner).CopyTo(ys.Slice((o * k + j) * inner, inner)); continue; }
                for (int i = 0; i < inner; i++)
                {
                    int p = (o * k + j) * inner + i;
                    ys[p] = xs[(o * size + index[p]) * inner + i];
                }
            }
    }

    public void GatherBackward(int outer, int size, int inner, int k, bool perRow, int[] index, Tensor g, Tensor dx)
    {
        var gs = g.Span; var ds = dx.Span;
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < k; j++)
            {
                if (!perRow) { Elementwise.Axpy(1f, gs.Slice((o * k + j) * inner, inner), ds.Slice((o * size + index[j]) * inner, inner)); continue; }
                for (int i = 0; i < inner; i++)
                {
                    int p = (o * k + j) * inner + i;
                    ds[(o * size + index[p]) * inner + i] += gs[p];
                }
            }
    }

    // ---------------------------------------------------------------- conditioning (adaLN)

    public void Modulate(int b, int t, int d, Tensor x, Tensor shift, Tensor scale, Tensor y) =>
        KernelRegistry.FastModulate(b, t, d, x.Span, shift.Span, scale.Span, y.Span);

    public void ModulateBackward(int b, int t, int d, Tensor x, Tensor scale, Tensor g, Tensor dx, Tensor dshift, Tensor dscale) =>
        KernelRegistry.FastModulateBackward(b, t, d, x.Span, scale.Span, g.Span, dx.Span, dshift.Span, dscale.Span);

    public void GatedAdd(int b, int t, int d, Tensor x, Tensor gate, Tensor branch, Tensor y) =>
        KernelRegistry.FastGatedAdd(b, t, d, x.Span, gate.Span, branch.Span, y.Span);

    public void GatedAddBackward(int b, int t, int d, Tensor gate, Tensor branch, Tensor g, Tensor dbranch, Tensor dgate) =>
        KernelRegistry.FastGatedAddBackward(b, t, d, gate.Span, branch.Span, g.Span, dbranch.Span, dgate.Span);

    // ---------------------------------------------------------------- optimisation

    public double ClipGradNorm(IReadOnlyList<Tensor> grads, double maxNorm)
    {
        double sumSquares = 0;
        foreach (var g in grads)
            foreach (var v in g.Span) sumSquares += (double)v * v;
        double norm = Math.Sqrt(sumSquares);
        if (!double.IsFinite(norm) || norm <= maxNorm) return norm;
        float scale = (float)(maxNorm / (norm + 1e-6));
        foreach (var g in grads)
        {
            var s = g.Span;
            for (int i = 0; i < s.Length; i++) s[i] *= scale;
        }
        return norm;
    }

    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps, double weightDecay, int step) =>
        KernelRegistry.FastAdamW(param.Span, grad.Span, m.Span, v.Span, lr, beta1, beta2, eps, weightDecay, step);
}
