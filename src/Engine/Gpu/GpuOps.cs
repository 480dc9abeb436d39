using Engine.Autograd;
using ILGPU;
using ILGPU.Runtime;
using Kernels.Cpu;
using Kernels.Gpu;

namespace Engine.Gpu;

/// <summary>
/// The GPU side of the ops: each method runs the ILGPU kernel of an op on tensors whose storage is on a GPU and
/// returns or fills device tensors. The op files call these where the tensor's device is a GPU, and keep shape
/// checks and autograd to themselves, so forward, backward and gradient checks are the same code on both devices.
/// </summary>
internal static class GpuOps
{
    static GpuKernels K(Tensor t) => t.Storage.Gpu.Kernels;

    /// <summary>The elements of a contiguous tensor as a device view (marking them changed when <paramref name="write"/>).</summary>
    public static ArrayView<float> View(Tensor t, bool write = false)
    {
        if (!t.IsContiguous) throw new InvalidOperationException($"GPU: tensor of shape {Shapes.Format(t.Shape)} must be contiguous here");
        return t.Storage.View(write).SubView(t.Offset, t.Numel);
    }

    static ArrayView<float> Out(Tensor t) => View(t, write: true);

    /// <summary>An optional tensor's view, or an empty view (kernels treat empty as absent).</summary>
    static ArrayView<float> ViewOrEmpty(Tensor? t, bool write = false) => t is null ? default : View(t, write);

    public static void Fill(Tensor t, float value) => K(t).Fill(Out(t), value);

    public static int CountNonFinite(Tensor t)
    {
        var c = t.Contiguous();
        return K(c).CountNonFinite(View(c));
    }

    // ---------------------------------------------------------------- elementwise

    static readonly Dictionary<Type, BinaryCode> BinaryCodes = new()
    {
        [typeof(AddOp)] = BinaryCode.Add, [typeof(SubOp)] = BinaryCode.Sub, [typeof(MulOp)] = BinaryCode.Mul, [typeof(DivOp)] = BinaryCode.Div,
        [typeof(PowOp)] = BinaryCode.Pow, [typeof(MaxOp)] = BinaryCode.Max, [typeof(MinOp)] = BinaryCode.Min,
        [typeof(GreaterOp)] = BinaryCode.Greater, [typeof(LessOp)] = BinaryCode.Less, [typeof(GreaterEqualOp)] = BinaryCode.GreaterEqual,
        [typeof(LessEqualOp)] = BinaryCode.LessEqual, [typeof(EqualOp)] = BinaryCode.Equal,
    };

    static readonly Dictionary<Type, UnaryCode> UnaryCodes = new()
    {
        [typeof(NegOp)] = UnaryCode.Neg, [typeof(ExpOp)] = UnaryCode.Exp, [typeof(LogOp)] = UnaryCode.Log, [typeof(SqrtOp)] = UnaryCode.Sqrt,
        [typeof(AbsOp)] = UnaryCode.Abs, [typeof(TanhOp)] = UnaryCode.Tanh, [typeof(SigmoidOp)] = UnaryCode.Sigmoid, [typeof(ReluOp)] = UnaryCode.Relu,
        [typeof(SiluOp)] = UnaryCode.Silu, [typeof(SoftplusOp)] = UnaryCode.Softplus, [typeof(GeluOp)] = UnaryCode.Gelu, [typeof(GeluTanhOp)] = UnaryCode.GeluTanh,
    };

    static TCode CodeOf<TCode>(Dictionary<Type, TCode> codes, Type op) =>
        codes.TryGetValue(op, out var c) ? c : throw new NotSupportedException($"GPU: no kernel for elementwise op {op.Name}");

    /// <summary>How a kernel reads <paramref name="t"/> at the broadcast <paramref name="shape"/>: strided, or by value for a host scalar.</summary>
    static (ArrayView<float> View, StridedOperand Operand) Operand(Tensor t, int[] shape, ArrayView<float> fallback)
    {
        if (Device.IsHostScalar(t)) return (fallback, StridedOperand.Scalar(t.Storage.Data[t.Offset]));
        return (t.Storage.View(write: false), StridedOperand.Of(Strided.BroadcastStrides(t, shape), t.Offset));
    }

