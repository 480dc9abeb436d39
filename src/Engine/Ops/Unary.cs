using Engine.Autograd;
using Kernels.Cpu;

namespace Engine;

// Elementwise unary math. Each op's derivative lives beside its forward in Kernels/Cpu/Ops.cs.
public sealed partial class Tensor
{
    public Tensor Neg() => Unary<NegOp>("Neg");
    public Tensor Exp() => Unary<ExpOp>("Exp");
    public Tensor Log() => Unary<LogOp>("Log");
    public Tensor Sqrt() => Unary<SqrtOp>("Sqrt");
    public Tensor Abs() => Unary<AbsOp>("Abs");
    public Tensor Tanh() => Unary<TanhOp>("Tanh");
    public Tensor Sigmoid() => Unary<SigmoidOp>("Sigmoid");
    public Tensor Relu() => Unary<ReluOp>("Relu");
    public Tensor Silu() => Unary<SiluOp>("Silu");
    public Tensor Softplus() => Unary<SoftplusOp>("Softplus");

    /// <summary>GELU; <paramref name="tanhApproximation"/> selects the tanh form used by GPT-2 and DiT.</summary>
    public Tensor Gelu(bool tanhApproximation = false) => tanhApproximation ? Unary<GeluTanhOp>("GeluTanh") : Unary<GeluOp>("Gelu");

    public Tensor Square() => this * this;

    Tensor Unary<T>(string op) where T : IUnaryOp
    {
        Device.Common(op, this);
        var x = Contiguous();
        var y = Device.IsGpu ? Gpu.GpuOps.Unary<T>(x) : Uninitialized(Shape, Device);
        if (!Device.IsGpu) Elementwise.Unary<T>(x.Span, y.Span);
        return Backprop.Record(op, y, [x], g =>
        {
            if (x.Device.IsGpu) { Backprop.Accumulate(x, Gpu.GpuOps.UnaryBackward<T>(x, y, g)); return; }
            var dx = Uninitialized(x.Shape, x.Device);
            Elementwise.UnaryBackward<T>(x.Span, y.Span, g.Span, dx.Span);
            Backprop.Accumulate(x, dx);
        });
    }

    /// <summary>x for x &gt; 0, slope·x otherwise.</summary>
    public Tensor LeakyRelu(float slope = 0.01f) =>
        MapWithGrad("LeakyRelu", v => v > 0 ? v : slope * v, v => v > 0 ? 1f : slope, $"slope={slope}");

    /// <summary>x^p for a constant exponent; for p = 0 the gradient is 0 everywhere, x = 0 included (as PyTorch).</summary>
    public Tensor Pow(float p) =>
        MapWithGrad("PowScalar", v => MathF.Pow(v, p), v => p == 0 ? 0f : p * MathF.Pow(v, p - 1f), $"p={p}");

    /// <summary>Limits values to [min, max]; the gradient is 1 inside the range, 0 outside.</summary>
    public Tensor Clamp(float min = float.NegativeInfinity, float max = float.PositiveInfinity)
    {
        if (min > max) throw new ArgumentException($"Clamp: min {min} is above max {max}");
        return MapWithGrad("Clamp", v => Math.Clamp(v, min, max), v => v >= min && v <= max ? 1f : 0f, $"[{min}, {max}]");
    }

    Tensor MapWithGrad(string op, Func<float, float> f, Func<float, float> df, string attrs)
    {
        Device.Common(op, this);
        var x = Contiguous();
        var y = Zeros(Shape, Device);
        var xs = x.Span; var ys = y.Span;
        for (int i = 0; i < xs.Length; i++) ys[i] = f(xs[i]);
        return Backprop.Record(op, y, [x], g =>
        {
            var dx = Zeros(x.Shape, x.Device);
            var xv = x.Span; var gv = g.Span; var dv = dx.Span;
            for (int i = 0; i < xv.Length; i++) dv[i] = gv[i] * df(xv[i]);
            Backprop.Accumulate(x, dx);
        }, attrs);
    }
}
