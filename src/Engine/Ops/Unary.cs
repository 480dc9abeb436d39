using Engine.Autograd;
using Engine.Backends;
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
        var y = Backend.Unary<T>(x);
        return Backprop.Record(op, y, [x], g => Backprop.AccumulateFresh(x, x.Backend.UnaryBackward<T>(x, y, g.Contiguous())));
    }

    /// <summary>x for x &gt; 0, slope·x otherwise.</summary>
    public Tensor LeakyRelu(float slope = 0.01f) => Map("LeakyRelu", new ScalarMap(ScalarMapKind.LeakyRelu, slope), $"slope={slope}");

    /// <summary>x^p for a constant exponent; for p = 0 the gradient is 0 everywhere, x = 0 included (as PyTorch).</summary>
    public Tensor Pow(float p) => Map("PowScalar", new ScalarMap(ScalarMapKind.Pow, p), $"p={p}");

    /// <summary>Limits values to [min, max]; the gradient is 1 inside the range, 0 outside.</summary>
    public Tensor Clamp(float min = float.NegativeInfinity, float max = float.PositiveInfinity)
    {
        if (min > max) throw new ArgumentException($"Clamp: min {min} is above max {max}");
        return Map("Clamp", new ScalarMap(ScalarMapKind.Clamp, min, max), $"[{min}, {max}]");
    }

    Tensor Map(string op, ScalarMap f, string attrs)
    {
        Device.Common(op, this);
        var x = Contiguous();
        var y = Backend.Map(f, x);
        return Backprop.Record(op, y, [x], g => Backprop.AccumulateFresh(x, x.Backend.MapBackward(f, x, g.Contiguous())), attrs);
    }
}
