using Engine.Random;
using Kernels.Cpu;

namespace Engine.Backends;

/// <summary>
/// The primitives a device runs: one method per kernel family, candle's <c>BackendStorage</c> in C#. Every op in
/// <c>Ops/</c> checks shapes, asks its tensors' device for its backend and calls one or more of these; it never asks
/// which device it is on. Autograd stays in the ops, so forward, backward and the gradient checks are the same code on
/// every device. Tensors given to a primitive live on this backend's device (host scalars aside, where a method says
/// so); those called "contiguous" have been made so by the op; outputs are made here, on this device.
/// <para>
/// A backend that lacks a primitive throws <see cref="NotSupportedOnDeviceException"/> naming it and the device; it
/// never copies the tensors to the host behind the caller's back. <see cref="Primitives"/> lists what it implements
/// (<c>engine info</c> prints it). The CPU (<see cref="CpuBackend"/>, the registry's SIMD kernels) and ILGPU
/// (<see cref="IlgpuBackend"/>) implement it; a new device is one more class (see docs/architecture.md).
/// </para>
/// </summary>
public interface IBackend
{
    /// <summary>The device whose storages this backend computes on.</summary>
    Device Device { get; }

    /// <summary>Each primitive (<see cref="Primitive"/>) and whether this backend implements it.</summary>
    IReadOnlyDictionary<Primitive, bool> Primitives { get; }

    // ---------------------------------------------------------------- memory

    /// <summary>A storage of <paramref name="length"/> floats on this device, zeroed when <paramref name="zeroed"/>, else holding anything.</summary>
    Storage Allocate(int length, bool zeroed);

    /// <summary>A storage on this device holding <paramref name="values"/> (on the CPU the array itself, no copy).</summary>
    Storage FromHost(float[] values);

    /// <summary>Sets every element of the contiguous <paramref name="t"/> to <paramref name="value"/>.</summary>
    void Fill(Tensor t, float value);

    /// <summary>Fills the contiguous <paramref name="t"/> from <paramref name="g"/>: uniform in [low, high), or normal (mean, std) when <paramref name="normal"/>.</summary>
    void FillRandom(Tensor t, Generator g, bool normal, float a, float b);

    /// <summary>Writes <paramref name="src"/> (broadcast to dst's shape; any strides, or a host scalar) into the strided view <paramref name="dst"/>.</summary>
    void Copy(Tensor dst, Tensor src);

    /// <summary>Adds <paramref name="src"/> (same shape, any strides) into the strided view <paramref name="dst"/>.</summary>
    void AddInto(Tensor dst, Tensor src);

    /// <summary>y += α·x, both contiguous with the same number of elements.</summary>
    void Axpy(float alpha, Tensor x, Tensor y);

    /// <summary>How many elements of the contiguous <paramref name="t"/> are NaN or infinite.</summary>
    int CountNonFinite(Tensor t);

    // ---------------------------------------------------------------- elementwise

    /// <summary>y = f(x) for a contiguous x.</summary>
    Tensor Unary<T>(Tensor x) where T : IUnaryOp;

    /// <summary>dx = g·f'(x) (from x and y = f(x)), all contiguous.</summary>
    Tensor UnaryBackward<T>(Tensor x, Tensor y, Tensor g) where T : IUnaryOp;

    /// <summary>y = f(x; p, q) for the functions with scalar parameters (leaky ReLU, power, clamp); x contiguous.</summary>
    Tensor Map(ScalarMap f, Tensor x);

    /// <summary>dx = g·∂f/∂x(x; p, q); x and g contiguous.</summary>
    Tensor MapBackward(ScalarMap f, Tensor x, Tensor g);

    /// <summary>y = a ∘ b broadcast to <paramref name="shape"/> (a or b any strides, or a host scalar); y is new and contiguous.</summary>
    Tensor Binary<T>(Tensor a, Tensor b, int[] shape) where T : IBinaryOp;