    /// <summary>y = a ∘ b with broadcasting; y is a new contiguous tensor of <paramref name="shape"/> on <paramref name="device"/>.</summary>
    public static Tensor Binary<T>(Device device, Tensor a, Tensor b, int[] shape) where T : IBinaryOp
    {
        var y = Tensor.Empty(shape, device);
        if (y.Numel == 0) return y;
        var yv = Out(y);
        var (av, sa) = Operand(a, shape, yv);
        var (bv, sb) = Operand(b, shape, yv);
        K(y).Binary(CodeOf(BinaryCodes, typeof(T)), shape, av, sa, bv, sb, yv);
        return y;
    }

    public static Tensor Unary<T>(Tensor x) where T : IUnaryOp
    {
        var y = Tensor.Empty(x.Shape, x.Device);
        K(x).Unary(CodeOf(UnaryCodes, typeof(T)), View(x), Out(y));
        return y;
    }

    public static Tensor UnaryBackward<T>(Tensor x, Tensor y, Tensor g) where T : IUnaryOp
    {
        var dx = Tensor.Empty(x.Shape, x.Device);
        K(x).UnaryBackward(CodeOf(UnaryCodes, typeof(T)), View(x), View(y), View(g), Out(dx));
        return dx;
    }

    /// <summary>Writes <paramref name="src"/> (broadcast to dst's shape; any strides, or a host scalar) into the strided view <paramref name="dst"/>.</summary>
    public static void AssignStrided(Tensor dst, Tensor src)
    {
        if (dst.Numel == 0) return;
        if (!Device.IsHostScalar(src) && src.Device != dst.Device)
            throw new DeviceMismatchException($"copy: source on {src.Device}, destination on {dst.Device}");
        var dv = dst.Storage.View(write: true);
        var (sv, ss) = Operand(src, dst.Shape, dv);
        K(dst).Copy(dst.Shape, sv, ss, dv, StridedOperand.Of(dst.Strides, dst.Offset));
    }

    /// <summary>y += α·x, both contiguous with the same number of elements.</summary>
    public static void Axpy(float alpha, Tensor x, Tensor y) => K(y).Axpy(alpha, View(x), Out(y));

    // ---------------------------------------------------------------- reductions

    /// <summary>Sums <paramref name="x"/> over the sorted axes <paramref name="ax"/> into the contiguous <paramref name="y"/> (the keep-dim shape).</summary>
    public static void Sum(Tensor x, int[] ax, Tensor y)
    {
        if (y.Numel == 0) return;
        int reduced = 1;
        foreach (var a in ax) reduced *= x.Shape[a];
        bool leading = true, trailing = true;
        for (int i = 0; i < ax.Length; i++) { leading &= ax[i] == i; trailing &= ax[i] == x.Rank - ax.Length + i; }
        using var _ = GradMode.NoGrad();
        if (x.IsContiguous && leading) { K(x).SumColumns(View(x), Out(y), reduced, y.Numel); return; }
        var rows = trailing ? x.Contiguous()
            : x.Detach().Permute([.. Enumerable.Range(0, x.Rank).Where(i => !ax.Contains(i)), .. ax]).Contiguous();
        K(x).SumRows(View(rows), Out(y), reduced);
    }

    // ---------------------------------------------------------------- matrix multiply

