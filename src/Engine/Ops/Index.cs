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
        return Gathered("IndexSelect", x, shape, outer, size, inner, indices.Length, perRow: false, (int[])indices.Clone(), $"axis={axis}, n={indices.Length}");
    }

    /// <summary>The gather of <see cref="IndexSelect"/> and <see cref="Gather"/> on the backend, and its scatter-add backward.</summary>
    static Tensor Gathered(string op, Tensor x, int[] shape, int outer, int size, int inner, int k, bool perRow, int[] index, string attrs)
    {
        var backend = x.Backend;
        var y = Uninitialized(shape, x.Device);                                    // every element is gathered
        backend.Gather(outer, size, inner, k, perRow, index, x, y);
        return Backprop.Record(op, y, [x], g =>
        {
            var dx = Zeros(x.Shape, x.Device);
            backend.GatherBackward(outer, size, inner, k, perRow, index, g.Contiguous(), dx);
            Backprop.AccumulateFresh(x, dx);
        }, attrs);
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
        var shape = (int[])Shape.Clone(); shape[axis] = k;
        return Gathered("Gather", Contiguous(), shape, outer, size, inner, k, perRow: true, (int[])index.Clone(), $"axis={axis}");
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
