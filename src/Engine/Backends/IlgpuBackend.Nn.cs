using ILGPU;
using ILGPU.Runtime;
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

    public Tensor ChannelSum(Tensor dy)
    {
        int n = dy.Shape[0], c = dy.Shape[1];
        var db = Tensor.Uninitialized([c], Device);
        if (c > 0) K.ChannelSum(n, c, dy.Numel / Math.Max(1, n * c), View(dy), Out(db));
        return db;
    }

    public void AddChannelBias(Tensor y, Tensor bias)
    {
        int n = y.Shape[0], c = y.Shape[1];
        if (y.Numel > 0) K.AddChannelBias(n, c, y.Numel / Math.Max(1, n * c), View(bias), Out(y));
    }

    // ---------------------------------------------------------------- attention

    public int AttentionMaxHeadDim => GpuKernels.AttentionMaxHeadDim;

    public void AttentionForward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse) =>
        K.AttentionForward(heads, tq, tk, d, scale, causal, View(q), View(k), View(v), Out(o), Out(lse));

    public void AttentionBackward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        Tensor g, Tensor dq, Tensor dk, Tensor dv) =>
        K.AttentionBackward(heads, tq, tk, d, scale, causal, View(q), View(k), View(v), View(o), View(lse), View(g), Out(dq), Out(dk), Out(dv));

    // ---------------------------------------------------------------- normalisation and softmax

    public void RowNormForward(int rows, int len, int groups, int spatial, float eps, bool center, bool silu,
        Tensor x, Tensor? w, Tensor? b, Tensor y, Tensor mean, Tensor rstd)
    {
        if (rows == 0) return;
        if (silu) K.RowNormSiluForward(rows, len, groups, spatial, eps, center, View(x), ViewOrEmpty(w), ViewOrEmpty(b), Out(y), Out(mean), Out(rstd));
        else K.RowNormForward(rows, len, groups, spatial, eps, center, View(x), ViewOrEmpty(w), ViewOrEmpty(b), Out(y), Out(mean), Out(rstd));
    }

    public void RowNormBackward(int rows, int len, int groups, int spatial, bool center, bool silu, Tensor x, Tensor? w, Tensor? b,
        Tensor mean, Tensor rstd, Tensor g, Tensor? dx, Tensor? dw, Tensor? db)
    {
        if (rows == 0) return;
        if (silu)
            K.RowNormSiluBackward(rows, len, groups, spatial, center, View(x), ViewOrEmpty(w), ViewOrEmpty(b), View(mean), View(rstd), View(g),
                ViewOrEmpty(dx, true), ViewOrEmpty(dw, true), ViewOrEmpty(db, true));
        else
            K.RowNormBackward(rows, len, groups, spatial, center, View(x), ViewOrEmpty(w), View(mean), View(rstd), View(g),
                ViewOrEmpty(dx, true), ViewOrEmpty(dw, true), ViewOrEmpty(db, true));
    }

    public void Softmax(bool log, int outer, int len, int inner, Tensor x, Tensor y) =>
        K.SoftmaxForward(log, outer, len, inner, View(x), Out(y));

    public void SoftmaxBackward(bool log, int outer, int len, int inner, Tensor y, Tensor g, Tensor dx) =>
        K.SoftmaxBackward(log, outer, len, inner, View(y), View(g), Out(dx));

    public void BatchNormTrainStats(int n, int c, int s, float momentum, float eps, Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor mean, Tensor rstd) =>
        K.BatchNormTrainStats(n, c, s, momentum, eps, View(x), Out(mean), Out(rstd), ViewOrEmpty(runningMean, true), ViewOrEmpty(runningVar, true));

    public void BatchNormEvalStats(int c, float eps, Tensor runningMean, Tensor runningVar, Tensor mean, Tensor rstd) =>
        K.BatchNormEvalStats(c, eps, View(runningMean), View(runningVar), Out(mean), Out(rstd));

    public void BatchNormForward(int n, int c, int s, Tensor x, Tensor mean, Tensor rstd, Tensor? w, Tensor? b, Tensor y) =>
        K.BatchNormForward(n, c, s, View(x), View(mean), View(rstd), ViewOrEmpty(w), ViewOrEmpty(b), Out(y));

    public void BatchNormBackward(int n, int c, int s, bool training, Tensor x, Tensor mean, Tensor rstd, Tensor? w, Tensor g,
        Tensor? dx, Tensor? dw, Tensor? db) =>
        K.BatchNormBackward(n, c, s, training, View(x), View(mean), View(rstd), ViewOrEmpty(w), View(g), ViewOrEmpty(dx, true), ViewOrEmpty(dw, true), ViewOrEmpty(db, true));

    // ---------------------------------------------------------------- pooling, resampling, indexing

    static PoolArgs Args(in PoolGeometry g) => PoolArgs.Of(g.Planes, g.H, g.W, g.Kernel, g.Stride, g.Padding);

    /// <summary>For max pooling the saved argmax is the flat input index, an int stored in the float tensor's bits.</summary>
    public void Pool2d(bool max, in PoolGeometry geo, Tensor x, Tensor y, Tensor? argmax)
    {
        if (y.Numel == 0) return;
        if (max) K.MaxPool2dForward(Args(geo), View(x), Out(y), Out(argmax!).Cast<int>());
        else K.AvgPool2dForward(Args(geo), View(x), Out(y));
    }

    public void Pool2dBackward(bool max, in PoolGeometry geo, Tensor g, Tensor? argmax, Tensor dx)
    {
        if (dx.Numel == 0) return;
        if (max) K.MaxPool2dBackward(Args(geo), View(g), View(argmax!).Cast<int>(), Out(dx));
        else K.AvgPool2dBackward(Args(geo), View(g), Out(dx));
    }

    public void Upsample2d(int planes, int h, int w, int scale, Tensor x, Tensor y)
    {
        if (y.Numel > 0) K.UpsampleNearest2dForward(planes, h, w, scale, View(x), Out(y));
    }

    public void Upsample2dBackward(int planes, int h, int w, int scale, Tensor g, Tensor dx)
    {
        if (dx.Numel > 0) K.UpsampleNearest2dBackward(planes, h, w, scale, View(g), Out(dx));
    }

    /// <summary>
    /// The indices of an op, uploaded once and shared by its forward and backward (keyed by the op's own copy of the
    /// array, so the device copy lives as long as the graph that needs it).
    /// </summary>
    readonly System.Runtime.CompilerServices.ConditionalWeakTable<int[], MemoryBuffer1D<int, Stride1D.Dense>> uploaded = new();

    ArrayView<int> Indices(int[] index)
    {
        lock (uploaded)
            return uploaded.GetValue(index, i => gpu.Accelerator.Allocate1D(i.Length == 0 ? [0] : i)).View.SubView(0, index.Length);
    }

    public void Gather(int outer, int size, int inner, int k, bool perRow, int[] index, Tensor x, Tensor y)
    {
        if (y.Numel == 0) return;
        if (perRow) K.Gather(outer, size, k, inner, View(x), Indices(index), Out(y));
        else K.IndexSelect(outer, size, inner, View(x), Indices(index), Out(y));
    }

    public void GatherBackward(int outer, int size, int inner, int k, bool perRow, int[] index, Tensor g, Tensor dx)
    {
        if (dx.Numel == 0) return;
        if (perRow) { K.GatherBackward(outer, size, k, inner, View(g), Indices(index), Out(dx)); return; }
        var (offsets, positions) = GpuKernels.IndexSegments(index, size);
        using var o = gpu.Accelerator.Allocate1D(offsets);
        using var p = gpu.Accelerator.Allocate1D(positions.Length == 0 ? [0] : positions);
        K.IndexSelectBackward(outer, size, k, inner, View(g), o.View, p.View.SubView(0, positions.Length), Out(dx));
        gpu.Accelerator.DefaultStream.Synchronize();                              // the two index buffers are freed on return
    }

    // ---------------------------------------------------------------- conditioning (adaLN)

    public void Modulate(int b, int t, int d, Tensor x, Tensor shift, Tensor scale, Tensor y) =>
        K.Modulate(b, t, d, View(x), View(shift), View(scale), Out(y));

    public void ModulateBackward(int b, int t, int d, Tensor x, Tensor scale, Tensor g, Tensor dx, Tensor dshift, Tensor dscale) =>
        K.ModulateBackward(b, t, d, View(x), View(scale), View(g), Out(dx), Out(dshift), Out(dscale));

    public void GatedAdd(int b, int t, int d, Tensor x, Tensor gate, Tensor branch, Tensor y) =>
        K.GatedAdd(b, t, d, View(x), View(gate), View(branch), Out(y));

    public void GatedAddBackward(int b, int t, int d, Tensor gate, Tensor branch, Tensor g, Tensor dbranch, Tensor dgate) =>
        K.GatedAddBackward(b, t, d, View(gate), View(branch), View(g), Out(dbranch), Out(dgate));

    // ---------------------------------------------------------------- optimisation

    /// <summary>Squares summed in double per parameter, the norm and the factor formed on the device; only the norm is read back.</summary>
    public double ClipGradNorm(IReadOnlyList<Tensor> grads, double maxNorm)
    {
        if (grads.Count == 0) return 0;
        var groups = grads.Select(g => GpuKernels.SquaredNormGroups(g.Numel)).ToArray();
        using var partials = gpu.Accelerator.Allocate1D<double>(groups.Sum());
        using var result = gpu.Accelerator.Allocate1D<double>(2);
        long at = 0;
        for (int i = 0; i < grads.Count; i++)
        {
            if (grads[i].Numel == 0) partials.View.SubView(at, groups[i]).MemSetToZero(gpu.Accelerator.DefaultStream);
            else K.SquaredNormPartials(View(grads[i]), partials.View.SubView(at, groups[i]));
            at += groups[i];
        }
        K.ClipFactor(partials.View, maxNorm, result.View);
        foreach (var g in grads) K.ScaleByClipFactor(Out(g), result.View);
        var norm = new double[2];
        result.View.CopyToCPU(gpu.Accelerator.DefaultStream, norm);
        gpu.Accelerator.DefaultStream.Synchronize();
        Storage.CountHostRead();
        return norm[0];
    }

    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps, double weightDecay, int step) =>
        K.AdamW(Out(param), View(grad), Out(m), Out(v), lr, beta1, beta2, eps, weightDecay, step);
}