    /// <summary>
    /// C[i] = A[i]·B[i] for each of <paramref name="count"/> batch matrices, A and B row-major or transposed with the
    /// given leading dimensions and per-batch offsets. One launch when the offsets step evenly (the usual case), else
    /// one launch per matrix.
    /// </summary>
    public static void BatchedGemm(Tensor aStorage, bool transA, int lda, Func<int, int> offsetA,
        Tensor bStorage, bool transB, int ldb, Func<int, int> offsetB, Tensor y, int count, int m, int n, int k)
    {
        var kern = K(y);
        var av = aStorage.Storage.View(write: false);
        var bv = bStorage.Storage.View(write: false);
        var yv = Out(y);
        int sa = count > 1 ? offsetA(1) - offsetA(0) : 0, sb = count > 1 ? offsetB(1) - offsetB(0) : 0;
        bool even = true;
        for (int i = 2; i < count && even; i++) even = offsetA(i) - offsetA(i - 1) == sa && offsetB(i) - offsetB(i - 1) == sb;
        if (even && sa >= 0 && sb >= 0)
        {
            kern.Gemm(transA, transB, m, n, k, 1f, av.SubView(offsetA(0), av.Length - offsetA(0)), lda,
                bv.SubView(offsetB(0), bv.Length - offsetB(0)), ldb, 0f, yv, n, count, sa, sb, m * n);
            return;
        }
        for (int i = 0; i < count; i++)
            kern.Gemm(transA, transB, m, n, k, 1f, av.SubView(offsetA(i), av.Length - offsetA(i)), lda,
                bv.SubView(offsetB(i), bv.Length - offsetB(i)), ldb, 0f, yv.SubView((long)i * m * n, (long)m * n), n);
    }

    // ---------------------------------------------------------------- nn ops

    public static void Softmax(bool log, int outer, int len, int inner, Tensor x, Tensor y) =>
        K(x).SoftmaxForward(log, outer, len, inner, View(x), Out(y));

    public static void SoftmaxBackward(bool log, int outer, int len, int inner, Tensor y, Tensor g, Tensor dx) =>
        K(y).SoftmaxBackward(log, outer, len, inner, View(y), View(g), Out(dx));

    public static void RowNormForward(int rows, int len, int groups, int spatial, float eps, bool center,
        Tensor x, Tensor? w, Tensor? b, Tensor y, Tensor mean, Tensor rstd) =>
        K(x).RowNormForward(rows, len, groups, spatial, eps, center, View(x), ViewOrEmpty(w), ViewOrEmpty(b), Out(y), Out(mean), Out(rstd));

    public static void RowNormBackward(int rows, int len, int groups, int spatial, bool center, Tensor x, Tensor? w,
        Tensor mean, Tensor rstd, Tensor g, Tensor? dx, Tensor? dw, Tensor? db) =>
        K(x).RowNormBackward(rows, len, groups, spatial, center, View(x), ViewOrEmpty(w), View(mean), View(rstd), View(g),
            ViewOrEmpty(dx, true), ViewOrEmpty(dw, true), ViewOrEmpty(db, true));

    public static void Conv2dForward(in Conv2dGeometry geo, Tensor x, Tensor w, Tensor? bias, Tensor y) =>
        K(x).Conv2dForward(geo, View(x), View(w), ViewOrEmpty(bias), Out(y));

    public static void Conv2dInputGrad(in Conv2dGeometry geo, Tensor dy, Tensor w, Tensor dx) =>
        K(dy).Conv2dInputGrad(geo, View(dy), View(w), Out(dx));

    public static void Conv2dWeightGrad(in Conv2dGeometry geo, Tensor x, Tensor dy, Tensor dw) =>
        K(x).Conv2dWeightGrad(geo, View(x), View(dy), Out(dw));

    public static void AttentionForward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse) =>
        K(q).AttentionForward(heads, tq, tk, d, scale, causal, View(q), View(k), View(v), Out(o), Out(lse));

    public static void AttentionBackward(int heads, int tq, int tk, int d, float scale, bool causal, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        Tensor g, Tensor dq, Tensor dk, Tensor dv) =>
        K(q).AttentionBackward(heads, tq, tk, d, scale, causal, View(q), View(k), View(v), View(o), View(lse), View(g), Out(dq), Out(dk), Out(dv));

    public static void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps, double weightDecay, int step) =>
        K(param).AdamW(Out(param), View(grad), Out(m), Out(v), lr, beta1, beta2, eps, weightDecay, step);
}
