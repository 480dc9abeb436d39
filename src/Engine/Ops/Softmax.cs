using Engine.Autograd;

namespace Engine;

// Softmax and log-softmax along an axis, fused and stable. Their composed twins (Exp, LogSumExp) serve as checks.
public sealed partial class Tensor
{
    public Tensor Softmax(int axis = -1) => SoftmaxCore("Softmax", axis, log: false);
    public Tensor LogSoftmax(int axis = -1) => SoftmaxCore("LogSoftmax", axis, log: true);

    /// <summary>Softmax from primitives: exp(x − logsumexp(x)). For checking the fused op.</summary>
    public Tensor SoftmaxComposed(int axis = -1) => (this - LogSumExp(axis, keepDim: true)).Exp();

    Tensor SoftmaxCore(string op, int axis, bool log)
    {
        Device.Common(op, this);
        axis = Shapes.Axis(op, axis, Rank);
        // Move the axis last so each softmax is one contiguous row; move it back afterwards.
        var x = axis == Rank - 1 ? Contiguous() : Transpose(axis, -1).Contiguous();
        int rowLen = x.Shape[^1], rows = rowLen == 0 ? 0 : x.Numel / rowLen;
        var y = Zeros(x.Shape);
        Kernels.Cpu.Softmax.Forward(rows, rowLen, log, x.Span, y.Span);
        var result = Backprop.Record(op, y, [x], g =>
        {
            var dx = Zeros(x.Shape);
            Kernels.Cpu.Softmax.Backward(rows, rowLen, log, y.Span, g.Span, dx.Span);
            Backprop.Accumulate(x, dx);
        }, $"axis={axis}");
        return axis == Rank - 1 ? result : result.Transpose(axis, -1);
    }
}
