using Engine.Autograd;
using Kernels.Cpu;
using Kernels.Gpu;

namespace Engine.Backends;

// The network primitives on an ILGPU device: convolution, attention, norms, softmax, pooling, indexing, adaLN, AdamW.
public sealed partial class IlgpuBackend
{
    // ---------------------------------------------------------------- convolution

    public void Conv2dForward(in Conv2dGeometry geo, Tensor x, Tensor w, Tensor? bias, Tensor y) =>
        K.Conv2dForward(geo, View(x), View(w), ViewOrEmpty(bias), Out(y));

    public void Conv2dInputGrad(in Conv2dGeometry geo, Tensor dy, Tensor w, Tensor dx) =>
        K.Conv2dInputGrad(geo, View(dy), View(w), Out(dx));

    public void Conv2dWeightGrad(in Conv2dGeometry geo, Tensor x, Tensor dy, Tensor dw) =>
        K.Conv2dWeightGrad(geo, View(x), View(dy), Out(dw));

    /// <summary>On the device as the sum over axes 0, 2 and 3.</summary>
    public Tensor ChannelSum(Tensor dy)
    {
        var db = Tensor.Empty([1, dy.Shape[1], 1, 1], Device);
        Sum(dy.Rank == 4 ? dy : dy.Detach().Reshape(dy.Shape[0], dy.Shape[1], -1, 1), [0, 2, 3], db);
        return db.Detach().Reshape(dy.Shape[1]);
    }

    /// <summary>On the device as a broadcasting add written back into y.</summary>
    public void AddChannelBias(Tensor y, Tensor bias)
    {
        int n = y.Shape[0], c = y.Shape[1], plane = y.Numel / Math.Max(1, n * c);
        using var _ = GradMode.NoGrad();
        var rows = y.Detach().Reshape(n, c, plane);
        var sum = Binary<AddOp>(rows, bias.Detach().Reshape(1, c, 1), rows.Shape);
        Copy(rows, sum);
        sum.Dispose();
    }

    // ---------------------------------------------------------------- attention

    public int AttentionMaxHeadDim => GpuKernels.AttentionMaxHeadDim;