    /// <summary>y = c ≠ 0 ? a : b, all three broadcast to <paramref name="shape"/> (any strides, or host scalars).</summary>
    Tensor Where(Tensor condition, Tensor a, Tensor b, int[] shape);

    // ---------------------------------------------------------------- reductions

    /// <summary>Sums x over the sorted <paramref name="axes"/> into the contiguous keep-dim-shaped y (overwritten).</summary>
    void Sum(Tensor x, int[] axes, Tensor y);

    /// <summary>
    /// The maximum of each contiguous row of <paramref name="rows"/> (rows × rowLen) into <paramref name="values"/> (rows) and
    /// the position of its first occurrence (NaN wins) into <paramref name="index"/> (rows, as float).
    /// </summary>
    void MaxRows(Tensor rows, int rowLen, Tensor values, Tensor index);

    /// <summary>The backward of <see cref="MaxRows"/>: dx (rows × rowLen, overwritten) gets g[r] at index[r] of each row, zero elsewhere.</summary>
    void MaxRowsBackward(Tensor g, Tensor index, int rowLen, Tensor dx);

    // ---------------------------------------------------------------- linear algebra

    /// <summary>
    /// y[i] = A[i]·B[i] (β = 0) for the <paramref name="count"/> batch matrices of two operands, each row-major or
    /// transposed in its storage; y is contiguous (count, m, n).
    /// </summary>
    void BatchedGemm(in GemmOperand a, in GemmOperand b, Tensor y, int count, int m, int n, int k);

    /// <summary>y = x·wᵀ + bias for x (rows, in), w (out, in), bias (out), all contiguous; y new (rows, out).</summary>
    Tensor Linear(Tensor x, Tensor w, Tensor bias);

    // ---------------------------------------------------------------- convolution

    /// <summary>y = conv(x, w) + bias; y contiguous, overwritten.</summary>
    void Conv2dForward(in Conv2dGeometry geo, Tensor x, Tensor w, Tensor? bias, Tensor y);

    /// <summary>dx = the input gradient of conv from dy and w (overwritten).</summary>
    void Conv2dInputGrad(in Conv2dGeometry geo, Tensor dy, Tensor w, Tensor dx);

    /// <summary>dw = the weight gradient of conv from x and dy (overwritten).</summary>
    void Conv2dWeightGrad(in Conv2dGeometry geo, Tensor x, Tensor dy, Tensor dw);

    /// <summary>db (C) = dy (N, C, H, W) summed over N, H and W.</summary>
    Tensor ChannelSum(Tensor dy);

    /// <summary>y[n, c, …] += bias[c] in place on a contiguous (N, C, …) y.</summary>
    void AddChannelBias(Tensor y, Tensor bias);

    // ---------------------------------------------------------------- attention

