using Engine.Autograd;
using Engine.Backends;

namespace Engine;

// Spatial pooling and nearest-neighbour upsampling over (N, C, H, W). Each (n, c) plane is independent;
// P = N·C planes of H×W in, Ho×Wo out.
public sealed partial class Tensor
{
    /// <summary>
    /// Mean over each <paramref name="kernel"/>×<paramref name="kernel"/> window, moved by <paramref name="stride"/>
    /// (default: the kernel). Zero padding counts in the mean, as PyTorch's default count_include_pad.
    /// </summary>
    /// <example><c>var half = x.AvgPool2d(2);</c></example>
    public Tensor AvgPool2d(int kernel, int? stride = null, int padding = 0) => Pool2d("AvgPool2d", max: false, kernel, stride, padding);

    /// <summary>Maximum over each window (padding never wins); the gradient goes to the first maximum of the window.</summary>
    public Tensor MaxPool2d(int kernel, int? stride = null, int padding = 0)
    {
        if (padding * 2 > kernel) throw new ArgumentOutOfRangeException(nameof(padding), $"MaxPool2d: padding {padding} must be at most half the kernel {kernel}");
        return Pool2d("MaxPool2d", max: true, kernel, stride, padding);
    }

    Tensor Pool2d(string op, bool max, int kernel, int? stride, int padding)
    {
        Device.Common(op, this);
        if (Rank != 4) throw new ShapeMismatchException($"{op}: input must be (N, C, H, W), got {Shapes.Format(Shape)}");
        int s = stride ?? kernel;
        if (kernel < 1 || s < 1 || padding < 0)
            throw new ArgumentOutOfRangeException(nameof(kernel), $"{op}: kernel {kernel} and stride {s} must be ≥ 1 and padding {padding} ≥ 0");
        if (Shape[2] + 2 * padding < kernel || Shape[3] + 2 * padding < kernel)
            throw new ShapeMismatchException($"{op}: input {Shapes.Format(Shape)} with padding {padding} is smaller than the {kernel}×{kernel} window");
        int ho = (Shape[2] + 2 * padding - kernel) / s + 1, wo = (Shape[3] + 2 * padding - kernel) / s + 1;
        var geo = new PoolGeometry(Shape[0] * Shape[1], Shape[2], Shape[3], kernel, s, padding, ho, wo);
        var x = Contiguous();
        var backend = x.Backend;
        var y = Uninitialized([Shape[0], Shape[1], ho, wo], Device);               // every window is written
        var argmax = max ? Uninitialized(y.Shape, Device) : null;
        backend.Pool2d(max, geo, x, y, argmax);
        return Backprop.Record(op, y, [x], g =>
        {
            var dx = Uninitialized(x.Shape, x.Device);                              // the backward clears, then sums into it
            backend.Pool2dBackward(max, geo, g.Contiguous(), argmax, dx);
            Backprop.AccumulateFresh(x, dx);
        }, $"kernel={kernel}, stride={s}, padding={padding}");
    }

    /// <summary>Repeats each pixel <paramref name="scale"/>×<paramref name="scale"/> times: (N, C, H, W) → (N, C, H·scale, W·scale).</summary>
    public Tensor UpsampleNearest2d(int scale)
    {
        const string op = "UpsampleNearest2d";
        Device.Common(op, this);
        if (Rank != 4) throw new ShapeMismatchException($"{op}: input must be (N, C, H, W), got {Shapes.Format(Shape)}");
        if (scale < 1) throw new ArgumentOutOfRangeException(nameof(scale), $"{op}: scale must be ≥ 1, got {scale}");
        var x = Contiguous();
        var backend = x.Backend;
        int p = Shape[0] * Shape[1], h = Shape[2], w = Shape[3];
        var y = Uninitialized([Shape[0], Shape[1], h * scale, w * scale], Device);  // every element is written
        backend.Upsample2d(p, h, w, scale, x, y);
        return Backprop.Record(op, y, [x], g =>
        {
            var dx = Uninitialized(x.Shape, x.Device);                             // every element is a sum written once
            backend.Upsample2dBackward(p, h, w, scale, g.Contiguous(), dx);
            Backprop.AccumulateFresh(x, dx);
        }, $"scale={scale}");
    }
}
