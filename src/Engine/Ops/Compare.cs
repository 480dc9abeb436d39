using Engine.Autograd;
using Kernels.Cpu;

namespace Engine;

// Comparisons give 1.0 / 0.0 masks (not differentiable); Where selects between two tensors by a mask.
public sealed partial class Tensor
{
    public Tensor Gt(Tensor other) => Broadcast<GreaterOp>("Gt", this, other);
    public Tensor Lt(Tensor other) => Broadcast<LessOp>("Lt", this, other);
    public Tensor Ge(Tensor other) => Broadcast<GreaterEqualOp>("Ge", this, other);
    public Tensor Le(Tensor other) => Broadcast<LessEqualOp>("Le", this, other);
    public Tensor Eq(Tensor other) => Broadcast<EqualOp>("Eq", this, other);
    public Tensor Gt(float v) => Gt(Scalar(v));
    public Tensor Lt(float v) => Lt(Scalar(v));
    public Tensor Ge(float v) => Ge(Scalar(v));
    public Tensor Le(float v) => Le(Scalar(v));
    public Tensor Eq(float v) => Eq(Scalar(v));

    /// <summary>
    /// Elementwise <c>condition ≠ 0 ? a : b</c>, all three broadcast together. Unlike <c>c·a + (1−c)·b</c> it
    /// does not let an infinity in the branch not taken leak into the result or the gradient.
    /// </summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b)
    {
        var device = Device.Common("Where", condition, a, b);
        var shape = Shapes.Broadcast("Where", Shapes.Broadcast("Where", condition.Shape, a.Shape), b.Shape);
        var y = device.Backend.Where(condition.Detach(), a.Detach(), b.Detach(), shape);
        return Backprop.Record("Where", y, [a, b], g =>
        {
            var zero = Scalar(0f);                                               // a host scalar broadcasts on any device
            if (a.RequiresGrad) Backprop.Accumulate(a, Where(condition, g, zero));
            if (b.RequiresGrad) Backprop.Accumulate(b, Where(condition, zero, g));
        });
    }
}
