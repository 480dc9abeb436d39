using Engine.Autograd;
using Kernels.Cpu;

namespace Engine;

// Elementwise binary ops with NumPy broadcasting. Backward hands each input the gradient at the broadcast
// shape; Backprop.Accumulate sums it back down to the input's shape.
public sealed partial class Tensor
{
    public static Tensor Add(Tensor a, Tensor b)
    {
        var y = Broadcast<AddOp>("Add", a, b);
        return Backprop.Record("Add", y, [a, b], g => { Backprop.Accumulate(a, g); Backprop.Accumulate(b, g); });
    }

    public static Tensor Sub(Tensor a, Tensor b)
    {
        var y = Broadcast<SubOp>("Sub", a, b);
        return Backprop.Record("Sub", y, [a, b], g => { Backprop.Accumulate(a, g); if (b.RequiresGrad) Backprop.Accumulate(b, -g); });
    }

    public static Tensor Mul(Tensor a, Tensor b)
    {
        var y = Broadcast<MulOp>("Mul", a, b);
        return Backprop.Record("Mul", y, [a, b], g =>
        {
            if (a.RequiresGrad) Backprop.Accumulate(a, g * b);
            if (b.RequiresGrad) Backprop.Accumulate(b, g * a);
        });
    }

    public static Tensor Div(Tensor a, Tensor b)
    {
        var y = Broadcast<DivOp>("Div", a, b);
        return Backprop.Record("Div", y, [a, b], g =>
        {
            if (a.RequiresGrad) Backprop.Accumulate(a, g / b);
            if (b.RequiresGrad) Backprop.Accumulate(b, -g * y / b);
        });
    }

    /// <summary>
    /// a^b elementwise. The gradient for b uses log a, so differentiate b only where a &gt; 0. As PyTorch: the gradient
    /// for a is 0 where b = 0 (not 0·0⁻¹ = NaN at a = 0), and the one for b is 0 where a = 0 and b ≥ 0 (not 0·log 0).
    /// </summary>
    public static Tensor Pow(Tensor a, Tensor b)
    {
        var y = Broadcast<PowOp>("Pow", a, b);
        return Backprop.Record("Pow", y, [a, b], g =>
        {
            var zero = Scalar(0f);                                               // a host scalar broadcasts on any device
            if (a.RequiresGrad) Backprop.Accumulate(a, Where(b.Eq(0f), zero, g * b * Pow(a, b - 1f)));
            if (b.RequiresGrad) Backprop.Accumulate(b, Where(a.Eq(0f) * b.Ge(0f), zero, g * y * a.Log()));
        });
    }

    /// <summary>Elementwise maximum; on ties the gradient is split in halves (as PyTorch).</summary>
    public static Tensor Maximum(Tensor a, Tensor b)
    {
        var y = Broadcast<MaxOp>("Maximum", a, b);
        return Backprop.Record("Maximum", y, [a, b], g =>
        {
            var takeA = Broadcast<GreaterOp>("Maximum", a, b) + 0.5f * Broadcast<EqualOp>("Maximum", a, b);
            if (a.RequiresGrad) Backprop.Accumulate(a, g * takeA);
            if (b.RequiresGrad) Backprop.Accumulate(b, g * (1f - takeA));
        });
    }

    /// <summary>Elementwise minimum; on ties the gradient is split in halves (as PyTorch).</summary>
    public static Tensor Minimum(Tensor a, Tensor b)
    {
        var y = Broadcast<MinOp>("Minimum", a, b);
        return Backprop.Record("Minimum", y, [a, b], g =>
        {
            var takeA = Broadcast<LessOp>("Minimum", a, b) + 0.5f * Broadcast<EqualOp>("Minimum", a, b);
            if (a.RequiresGrad) Backprop.Accumulate(a, g * takeA);
            if (b.RequiresGrad) Backprop.Accumulate(b, g * (1f - takeA));
        });
    }

    public static Tensor operator +(Tensor a, Tensor b) => Add(a, b);
    public static Tensor operator -(Tensor a, Tensor b) => Sub(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => Mul(a, b);
    public static Tensor operator /(Tensor a, Tensor b) => Div(a, b);
    public static Tensor operator +(Tensor a, float b) => Add(a, Scalar(b));
    public static Tensor operator +(float a, Tensor b) => Add(Scalar(a), b);
    public static Tensor operator -(Tensor a, float b) => Sub(a, Scalar(b));
    public static Tensor operator -(float a, Tensor b) => Sub(Scalar(a), b);
    public static Tensor operator *(Tensor a, float b) => Mul(a, Scalar(b));
    public static Tensor operator *(float a, Tensor b) => Mul(Scalar(a), b);
    public static Tensor operator /(Tensor a, float b) => Div(a, Scalar(b));
    public static Tensor operator /(float a, Tensor b) => Div(Scalar(a), b);
    public static Tensor operator -(Tensor a) => a.Neg();

    /// <summary>Adds <paramref name="other"/> (broadcast to this shape) into this contiguous tensor. Not recorded: for gradients and optimizer state.</summary>
    public void AddInPlace(Tensor other, float scale = 1f)
    {
        if (!Shapes.SameShape(Shape, other.Shape))
            other = other.Expand(Shape);
        using var _ = GradMode.NoGrad();
        Backend.Axpy(scale, other.Detach().Contiguous(), this);
    }

    /// <summary>The broadcasting driver: checks devices and shapes, then the backend's binary kernel.</summary>
    internal static Tensor Broadcast<T>(string op, Tensor a, Tensor b) where T : IBinaryOp
    {
        var device = Device.Common(op, a, b);
        var shape = Shapes.Broadcast(op, a.Shape, b.Shape);
        return device.Backend.Binary<T>(a, b, shape);
    }
}
