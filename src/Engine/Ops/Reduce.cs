using Engine.Autograd;

namespace Engine;

// Reductions over any set of axes, with keepDim. The reduced axes are moved last, so each output element is
// the reduction of one contiguous row.
public sealed partial class Tensor
{
    /// <summary>Sum over <paramref name="axes"/> (all when null).</summary>
    public Tensor Sum(int[]? axes = null, bool keepDim = false)
    {
        Device.Common("Sum", this);
        var ax = Shapes.Axes("Sum", axes, Rank);
        var keepShape = KeepDimShape(ax);
        var y = Uninitialized(keepShape, Device);                                   // the backend writes every element
        Backend.Sum(this, ax, y);
        var result = keepDim ? y : y.Detach().Reshape(DropAxes(ax));
        var inShape = Shape;
        return Backprop.Record("Sum", result, [this], g => Backprop.Accumulate(this, g.Reshape(keepShape).Expand(inShape)), $"axes={Shapes.Format(ax)}");
    }

    public Tensor Sum(int axis, bool keepDim = false) => Sum([axis], keepDim);

    /// <summary>Mean over <paramref name="axes"/> (all when null).</summary>
    public Tensor Mean(int[]? axes = null, bool keepDim = false)
    {
        var ax = Shapes.Axes("Mean", axes, Rank);
        int count = 1;
        foreach (var a in ax) count *= Shape[a];
        if (count == 0) throw new ShapeMismatchException($"Mean: reducing an empty axis of {Shapes.Format(Shape)}");
        return Sum(ax, keepDim) * (1f / count);
    }

    public Tensor Mean(int axis, bool keepDim = false) => Mean([axis], keepDim);

    /// <summary>Variance over <paramref name="axes"/>; <paramref name="correction"/> 1 gives the unbiased estimate (PyTorch's default), 0 the population variance.</summary>
    public Tensor Var(int[]? axes = null, bool keepDim = false, int correction = 1)
    {
        var ax = Shapes.Axes("Var", axes, Rank);
        int count = 1;
        foreach (var a in ax) count *= Shape[a];
        if (count - correction <= 0) throw new ShapeMismatchException($"Var: {count} elements are too few for correction {correction}");
        var centered = this - Mean(ax, keepDim: true);
        return centered.Square().Sum(ax, keepDim) * (1f / (count - correction));
    }

    /// <summary>Maximum over <paramref name="axes"/>; the gradient goes to the first position of the maximum.</summary>
    public Tensor Max(int[]? axes = null, bool keepDim = false)
    {
        var (values, index, ax) = MaxWithIndex(axes, "Max");
        var keepShape = KeepDimShape(ax);
        var result = keepDim ? values : values.Reshape(DropAxes(ax));
        var inShape = Shape;
        var perm = KeptThenReduced(ax);
        return Backprop.Record("Max", result, [this], g =>
        {
            // The gradient goes into the (kept..., reduced...) layout at each row's maximum, then is permuted back.
            int rowLen = Numel / Math.Max(1, values.Numel);
            var permuted = Uninitialized(perm.Select(a => inShape[a]).ToArray(), g.Device);
            g.Backend.MaxRowsBackward(g.Contiguous(), index, rowLen, permuted);
            var inverse = new int[perm.Length];
            for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
            Backprop.Accumulate(this, permuted.Permute(inverse));
        }, $"axes={Shapes.Format(ax)}");
    }

    public Tensor Max(int axis, bool keepDim = false) => Max([axis], keepDim);

    /// <summary>Index of the maximum along <paramref name="axis"/>, as float values (exact below 2^24).</summary>
    public Tensor Argmax(int axis, bool keepDim = false)
    {
        var (_, index, ax) = MaxWithIndex([axis], "Argmax");
        return keepDim ? index : index.Reshape(DropAxes(ax));
    }

    /// <summary>
    /// log Σ exp(x) over <paramref name="axes"/>, computed stably by shifting by the maximum; an infinite maximum shifts
    /// by 0 (as PyTorch), so a row of −∞ gives −∞ and a row holding +∞ gives +∞, not ∞ − ∞ = NaN.
    /// </summary>
    public Tensor LogSumExp(int[]? axes = null, bool keepDim = false)
    {
        var ax = Shapes.Axes("LogSumExp", axes, Rank);
        var max = Detach().Max(ax, keepDim: true);
        var m = Where(max.Abs().Lt(float.PositiveInfinity), max, Scalar(0f));
        var y = (this - m).Exp().Sum(ax, keepDim: true).Log() + m;
        return keepDim ? y : y.Reshape(DropAxes(ax));
    }

    public Tensor LogSumExp(int axis, bool keepDim = false) => LogSumExp([axis], keepDim);

    /// <summary>The maximum over <paramref name="axes"/> and the position of its first occurrence within the reduced axes (as float), both keep-dim shaped.</summary>
    (Tensor values, Tensor index, int[] axes) MaxWithIndex(int[]? axes, string op)
    {
        Device.Common(op, this);
        var ax = Shapes.Axes(op, axes, Rank);
        int rowLen = 1;
        foreach (var a in ax) rowLen *= Shape[a];
        if (rowLen == 0) throw new ShapeMismatchException($"{op}: reducing an empty axis of {Shapes.Format(Shape)}");
        if (rowLen > 1 << 24) throw new ShapeMismatchException($"{op}: {rowLen} reduced elements in {Shapes.Format(Shape)}; positions above 2^24 are not exact as floats");
        Tensor rows;
        using (GradMode.NoGrad()) rows = Detach().Permute(KeptThenReduced(ax)).Contiguous();
        var values = Uninitialized(KeepDimShape(ax), Device);
        var index = Uninitialized(KeepDimShape(ax), Device);
        Backend.MaxRows(rows, rowLen, values, index);
        return (values, index, ax);
    }

    int[] KeptThenReduced(int[] ax) => Enumerable.Range(0, Rank).Where(i => !ax.Contains(i)).Concat(ax).ToArray();
    int[] KeepDimShape(int[] ax) => Shape.Select((d, i) => ax.Contains(i) ? 1 : d).ToArray();
    int[] DropAxes(int[] ax) => Shape.Where((_, i) => !ax.Contains(i)).ToArray();
}
