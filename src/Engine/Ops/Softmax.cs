using Engine.Autograd;

namespace Engine;

// Softmax and log-softmax along one axis, fused: one pass for the maximum, one for the normaliser, one to
// write. The input is seen as (outer, len, inner) with the softmax axis in the middle, so no permute is needed.
// Each has a composed twin made of primitives that the tests compare it with.
public sealed partial class Tensor
{
    /// <summary>exp(x − max) / Σ exp(x − max) along <paramref name="axis"/>. Backward: dx = y·(g − Σ g·y).</summary>
    /// <example><c>var p = logits.Softmax(-1);</c></example>
    public Tensor Softmax(int axis = -1)
    {
        var (x, outer, len, inner) = SoftmaxLayout("Softmax", axis);
        var y = Zeros(Shape);
        var xs = x.Span; var ys = y.Span;
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * len * inner + i;
                float max = RowMax(xs, b, len, inner);
                double sum = 0;
                for (int j = 0; j < len; j++) { float e = MathF.Exp(xs[b + j * inner] - max); ys[b + j * inner] = e; sum += e; }
                float scale = (float)(1.0 / sum);
                for (int j = 0; j < len; j++) ys[b + j * inner] *= scale;
            }
        return Backprop.Record("Softmax", y, [x], g =>
        {
            var dx = Zeros(x.Shape);
            var gs = g.Span; var yv = y.Span; var ds = dx.Span;
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    int b = o * len * inner + i;
                    double dot = 0;
                    for (int j = 0; j < len; j++) dot += (double)gs[b + j * inner] * yv[b + j * inner];
                    for (int j = 0; j < len; j++) ds[b + j * inner] = yv[b + j * inner] * (gs[b + j * inner] - (float)dot);
                }
            Backprop.Accumulate(x, dx);
        }, $"axis={axis}");
    }

    /// <summary>x − log Σ exp(x) along <paramref name="axis"/>, without overflow. Backward: dx = g − softmax(x)·Σ g.</summary>
    public Tensor LogSoftmax(int axis = -1)
    {
        var (x, outer, len, inner) = SoftmaxLayout("LogSoftmax", axis);
        var y = Zeros(Shape);
        var xs = x.Span; var ys = y.Span;
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * len * inner + i;
                float max = RowMax(xs, b, len, inner);
                double sum = 0;
                for (int j = 0; j < len; j++) sum += Math.Exp(xs[b + j * inner] - max);
                float logSum = (float)Math.Log(sum);
                for (int j = 0; j < len; j++) ys[b + j * inner] = xs[b + j * inner] - max - logSum;
            }
        return Backprop.Record("LogSoftmax", y, [x], g =>
        {
            var dx = Zeros(x.Shape);
            var gs = g.Span; var yv = y.Span; var ds = dx.Span;
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                {
                    int b = o * len * inner + i;
                    double total = 0;
                    for (int j = 0; j < len; j++) total += gs[b + j * inner];
                    for (int j = 0; j < len; j++) ds[b + j * inner] = gs[b + j * inner] - MathF.Exp(yv[b + j * inner]) * (float)total;
                }
            Backprop.Accumulate(x, dx);
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

    static float RowMax(ReadOnlySpan<float> xs, int start, int len, int stride)
    {
        float max = float.NegativeInfinity;
        for (int j = 0; j < len; j++) max = MathF.Max(max, xs[start + j * stride]);
        return float.IsNegativeInfinity(max) ? 0f : max;
    }
}
