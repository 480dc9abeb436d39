using ILGPU;
using ILGPU.Runtime;
using Kernels.Cpu;

namespace Kernels.Gpu;

/// <summary>The unary functions the GPU kernels know, each computed by the scalar formula of its CPU op struct (Kernels/Cpu/Ops.cs).</summary>
public enum UnaryCode { Neg, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Relu, Silu, Softplus, Gelu, GeluTanh }

/// <summary>The binary functions the GPU kernels know, each computed by the scalar formula of its CPU op struct.</summary>
public enum BinaryCode { Add, Sub, Mul, Div, Pow, Max, Min, Greater, Less, GreaterEqual, LessEqual, Equal }

/// <summary>
/// One operand of a strided elementwise kernel: its element offset and strides at the output's shape (0 along a
/// broadcast axis). With <see cref="IsConstant"/> the operand is the single value <see cref="Constant"/> instead
/// (a host scalar, passed by value so it costs no copy to the device).
/// </summary>
public struct StridedOperand
{
    public Int8 Strides;
    public int Offset;
    public int IsConstant;
    public float Constant;

    public static StridedOperand Of(ReadOnlySpan<int> strides, int offset) => new() { Strides = Int8.From(strides), Offset = offset };
    public static StridedOperand Scalar(float value) => new() { IsConstant = 1, Constant = value };
}

/// <summary>Elementwise device kernels: unary map and its backward, broadcasting binary map, strided copy, fill, axpy.</summary>
static class ElementwiseGpu
{
    public static float Unary(int code, float x) => code switch
    {
        0 => NegOp.Invoke(x),
        1 => ExpOp.Invoke(x),
        2 => LogOp.Invoke(x),
        3 => SqrtOp.Invoke(x),
        4 => AbsOp.Invoke(x),
        5 => TanhOp.Invoke(x),
        6 => SigmoidOp.Invoke(x),
        7 => ReluOp.Invoke(x),
        8 => SiluOp.Invoke(x),
        9 => SoftplusOp.Invoke(x),
        10 => GeluOp.Invoke(x),
        _ => GeluTanhOp.Invoke(x),
    };

    public static float Derivative(int code, float x, float y) => code switch
    {
        0 => NegOp.Derivative(x, y),
        1 => ExpOp.Derivative(x, y),
        2 => LogOp.Derivative(x, y),
        3 => SqrtOp.Derivative(x, y),
        4 => AbsOp.Derivative(x, y),
        5 => TanhOp.Derivative(x, y),
        6 => SigmoidOp.Derivative(x, y),
        7 => ReluOp.Derivative(x, y),
        8 => SiluOp.Derivative(x, y),
        9 => SoftplusOp.Derivative(x, y),
        10 => GeluOp.Derivative(x, y),
        _ => GeluTanhOp.Derivative(x, y),
    };

    public static float Binary(int code, float a, float b) => code switch
    {
        0 => AddOp.Invoke(a, b),
        1 => SubOp.Invoke(a, b),
        2 => MulOp.Invoke(a, b),
        3 => DivOp.Invoke(a, b),
        4 => PowOp.Invoke(a, b),
        5 => MaxOp.Invoke(a, b),
        6 => MinOp.Invoke(a, b),
        7 => GreaterOp.Invoke(a, b),
        8 => LessOp.Invoke(a, b),
        9 => GreaterEqualOp.Invoke(a, b),
        10 => LessEqualOp.Invoke(a, b),
        _ => EqualOp.Invoke(a, b),
    };