    /// <summary>Fused attention; q, k, v contiguous (heads, T, d); writes o and the per-query log-sum-exp lse (heads·tq).</summary>
    void AttentionForward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse);

    /// <summary>Its backward: dq, dk, dv overwritten.</summary>
    void AttentionBackward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        Tensor g, Tensor dq, Tensor dk, Tensor dv);

    /// <summary>The widest head the fused attention takes; wider heads go through the composed form.</summary>
    int AttentionMaxHeadDim { get; }

    // ---------------------------------------------------------------- normalisation and softmax

    /// <summary>Row normalisation (group/layer/RMS, optionally followed by SiLU): writes y, and each row's mean and rstd.</summary>
    void RowNormForward(int rows, int len, int groups, int spatial, float eps, bool center, bool silu,
        Tensor x, Tensor? w, Tensor? b, Tensor y, Tensor mean, Tensor rstd);

    /// <summary>Its backward: dx overwritten, dw and db (zeroed by the caller) summed into; any of them may be null.</summary>
    void RowNormBackward(int rows, int len, int groups, int spatial, bool center, bool silu, Tensor x, Tensor? w, Tensor? b,
        Tensor mean, Tensor rstd, Tensor g, Tensor? dx, Tensor? dw, Tensor? db);

    /// <summary>Softmax or log-softmax over the middle axis of (outer, len, inner).</summary>
    void Softmax(bool log, int outer, int len, int inner, Tensor x, Tensor y);

    /// <summary>Its backward from the output y.</summary>
    void SoftmaxBackward(bool log, int outer, int len, int inner, Tensor y, Tensor g, Tensor dx);

    /// <summary>
    /// Training statistics of a contiguous (N, C, S) input: per-channel batch mean and rstd = 1/√(biased var + eps), and,
    /// when the running buffers are given, running = (1 − momentum)·running + momentum·batch (the variance unbiased).
    /// </summary>
    void BatchNormTrainStats(int n, int c, int s, float momentum, float eps, Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor mean, Tensor rstd);

    /// <summary>Evaluation statistics: mean = running mean, rstd = 1/√(running var + eps).</summary>
    void BatchNormEvalStats(int c, float eps, Tensor runningMean, Tensor runningVar, Tensor mean, Tensor rstd);

    /// <summary>y = (x − mean)·rstd·w + b per channel.</summary>
    void BatchNormForward(int n, int c, int s, Tensor x, Tensor mean, Tensor rstd, Tensor? w, Tensor? b, Tensor y);

    /// <summary>Its backward (batch statistics when <paramref name="training"/>, constants otherwise); outputs may be null.</summary>
    void BatchNormBackward(int n, int c, int s, bool training, Tensor x, Tensor mean, Tensor rstd, Tensor? w, Tensor g,
        Tensor? dx, Tensor? dw, Tensor? db);

    // ---------------------------------------------------------------- pooling, resampling, indexing

    /// <summary>Average or max pooling over P planes; for max, <paramref name="argmax"/> gets the position of each window's maximum within its window.</summary>
    void Pool2d(bool max, in PoolGeometry geo, Tensor x, Tensor y, Tensor? argmax);

    /// <summary>Its backward: dx (overwritten) from g.</summary>
    void Pool2dBackward(bool max, in PoolGeometry geo, Tensor g, Tensor? argmax, Tensor dx);

    /// <summary>Nearest-neighbour upsampling of P planes of h×w by <paramref name="scale"/>.</summary>
    void Upsample2d(int planes, int h, int w, int scale, Tensor x, Tensor y);

    /// <summary>Its backward: each input pixel's gradient is the sum over its scale×scale copies.</summary>
    void Upsample2dBackward(int planes, int h, int w, int scale, Tensor g, Tensor dx);

    /// <summary>
    /// y[o, j, i] = x[o, index[o·k + j … ], i] over (outer, size, inner) → (outer, k, inner); <paramref name="perRow"/> false means
    /// the same k indices for every outer row (index select), true means k per (outer, inner) position (gather).
    /// </summary>
    void Gather(int outer, int size, int inner, int k, bool perRow, int[] index, Tensor x, Tensor y);

    /// <summary>Its backward: dx (zeroed by the caller) += the scatter of g.</summary>
    void GatherBackward(int outer, int size, int inner, int k, bool perRow, int[] index, Tensor g, Tensor dx);

    // ---------------------------------------------------------------- conditioning (adaLN)

    /// <summary>y = x·(1 + scale) + shift for tokens (B, T, D) and rows (B, D).</summary>
    void Modulate(int b, int t, int d, Tensor x, Tensor shift, Tensor scale, Tensor y);

    /// <summary>Its backward: dx, dshift, dscale overwritten.</summary>
    void ModulateBackward(int b, int t, int d, Tensor x, Tensor scale, Tensor g, Tensor dx, Tensor dshift, Tensor dscale);

    /// <summary>y = x + gate·branch.</summary>
    void GatedAdd(int b, int t, int d, Tensor x, Tensor gate, Tensor branch, Tensor y);

    /// <summary>Its backward for gate and branch.</summary>
    void GatedAddBackward(int b, int t, int d, Tensor gate, Tensor branch, Tensor g, Tensor dbranch, Tensor dgate);

    // ---------------------------------------------------------------- optimisation

    /// <summary>
    /// Scales the contiguous <paramref name="grads"/> in place so that their global L2 norm (summed in double) is at most
    /// <paramref name="maxNorm"/> (by maxNorm / (norm + 1e-6) when above; a non-finite norm leaves them), and returns the norm.
    /// </summary>
    double ClipGradNorm(IReadOnlyList<Tensor> grads, double maxNorm);

    /// <summary>One AdamW step in place on a parameter and its moments (all contiguous, one shape).</summary>
    void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps, double weightDecay, int step);
}

