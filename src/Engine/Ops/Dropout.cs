using Engine.Autograd;
using Engine.Random;
using Kernels.Cpu;

namespace Engine;

// Inverted dropout: y = x · m with m = 1/(1−p) where a uniform draw u ≥ p, else 0. The mask is drawn from the
// caller's generator, saved, and reused by backward, so dx = g · m.
public sealed partial class Tensor
{
    /// <summary>
    /// Zeroes each element with probability <paramref name="p"/> and scales the rest by 1/(1−p), so the
    /// expectation is unchanged. With <paramref name="training"/> false or p = 0 it returns this tensor.
    /// A p outside [0, 1) is an <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    /// <example><c>var h = x.Dropout(0.1f, g, training: true);</c></example>
    public Tensor Dropout(float p, Generator g, bool training)
    {
        if (!(p >= 0f && p < 1f))
            throw new ArgumentOutOfRangeException(nameof(p), $"Dropout: p must be in [0, 1), got {p} (input {Shapes.Format(Shape)})");
        if (!training || p == 0f) return this;
        Device.Common("Dropout", this);
        var x = Contiguous();
        var backend = x.Backend;
        var uniform = Rand(Shape, g, device: Device);
        var keep = backend.Binary<GreaterEqualOp>(uniform, Scalar(p), Shape);
        var mask = backend.Binary<MulOp>(keep, Scalar(1f / (1f - p)), Shape);
        uniform.Dispose(); keep.Dispose();
        var y = backend.Binary<MulOp>(x, mask, Shape);
        return Backprop.Record("Dropout", y, [x], grad => Backprop.AccumulateFresh(x, backend.Binary<MulOp>(grad.Contiguous(), mask, x.Shape)), $"p={p}");
    }
}
