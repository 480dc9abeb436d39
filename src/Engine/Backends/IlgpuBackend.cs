using Engine.Autograd;
using Engine.Gpu;
using Engine.Random;
using ILGPU;
using ILGPU.Runtime;
using Kernels.Cpu;
using Kernels.Gpu;

namespace Engine.Backends;

/// <summary>
/// A GPU opened through ILGPU (CUDA, OpenCL, or ILGPU's CPU accelerator in tests): storages are pooled device buffers
/// and each primitive launches the kernels of <c>Kernels.Gpu</c> on the device's stream. Values cross to the host only
/// when asked (<see cref="Tensor.ToArray"/>, <see cref="Tensor.Item"/>, <see cref="Tensor.To"/>). This file holds memory,
/// elementwise ops and reductions; <c>IlgpuBackend.Nn.cs</c> the network kernels. A primitive built from other
/// primitives here (a composition on the device) says so in its comment.
/// </summary>
public sealed partial class IlgpuBackend : IBackend
{
    readonly GpuDevice gpu;

    internal IlgpuBackend(GpuDevice gpu) => this.gpu = gpu;

    GpuKernels K => gpu.Kernels;

    public Device Device => gpu.Device;

    /// <summary>Every primitive has a device kernel (an elementwise op without a code in the tables below throws <see cref="NotSupportedOnDeviceException"/>).</summary>
    public IReadOnlyDictionary<Primitive, bool> Primitives { get; } = Enum.GetValues<Primitive>().ToDictionary(p => p, _ => true);

    /// <summary>The elements of a contiguous tensor as a device view (marking them changed when <paramref name="write"/>).</summary>
    internal static ArrayView<float> View(Tensor t, bool write = false)
    {
        if (!t.IsContiguous) throw new InvalidOperationException($"{t.Device}: tensor of shape {Shapes.Format(t.Shape)} must be contiguous here");
        return t.Storage.View(write).SubView(t.Offset, t.Numel);
    }

    static ArrayView<float> Out(Tensor t) => View(t, write: true);

    /// <summary>An optional tensor's view, or an empty view (kernels treat empty as absent).</summary>
    static ArrayView<float> ViewOrEmpty(Tensor? t, bool write = false) => t is null ? default : View(t, write);

    // ---------------------------------------------------------------- memory

    public Storage Allocate(int length, bool zeroed)
    {
        var s = new DeviceStorage(Device, length);
        if (zeroed && length > 0) K.Fill(s.View(write: true).SubView(0, length), 0f);
        return s;
    }

    public Storage FromHost(float[] values) => new DeviceStorage(values, Device);

    public void Fill(Tensor t, float value)
    {
        if (t.Numel > 0) K.Fill(Out(t), value);
    }

    /// <summary>Philox on the device, bit for bit the host generator's stream (seed, offset); the generator's offset advances as a host draw would.</summary>
    public void FillRandom(Tensor t, Generator g, bool normal, float a, float b)
    {
        if (t.Numel == 0) return;
        if (normal) K.FillNormal(Out(t), g.Seed, g.Offset, a, b);
        else K.FillUniform(Out(t), g.Seed, g.Offset, a, b);
        g.Offset += (ulong)GpuKernels.RandomBlocks(t.Numel);
    }

    /// <summary>How a kernel reads <paramref name="t"/> at the broadcast <paramref name="shape"/>: strided, or by value for a host scalar.</summary>
    static (ArrayView<float> View, StridedOperand Operand) Operand(Tensor t, int[] shape, ArrayView<float> fallback)
    {
        if (Device.IsHostScalar(t)) return (fallback, StridedOperand.Scalar(t.Storage.Data[t.Offset]));
        return (t.Storage.View(write: false), StridedOperand.Of(Strided.BroadcastStrides(t, shape), t.Offset));
    }

    public void Copy(Tensor dst, Tensor src)
    {
        if (dst.Numel == 0) return;
        var dv = dst.Storage.View(write: true);
        var (sv, ss) = Operand(src, dst.Shape, dv);
        K.Copy(dst.Shape, sv, ss, dv, StridedOperand.Of(dst.Strides, dst.Offset));
    }

    public void AddInto(Tensor dst, Tensor src)
    {
        if (dst.Numel == 0) return;
        var dv = dst.Storage.View(write: true);
        var (sv, ss) = Operand(src, dst.Shape, dv);
        K.AddStrided(dst.Shape, sv, ss, dv, StridedOperand.Of(dst.Strides, dst.Offset));
    }

    public void Axpy(float alpha, Tensor x, Tensor y) => K.Axpy(alpha, View(x), Out(y));

    public int CountNonFinite(Tensor t) => t.Numel == 0 ? 0 : K.CountNonFinite(View(t));

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

    TCode CodeOf<TCode>(Dictionary<Type, TCode> codes, Type op, Primitive p) =>
        codes.TryGetValue(op, out var c) ? c : throw new NotSupportedOnDeviceException($"{p} {op.Name}", Device);

    public Tensor Unary<T>(Tensor x) where T : IUnaryOp
    {
        var y = Tensor.Uninitialized(x.Shape, Device);
        if (y.Numel > 0) K.Unary(CodeOf(UnaryCodes, typeof(T), Primitive.Unary), View(x), Out(y));
        return y;
    }

    public Tensor UnaryBackward<T>(Tensor x, Tensor y, Tensor g) where T : IUnaryOp
    {
        var dx = Tensor.Uninitialized(x.Shape, Device);
        if (dx.Numel > 0) K.UnaryBackward(CodeOf(UnaryCodes, typeof(T), Primitive.UnaryBackward), View(x), View(y), View(g), Out(dx));
        return dx;
    }

