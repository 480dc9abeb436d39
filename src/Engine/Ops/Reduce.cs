using Engine.Autograd;
using Kernels.Cpu;

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
        var y = Zeros(keepShape, Device);
        if (Device.IsGpu) Gpu.GpuOps.Sum(this, ax, y);
        else if (IsContiguous && IsLeadingAxes(ax) && Shapes.Numel(keepShape) > 1)     // one output: the vector row sum below (accurate), not n one-value Axpys
        {
            int inner = Shapes.Numel(keepShape), outer = inner == 0 ? 0 : Numel / inner;
            var src = Span; var dst = y.Span;
            for (int r = 0; r < outer; r++) Elementwise.Axpy(1f, src.Slice(r * inner, inner), dst);
        }
        else
        {
            var (rows, rowLen) = ReducedRows(ax);
            var dst = y.Span;
            for (int r = 0; r < dst.Length; r++) dst[r] = Elementwise.Sum(rows.AsSpan(r * rowLen, rowLen));
        }
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
            // Scatter g into the (kept..., reduced...) layout, then permute back to the input's axis order.
            var gs = g.Contiguous().Span;
            int rowLen = Numel / Math.Max(1, values.Numel);
            var permuted = Zeros(perm.Select(a => inShape[a]).ToArray(), g.Device);
            var pd = permuted.Span;
            for (int r = 0; r < index.Length; r++) pd[r * rowLen + index[r]] = gs[r];
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
        var y = Wrap(index.Select(i => (float)i).ToArray(), KeepDimShape(ax)).To(Device);
        return keepDim ? y : y.Reshape(DropAxes(ax));
    }

    /// <summary>
    /// log Σ exp(x) over <paramref name="axes"/>, computed stably by shifting by the maximum; an infinite maximum shifts
    /// by 0 (as PyTorch), so a row of −∞ gives −∞ and a row holding +∞ gives +∞, not ∞ − ∞ = NaN.
    /// </summary>
    public Tensor LogSumExp(int[]? axes = null, bool keepDim = false)
    {
        var ax = Shapes.Axes("LogSumExp", axes, Rank);
        var max = Detach().Max(ax, keepDim: true);
        var m = Where(max.Abs().Lt(float.PositiveInfinity), max, ZerosLike(max));
        var y = (this - m).Exp().Sum(ax, keepDim: true).Log() + m;
        return keepDim ? y : y.Reshape(DropAxes(ax));
    }

    public Tensor LogSumExp(int axis, bool keepDim = false) => LogSumExp([axis], keepDim);

    (Tensor values, int[] index, int[] axes) MaxWithIndex(int[]? axes, string op)
    {
        Device.Common(op, this);
        var ax = Shapes.Axes(op, axes, Rank);
        var (rows, rowLen) = ReducedRows(ax);
        if (rowLen == 0) throw new ShapeMismatchException($"{op}: reducing an empty axis of {Shapes.Format(Shape)}");
        var values = Zeros(KeepDimShape(ax), Device);
        var vd = values.Span;
        var index = new int[vd.Length];
        for (int r = 0; r < vd.Length; r++)
        {
            var row = rows.AsSpan(r * rowLen, rowLen);
            int best = 0;
            for (int i = 1; i < row.Length; i++) if (row[i] > row[best] || (float.IsNaN(row[i]) && !float.IsNaN(row[best]))) best = i;
            index[r] = best; vd[r] = row[best];
        }
        return (values, index, ax);
    }

    /// <summary>The input laid out (kept axes..., reduced axes...) contiguously: one row per output element.</summary>
    (float[] rows, int rowLen) ReducedRows(int[] ax)
    {
        int rowLen = 1;
        foreach (var a in ax) rowLen *= Shape[a];
        using var _ = GradMode.NoGrad();
        var t = Detach().Permute(KeptThenReduced(ax)).Contiguous();
        return (t.Offset == 0 && t.Storage.Length == t.Numel && !t.Device.IsGpu ? t.Storage.Data : t.ToArray(), rowLen);
    }

    int[] KeptThenReduced(int[] ax) => Enumerable.Range(0, Rank).Where(i => !ax.Contains(i)).Concat(ax).ToArray();
    int[] KeepDimShape(int[] ax) => Shape.Select((d, i) => ax.Contains(i) ? 1 : d).ToArray();
    int[] DropAxes(int[] ax) => Shape.Where((_, i) => !ax.Contains(i)).ToArray();
    static bool IsLeadingAxes(int[] ax) { for (int i = 0; i < ax.Length; i++) if (ax[i] != i) return false; return true; }
}
