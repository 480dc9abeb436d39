using Engine.Autograd;

namespace Engine;

// Softmax and log-softmax along one axis, fused (the kernels of Kernels.Cpu.Softmax): one pass for the maximum,
// one for the normaliser, one to write. The input is seen as (outer, len, inner) with the softmax axis in the
// middle, so no permute is needed.
// Each has a composed twin made of primitives that the tests compare it with.
public sealed partial class Tensor
{
    /// <summary>exp(x − max) / Σ exp(x − max) along <paramref name="axis"/>. Backward: dx = y·(g − Σ g·y).</summary>
    /// <example><c>var p = logits.Softmax(-1);</c></example>
    public Tensor Softmax(int axis = -1) => FusedSoftmax("Softmax", axis, log: false);

    /// <summary>x − log Σ exp(x) along <paramref name="axis"/>, without overflow. Backward: dx = g − softmax(x)·Σ g.</summary>
    public Tensor LogSoftmax(int axis = -1) => FusedSoftmax("LogSoftmax", axis, log: true);

    /// <summary>Runs the backend's softmax (or log-softmax) over the (outer, len, inner) view; backward needs only the output.</summary>
    Tensor FusedSoftmax(string op, int axis, bool log)
    {
        var (x, outer, len, inner) = SoftmaxLayout(op, axis);
        var backend = x.Backend;
        var y = Uninitialized(Shape, Device);
        backend.Softmax(log, outer, len, inner, x, y);
        return Backprop.Record(op, y, [x], g =>
        {
            var dx = Uninitialized(x.Shape, x.Device);
            backend.SoftmaxBackward(log, outer, len, inner, y, g.Contiguous(), dx);
            Backprop.AccumulateFresh(x, dx);
        }, $"axis={axis}");
    }

    /// <summary>The composed twin of <see cref="Softmax"/>: Exp, Sum and Div of primitives (slower; for tests).</summary>
    public Tensor SoftmaxComposed(int axis = -1)
    {
        var e = (this - Detach().Max(axis, keepDim: true)).Exp();
        return e / e.Sum(axis, keepDim: true);
    }

    /// <summary>The composed twin of <see cref="LogSoftmax"/>: x − LogSumExp(x) (slower; for tests).</summary>
    public Tensor LogSoftmaxComposed(int axis = -1) => this - LogSumExp(axis, keepDim: true);

    (Tensor x, int outer, int len, int inner) SoftmaxLayout(string op, int axis)
    {
        Device.Common(op, this);
        if (Rank == 0) throw new ShapeMismatchException($"{op}: needs at least one axis, got a scalar");
        int a = Shapes.Axis(op, axis, Rank);
        int len = Shape[a];
        if (len == 0) throw new ShapeMismatchException($"{op}: axis {axis} of {Shapes.Format(Shape)} is empty");
        return (Contiguous(), Shapes.Numel(Shape.AsSpan(0, a)), len, Shapes.Numel(Shape.AsSpan(a + 1)));
    }
}
