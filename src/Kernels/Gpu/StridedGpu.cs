using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Strided elementwise kernels beyond copy and binary ops (operands as in <see cref="StridedOperand"/>): the select
/// <c>condition ≠ 0 ? a : b</c> of three broadcast operands, and the strided add-into that puts a slice's gradient
/// back into its place in the whole (the backward of Cat and Narrow).
/// </summary>
static class StridedGpu
{
    static float Load(ArrayView<float> v, StridedOperand op, int i, int rank, Int8 shape) =>
        op.IsConstant != 0 ? op.Constant : v[ElementwiseGpu.StridedOffset(i, rank, shape, op.Strides, op.Offset)];

    public static void WhereKernel(Index1D i, ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y,
        StridedOperand sc, StridedOperand sa, StridedOperand sb, Int8 shape, int rank) =>
        y[i] = Load(c, sc, i, rank, shape) != 0 ? Load(a, sa, i, rank, shape) : Load(b, sb, i, rank, shape);

    /// <summary>dst[strided] += src[strided]: the gradient of a slice added into its place in the whole (Cat, Narrow).</summary>
    public static void AddIntoKernel(Index1D i, ArrayView<float> src, ArrayView<float> dst, StridedOperand ss, StridedOperand sd, Int8 shape, int rank) =>
        dst[ElementwiseGpu.StridedOffset(i, rank, shape, sd.Strides, sd.Offset)] += Load(src, ss, i, rank, shape);
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedOperand, StridedOperand, StridedOperand, Int8, int>? where;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, StridedOperand, StridedOperand, Int8, int>? addInto;

    /// <summary>
    /// y = condition ≠ 0 ? a : b over <paramref name="shape"/>, y contiguous; each operand read through its own strides
    /// and offset (stride 0 broadcasts) or as a constant (pass any view, e.g. y, for a constant operand).
    /// </summary>
    public void Where(ReadOnlySpan<int> shape, ArrayView<float> condition, StridedOperand sc, ArrayView<float> a, StridedOperand sa,
        ArrayView<float> b, StridedOperand sb, ArrayView<float> y)
    {
        int n = Numel(shape);
        if (n == 0) return;
        where ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedOperand, StridedOperand, StridedOperand, Int8, int>(StridedGpu.WhereKernel);
        where(Stream, n, condition, a, b, y, sc, sa, sb, Int8.From(shape), shape.Length);
    }

    /// <summary>
    /// dst[strided] += src[strided] over <paramref name="shape"/> (src may broadcast or be a constant). The destination
    /// view must not alias itself (no stride-0 axis), as a slice of a contiguous tensor never does.
    /// </summary>
    public void AddStrided(ReadOnlySpan<int> shape, ArrayView<float> src, StridedOperand ss, ArrayView<float> dst, StridedOperand sd)
    {
        int n = Numel(shape);
        if (n == 0) return;
        addInto ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, StridedOperand, StridedOperand, Int8, int>(StridedGpu.AddIntoKernel);
        addInto(Stream, n, src, dst, ss, sd, Int8.From(shape), shape.Length);
    }
}
