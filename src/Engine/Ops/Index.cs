using Engine.Autograd;

namespace Engine;

// Integer indexing: IndexSelect (embedding lookup), Gather (pick along an axis), OneHot.
public sealed partial class Tensor
{
    /// <summary>Rows <paramref name="indices"/> along <paramref name="axis"/>: <c>weight.IndexSelect(0, tokenIds)</c> is an embedding lookup. The gradient is scatter-added.</summary>
    public Tensor IndexSelect(int axis, int[] indices)
    {
        Device.Common("IndexSelect", this);
        axis = Shapes.Axis("IndexSelect", axis, Rank);
        int size = Shape[axis];
        foreach (var i in indices)
            if ((uint)i >= (uint)size) throw new ArgumentOutOfRangeException(nameof(indices), $"IndexSelect: index {i} is out of range for axis {axis} of size {size} in {Shapes.Format(Shape)}");
        var x = Contiguous();
        int outer = Shapes.Numel(Shape.AsSpan(0, axis)), inner = Shapes.Numel(Shape.AsSpan(axis + 1));
        var shape = (int[])Shape.Clone(); shape[axis] = indices.Length;
        var y = Zeros(shape, Device);
        var xs = x.Span; var ys = y.Span;
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < indices.Length; j++)
                xs.Slice((o * size + indices[j]) * inner, inner).CopyTo(ys.Slice((o * indices.Length + j) * inner, inner));
        return Backprop.Record("IndexSelect", y, [x], g =>
        {
            var dx = Zeros(x.Shape, x.Device);
            var gs = g.Span; var ds = dx.Span;
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < indices.Length; j++)
                    Kernels.Cpu.Elementwise.Axpy(1f, gs.Slice((o * indices.Length + j) * inner, inner), ds.Slice((o * size + indices[j]) * inner, inner));
            Backprop.Accumulate(x, dx);
        }, $"axis={axis}, n={indices.Length}");
    }

    /// <summary>
    /// PyTorch's gather: <c>y[o, j, i] = x[o, index[o, j, i], i]</c> along <paramref name="axis"/>, where
    /// <paramref name="index"/> holds <c>k</c> entries per (outer, inner) position, row-major. With k = 1 on
    /// the class axis of logits it picks one value per sample.
    /// </summary>
    public Tensor Gather(int axis, int[] index)
    {
        Device.Common("Gather", this);
        axis = Shapes.Axis("Gather", axis, Rank);
        int size = Shape[axis];
        int outer = Shapes.Numel(Shape.AsSpan(0, axis)), inner = Shapes.Numel(Shape.AsSpan(axis + 1));
        if (outer * inner == 0 || index.Length % (outer * inner) != 0)
            throw new ShapeMismatchException($"Gather: {index.Length} indices do not form whole rows for axis {axis} of {Shapes.Format(Shape)}");
        int k = index.Length / (outer * inner);
        foreach (var i in index)
            if ((uint)i >= (uint)size) throw new ArgumentOutOfRangeException(nameof(index), $"Gather: index {i} is out of range for axis {axis} of size {size} in {Shapes.Format(Shape)}");
        var x = Contiguous();
        var shape = (int[])Shape.Clone(); shape[axis] = k;
        var y = Zeros(shape, Device);
        var xs = x.Span; var ys = y.Span;
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < k; j++)
                for (int i = 0; i < inner; i++)
                {
                    int p = (o * k + j) * inner + i;
                    ys[p] = xs[(o * size + index[p]) * inner + i];
                }
        return Backprop.Record("Gather", y, [x], g =>
        {
            var dx = Zeros(x.Shape, x.Device);
            var gs = g.Span; var ds = dx.Span;
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < k; j++)
                    for (int i = 0; i < inner; i++)
                    {
                        int p = (o * k + j) * inner + i;
                        ds[(o * size + index[p]) * inner + i] += gs[p];
                    }
            Backprop.Accumulate(x, dx);
        }, $"axis={axis}");
    }

    /// <summary>A (N, classes) matrix with a 1 at each label.</summary>
    public static Tensor OneHot(int[] labels, int classes)
    {
        var y = Zeros([labels.Length, classes]);
        var ys = y.Span;
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(labels), $"OneHot: label {labels[i]} is outside [0, {classes})");
            ys[i * classes + labels[i]] = 1f;
        }
        return y;
    }
}