    public static void UnaryKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, int code) => y[i] = Unary(code, x[i]);

    public static void UnaryBackwardKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int code) =>
        dx[i] = dy[i] * Derivative(code, x[i], y[i]);

    /// <summary>Offset of output element <paramref name="i"/> (row-major over <paramref name="shape"/>) in an operand with the given strides.</summary>
    public static int StridedOffset(int i, int rank, Int8 shape, Int8 strides, int offset)
    {
        int o = offset;
        for (int d = rank - 1; d >= 0; d--)
        {
            int size = shape[d];
            o += i % size * strides[d];
            i /= size;
        }
        return o;
    }

    static float Load(ArrayView<float> v, StridedOperand op, int i, int rank, Int8 shape) =>
        op.IsConstant != 0 ? op.Constant : v[StridedOffset(i, rank, shape, op.Strides, op.Offset)];

    public static void BinaryKernel(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y,
        StridedOperand sa, StridedOperand sb, Int8 shape, int rank, int code) =>
        y[i] = Binary(code, Load(a, sa, i, rank, shape), Load(b, sb, i, rank, shape));

    public static void CopyKernel(Index1D i, ArrayView<float> src, ArrayView<float> dst, StridedOperand ss, StridedOperand sd, Int8 shape, int rank) =>
        dst[StridedOffset(i, rank, shape, sd.Strides, sd.Offset)] = Load(src, ss, i, rank, shape);

    public static void FillKernel(Index1D i, ArrayView<float> y, float value) => y[i] = value;

    public static void AxpyKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, float alpha) => y[i] += alpha * x[i];

    /// <summary>Counts (into <paramref name="count"/>[0]) the elements that are NaN or infinite.</summary>
    public static void NonFiniteKernel(Index1D i, ArrayView<float> x, ArrayView<int> count)
    {
        if (!float.IsFinite(x[i])) Atomic.Add(ref count[0], 1);
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int>? unary;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? unaryBackward;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedOperand, StridedOperand, Int8, int, int>? binary;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, StridedOperand, StridedOperand, Int8, int>? copy;
    Action<AcceleratorStream, Index1D, ArrayView<float>, float>? fill;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, float>? axpy;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>>? nonFinite;

    AcceleratorStream Stream => Accelerator.DefaultStream;

    /// <summary>y = f(x) elementwise over equal-length views.</summary>
    public void Unary(UnaryCode op, ArrayView<float> x, ArrayView<float> y)
    {
        if (x.Length == 0) return;
        unary ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(ElementwiseGpu.UnaryKernel);
        unary(Stream, (int)x.Length, x, y, (int)op);
    }

    /// <summary>dx = dy · f′(x) (from x and the saved output y).</summary>
    public void UnaryBackward(UnaryCode op, ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx)
    {
        if (x.Length == 0) return;
        unaryBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ElementwiseGpu.UnaryBackwardKernel);
        unaryBackward(Stream, (int)x.Length, x, y, dy, dx, (int)op);
    }

    /// <summary>
    /// y = a ∘ b over <paramref name="shape"/>, y contiguous; a and b read through their own strides and offsets
    /// (stride 0 broadcasts), or as constants. Pass any view (e.g. y) for a constant operand.
    /// </summary>
    public void Binary(BinaryCode op, ReadOnlySpan<int> shape, ArrayView<float> a, StridedOperand sa, ArrayView<float> b, StridedOperand sb, ArrayView<float> y)
    {
        int n = Numel(shape);
        if (n == 0) return;
        binary ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedOperand, StridedOperand, Int8, int, int>(ElementwiseGpu.BinaryKernel);
        binary(Stream, n, a, b, y, sa, sb, Int8.From(shape), shape.Length, (int)op);
    }

    /// <summary>dst[strided] = src[strided] over <paramref name="shape"/>: makes views contiguous, permutes, fills slices, broadcasts.</summary>
    public void Copy(ReadOnlySpan<int> shape, ArrayView<float> src, StridedOperand ss, ArrayView<float> dst, StridedOperand sd)
    {
        int n = Numel(shape);
        if (n == 0) return;
        copy ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, StridedOperand, StridedOperand, Int8, int>(ElementwiseGpu.CopyKernel);
        copy(Stream, n, src, dst, ss, sd, Int8.From(shape), shape.Length);
    }

    /// <summary>Sets every element of <paramref name="y"/> to <paramref name="value"/>.</summary>
    public void Fill(ArrayView<float> y, float value)
    {
        if (y.Length == 0) return;
        fill ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, float>(ElementwiseGpu.FillKernel);
        fill(Stream, (int)y.Length, y, value);
    }

    /// <summary>y += α·x over equal-length views.</summary>
    public void Axpy(float alpha, ArrayView<float> x, ArrayView<float> y)
    {
        if (x.Length == 0) return;
        axpy ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(ElementwiseGpu.AxpyKernel);
        axpy(Stream, (int)x.Length, x, y, alpha);
    }

    /// <summary>Number of NaN or infinite values in <paramref name="x"/> (reads one integer back: synchronises).</summary>
    public int CountNonFinite(ArrayView<float> x)
    {
        if (x.Length == 0) return 0;
        nonFinite ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>>(ElementwiseGpu.NonFiniteKernel);
        using var count = Accelerator.Allocate1D<int>(1);
        count.MemSetToZero(Stream);
        nonFinite(Stream, (int)x.Length, x, count.View);
        var r = new int[1];
        count.View.CopyToCPU(Stream, r);
        Stream.Synchronize();
        return r[0];
    }

    static int Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return checked((int)n);
    }
}