    public Tensor Binary<T>(Tensor a, Tensor b, int[] shape) where T : IBinaryOp
    {
        var y = Tensor.Uninitialized(shape, Device);
        if (y.Numel == 0) return y;
        var yv = Out(y);
        var (av, sa) = Operand(a, shape, yv);
        var (bv, sb) = Operand(b, shape, yv);
        K.Binary(CodeOf(BinaryCodes, typeof(T), Primitive.Binary), shape, av, sa, bv, sb, yv);
        return y;
    }

    static ScalarUnaryCode CodeOf(ScalarMap f) => f.Kind switch
    {
        ScalarMapKind.LeakyRelu => ScalarUnaryCode.LeakyRelu,
        ScalarMapKind.Pow => ScalarUnaryCode.Pow,
        _ => ScalarUnaryCode.Clamp,
    };

    public Tensor Map(ScalarMap f, Tensor x)
    {
        var y = Tensor.Uninitialized(x.Shape, Device);
        if (y.Numel > 0) K.ScalarUnary(CodeOf(f), f.P, f.Q, View(x), Out(y));
        return y;
    }

    public Tensor MapBackward(ScalarMap f, Tensor x, Tensor g)
    {
        var dx = Tensor.Uninitialized(x.Shape, Device);
        if (dx.Numel > 0) K.ScalarUnaryBackward(CodeOf(f), f.P, f.Q, View(x), View(g), Out(dx));
        return dx;
    }

    public Tensor Where(Tensor condition, Tensor a, Tensor b, int[] shape)
    {
        var y = Tensor.Uninitialized(shape, Device);
        if (y.Numel == 0) return y;
        var yv = Out(y);
        var (cv, sc) = Operand(condition, shape, yv);
        var (av, sa) = Operand(a, shape, yv);
        var (bv, sb) = Operand(b, shape, yv);
        K.Where(shape, cv, sc, av, sa, bv, sb, yv);
        return y;
    }

    // ---------------------------------------------------------------- reductions

    public void Sum(Tensor x, int[] axes, Tensor y)
    {
        if (y.Numel == 0) return;
        int reduced = 1;
        foreach (var a in axes) reduced *= x.Shape[a];
        bool leading = true, trailing = true;
        for (int i = 0; i < axes.Length; i++) { leading &= axes[i] == i; trailing &= axes[i] == x.Rank - axes.Length + i; }
        using var _ = GradMode.NoGrad();
        if (x.IsContiguous && leading) { K.SumColumns(View(x), Out(y), reduced, y.Numel); return; }
        var rows = trailing ? x.Detach().Contiguous()
            : x.Detach().Permute([.. Enumerable.Range(0, x.Rank).Where(i => !axes.Contains(i)), .. axes]).Contiguous();
        K.SumRows(View(rows), Out(y), reduced);
        if (!ReferenceEquals(rows.Storage, x.Storage)) rows.Dispose();
    }

    public void MaxRows(Tensor rows, int rowLen, Tensor values, Tensor index) => K.MaxRows(View(rows), Out(values), Out(index), rowLen);

    public void MaxRowsBackward(Tensor g, Tensor index, int rowLen, Tensor dx)
    {
        Fill(dx, 0f);
        K.ScatterRows(View(g), View(index), Out(dx), rowLen);
    }

    // ---------------------------------------------------------------- linear algebra

    /// <summary>One launch when the per-batch offsets step evenly (the usual case), else one launch per matrix.</summary>
    public void BatchedGemm(in GemmOperand a, in GemmOperand b, Tensor y, int count, int m, int n, int k)
    {
        if (y.Numel == 0) return;
        var av = a.Source.Storage.View(write: false);
        var bv = b.Source.Storage.View(write: false);
        var yv = Out(y);
        var oa = a.Offsets; var ob = b.Offsets;
        int sa = count > 1 ? oa[1] - oa[0] : 0, sb = count > 1 ? ob[1] - ob[0] : 0;
        bool even = true;
        for (int i = 2; i < count && even; i++) even = oa[i] - oa[i - 1] == sa && ob[i] - ob[i - 1] == sb;
        if (even && sa >= 0 && sb >= 0)
        {
            K.Gemm(a.Transposed, b.Transposed, m, n, k, 1f, av.SubView(oa[0], av.Length - oa[0]), a.Ld,
                bv.SubView(ob[0], bv.Length - ob[0]), b.Ld, 0f, yv, n, count, sa, sb, m * n);
            return;
        }
        for (int i = 0; i < count; i++)
            K.Gemm(a.Transposed, b.Transposed, m, n, k, 1f, av.SubView(oa[i], av.Length - oa[i]), a.Ld,
                bv.SubView(ob[i], bv.Length - ob[i]), b.Ld, 0f, yv.SubView((long)i * m * n, (long)m * n), n);
    }

    /// <summary>On the device as a GEMM against the transposed weight, then the bias added by the broadcasting kernel.</summary>
    public Tensor Linear(Tensor x, Tensor w, Tensor bias)
    {
        int rows = x.Shape[0], inF = x.Shape[1], outF = w.Shape[0];
        var product = Tensor.Uninitialized([rows, outF], Device);
        BatchedGemm(new GemmOperand(x, false, inF, [x.Offset]), new GemmOperand(w, true, inF, [w.Offset]), product, 1, rows, outF, inF);
        var y = Binary<AddOp>(product, bias, product.Shape);
        product.Dispose();
        return y;
    }
}