/// <summary>The primitives of <see cref="IBackend"/>, by name (<c>engine info</c> lists them per device).</summary>
public enum Primitive
{
    Allocate, Fill, Random, Copy, AddInto, Axpy, CountNonFinite,
    Unary, UnaryBackward, Map, MapBackward, Binary, Where,
    Sum, MaxRows, MaxRowsBackward,
    BatchedGemm, Linear,
    Conv2dForward, Conv2dInputGrad, Conv2dWeightGrad, ChannelSum, AddChannelBias,
    AttentionForward, AttentionBackward,
    RowNormForward, RowNormBackward, Softmax, SoftmaxBackward,
    BatchNormTrainStats, BatchNormEvalStats, BatchNormForward, BatchNormBackward,
    Pool2d, Pool2dBackward, Upsample2d, Upsample2dBackward, Gather, GatherBackward,
    Modulate, ModulateBackward, GatedAdd, GatedAddBackward,
    ClipGradNorm, AdamW,
}

/// <summary>The elementwise functions with scalar parameters: leaky ReLU (slope p), x^p, clamp to [p, q].</summary>
public readonly record struct ScalarMap(ScalarMapKind Kind, float P, float Q = 0f)
{
    /// <summary>f(x) in float, the reference every backend follows.</summary>
    public float Apply(float x) => Kind switch
    {
        ScalarMapKind.LeakyRelu => x > 0 ? x : P * x,
        ScalarMapKind.Pow => MathF.Pow(x, P),
        _ => Math.Clamp(x, P, Q),
    };

    /// <summary>∂f/∂x at x (the clamp passes the gradient on the closed range [p, q], as PyTorch does).</summary>
    public float Derivative(float x) => Kind switch
    {
        ScalarMapKind.LeakyRelu => x > 0 ? 1f : P,
        ScalarMapKind.Pow => P == 0 ? 0f : P * MathF.Pow(x, P - 1f),        // x⁰ is constant, even at 0 (as PyTorch)
        _ => x >= P && x <= Q ? 1f : 0f,
    };
}

/// <summary>Which <see cref="ScalarMap"/>.</summary>
public enum ScalarMapKind { LeakyRelu, Pow, Clamp }

/// <summary>One operand of <see cref="IBackend.BatchedGemm"/>: the tensor whose storage holds the matrices, their layout and per-batch offsets.</summary>
public readonly record struct GemmOperand(Tensor Source, bool Transposed, int Ld, int[] Offsets);

/// <summary>Planes (N·C) of h×w pooled by a kernel×kernel window moved by stride with zero padding, to ho×wo.</summary>
public readonly record struct PoolGeometry(int Planes, int H, int W, int Kernel, int Stride, int Padding, int OutH, int OutW)
{
    /// <summary>The in-bounds input indices [lo, hi) under window <paramref name="o"/> along an axis of <paramref name="size"/>.</summary>
    public (int Lo, int Hi) Window(int o, int size)
    {
        int start = o * Stride - Padding;
        return (Math.Max(start, 0), Math.Min(start + Kernel, size));
    }
}

/// <summary>A backend was asked for a primitive it does not implement. Never silently replaced by a host copy.</summary>
public sealed class NotSupportedOnDeviceException(string primitive, Device device)
    : NotSupportedException($"{primitive} is not implemented on {device} (its backend lists what it runs: engine info); move the tensors to a device that runs it with To(device)")
{
    /// <summary>The primitive that was asked for.</summary>
    public string Primitive { get; } = primitive;

    /// <summary>The device whose backend lacks it.</summary>
    public Device Device { get; } = device;
}