    public void AttentionForward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse) =>
        K.AttentionForward(heads, tq, tk, d, scale, causal, View(q), View(k), View(v), Out(o), Out(lse));

    public void AttentionBackward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        Tensor g, Tensor dq, Tensor dk, Tensor dv) =>
        K.AttentionBackward(heads, tq, tk, d, scale, causal, View(q), View(k), View(v), View(o), View(lse), View(g), Out(dq), Out(dk), Out(dv));

    // ---------------------------------------------------------------- normalisation and softmax

    /// <summary>With <paramref name="silu"/>: the row norm into a temporary, then the SiLU kernel (two launches).</summary>
    public void RowNormForward(int rows, int len, int groups, int spatial, float eps, bool center, bool silu,
        Tensor x, Tensor? w, Tensor? b, Tensor y, Tensor mean, Tensor rstd)
    {
        if (rows == 0) return;
        if (!silu) { K.RowNormForward(rows, len, groups, spatial, eps, center, View(x), ViewOrEmpty(w), ViewOrEmpty(b), Out(y), Out(mean), Out(rstd)); return; }
        var z = Tensor.Empty(x.Shape, Device);
        K.RowNormForward(rows, len, groups, spatial, eps, center, View(x), ViewOrEmpty(w), ViewOrEmpty(b), Out(z), Out(mean), Out(rstd));
        K.Unary(UnaryCode.Silu, View(z), Out(y));
        z.Dispose();
    }

    /// <summary>With <paramref name="silu"/>: the normalised rows recomputed from the saved statistics' forward, SiLU's backward, then the row norm's.</summary>
    public void RowNormBackward(int rows, int len, int groups, int spatial, bool center, bool silu, Tensor x, Tensor? w, Tensor? b,
        Tensor mean, Tensor rstd, Tensor g, Tensor? dx, Tensor? dw, Tensor? db)
    {
        if (rows == 0) return;
        var gz = g;
        if (silu)
        {
            // Recompute the activation's input z = (x − mean)·rstd·w + b from the saved statistics, then y = SiLU(z).
            var z = Tensor.Empty(x.Shape, Device);
            RecomputeWithSavedStats(rows, len, groups, spatial, center, x, w, b, mean, rstd, z);
            var y = Tensor.Empty(x.Shape, Device);
            K.Unary(UnaryCode.Silu, View(z), Out(y));
            gz = Tensor.Empty(x.Shape, Device);
            K.UnaryBackward(UnaryCode.Silu, View(z), View(y), View(g), Out(gz));
            z.Dispose(); y.Dispose();
        }
        K.RowNormBackward(rows, len, groups, spatial, center, View(x), ViewOrEmpty(w), View(mean), View(rstd), View(gz),
            ViewOrEmpty(dx, true), ViewOrEmpty(dw, true), ViewOrEmpty(db, true));
        if (!ReferenceEquals(gz, g)) gz.Dispose();
    }

    /// <summary>z = (x − mean)·rstd·w + b per row from the saved statistics, with the broadcasting kernels (the activation's input for SiLU's backward).</summary>
    void RecomputeWithSavedStats(int rows, int len, int groups, int spatial, bool center, Tensor x, Tensor? w, Tensor? b, Tensor mean, Tensor rstd, Tensor z)
    {
        using var _ = GradMode.NoGrad();
        var xr = x.Detach().Reshape(rows, len);
        var centered = center ? Binary<SubOp>(xr, mean.Detach().Reshape(rows, 1), xr.Shape) : xr;
        var normed = Binary<MulOp>(centered, rstd.Detach().Reshape(rows, 1), xr.Shape);
        if (center) centered.Dispose();
        var result = normed;
        if (w is not null || b is not null)
        {
            // Rows are (N, G) and each holds C/G channels of S positions: view as (N, C, S) to broadcast (C) parameters.
            int channels = len / spatial * groups, n = rows / groups;
            var view = normed.Detach().Reshape(n, channels, spatial);
            var scaled = w is null ? view : Binary<MulOp>(view, w.Detach().Reshape(1, channels, 1), view.Shape);
            result = b is null ? scaled : Binary<AddOp>(scaled, b.Detach().Reshape(1, channels, 1), view.Shape);
            if (!ReferenceEquals(scaled, view) && !ReferenceEquals(scaled, result)) scaled.Dispose();
            normed.Dispose();
        }
        Copy(z, result.Detach().Reshape(z.Shape));
        result.Dispose();
    }

    public void Softmax(bool log, int outer, int len, int inner, Tensor x, Tensor y) =>
        K.SoftmaxForward(log, outer, len, inner, View(x), Out(y));

    public void SoftmaxBackward(bool log, int outer, int len, int inner, Tensor y, Tensor g, Tensor dx) =>
        K.SoftmaxBackward(log, outer, len, inner, View(y), View(g), Out(dx));

    public void BatchNormStats(int n, int c, int s, Tensor x, Tensor mean, Tensor variance) => throw Unsupported(Primitive.BatchNormStats);

    public void BatchNormForward(int n, int c, int s, Tensor x, Tensor mean, Tensor rstd, Tensor? w, Tensor? b, Tensor y) =>
        throw Unsupported(Primitive.BatchNormForward);

    public void BatchNormBackward(int n, int c, int s, bool training, Tensor x, Tensor mean, Tensor rstd, Tensor? w, Tensor g,
        Tensor? dx, Tensor? dw, Tensor? db) => throw Unsupported(Primitive.BatchNormBackward);

    public void BatchNormUpdate(Tensor? runningMean, Tensor? runningVar, Tensor mean, Tensor variance, float momentum, int count, float eps, Tensor rstd) =>
        throw Unsupported(Primitive.BatchNormUpdate);

    /// <summary>On the device: √(var + eps) by the elementwise kernels, then its reciprocal.</summary>
    public void InverseStd(Tensor variance, float eps, Tensor rstd)
    {
        var shifted = Binary<AddOp>(variance, Tensor.Scalar(eps), variance.Shape);
        var root = Unary<SqrtOp>(shifted);
        var inv = Binary<DivOp>(Tensor.Scalar(1f), root, variance.Shape);
        Copy(rstd, inv);
        shifted.Dispose(); root.Dispose(); inv.Dispose();
    }

    // ---------------------------------------------------------------- pooling, resampling, indexing

    public void Pool2d(bool max, in PoolGeometry geo, Tensor x, Tensor y, Tensor? argmax) => throw Unsupported(Primitive.Pool2d);

    public void Pool2dBackward(bool max, in PoolGeometry geo, Tensor g, Tensor? argmax, Tensor dx) => throw Unsupported(Primitive.Pool2dBackward);

    public void Upsample2d(int planes, int h, int w, int scale, Tensor x, Tensor y) => throw Unsupported(Primitive.Upsample2d);

    public void Upsample2dBackward(int planes, int h, int w, int scale, Tensor g, Tensor dx) => throw Unsupported(Primitive.Upsample2dBackward);

    public void Gather(int outer, int size, int inner, int k, bool perRow, int[] index, Tensor x, Tensor y) => throw Unsupported(Primitive.Gather);

    public void GatherBackward(int outer, int size, int inner, int k, bool perRow, int[] index, Tensor g, Tensor dx) => throw Unsupported(Primitive.GatherBackward);

    // ---------------------------------------------------------------- conditioning (adaLN)

    /// <summary>On the device from the broadcasting kernels: x·(1 + scale) + shift.</summary>
    public void Modulate(int b, int t, int d, Tensor x, Tensor shift, Tensor scale, Tensor y)
    {
        var s1 = Binary<AddOp>(scale.Detach().Reshape(b, 1, d), Tensor.Scalar(1f), [b, 1, d]);
        var scaled = Binary<MulOp>(x, s1, x.Shape);
        var sum = Binary<AddOp>(scaled, shift.Detach().Reshape(b, 1, d), x.Shape);
        Copy(y, sum);
        s1.Dispose(); scaled.Dispose(); sum.Dispose();
    }

    /// <summary>On the device: dx = g·(1 + scale), dshift = Σ_t g, dscale = Σ_t g·x.</summary>
    public void ModulateBackward(int b, int t, int d, Tensor x, Tensor scale, Tensor g, Tensor dx, Tensor dshift, Tensor dscale)
    {
        var s1 = Binary<AddOp>(scale.Detach().Reshape(b, 1, d), Tensor.Scalar(1f), [b, 1, d]);
        var gx = Binary<MulOp>(g, s1, x.Shape);
        Copy(dx, gx);
        Sum(g, [1], dshift.Detach().Reshape(b, 1, d));
        var gxx = Binary<MulOp>(g, x, x.Shape);
        Sum(gxx, [1], dscale.Detach().Reshape(b, 1, d));
        s1.Dispose(); gx.Dispose(); gxx.Dispose();
    }

    /// <summary>On the device from the broadcasting kernels: x + gate·branch.</summary>
    public void GatedAdd(int b, int t, int d, Tensor x, Tensor gate, Tensor branch, Tensor y)
    {
        var gated = Binary<MulOp>(gate.Detach().Reshape(b, 1, d), branch, x.Shape);
        var sum = Binary<AddOp>(x, gated, x.Shape);
        Copy(y, sum);
        gated.Dispose(); sum.Dispose();
    }

    /// <summary>On the device: dbranch = g·gate, dgate = Σ_t g·branch.</summary>
    public void GatedAddBackward(int b, int t, int d, Tensor gate, Tensor branch, Tensor g, Tensor dbranch, Tensor dgate)
    {
        var db = Binary<MulOp>(g, gate.Detach().Reshape(b, 1, d), g.Shape);
        Copy(dbranch, db);
        var gb = Binary<MulOp>(g, branch, g.Shape);
        Sum(gb, [1], dgate.Detach().Reshape(b, 1, d));
        db.Dispose(); gb.Dispose();
    }

    // ---------------------------------------------------------------- optimisation

    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps, double weightDecay, int step) =>
        K.AdamW(Out(param), View(grad), Out(m), Out(v), lr, beta1, beta2, eps, weightDecay, step);
}
