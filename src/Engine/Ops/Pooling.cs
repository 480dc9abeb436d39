using Engine.Autograd;

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
    public Tensor AvgPool2d(int kernel, int? stride = null, int padding = 0)
    {
        var (x, p, ho, wo, s) = PoolLayout("AvgPool2d", kernel, stride, padding);
        int h = Shape[2], w = Shape[3];
        float inv = 1f / (kernel * kernel);
        var y = Zeros([Shape[0], Shape[1], ho, wo], Device);
        var xs = x.Span; var ys = y.Span;
        for (int pl = 0; pl < p; pl++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                {
                    double sum = 0;
                    var (h0, h1) = Window(oh, kernel, s, padding, h); var (w0, w1) = Window(ow, kernel, s, padding, w);
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++) sum += xs[(pl * h + ih) * w + iw];
                    ys[(pl * ho + oh) * wo + ow] = (float)sum * inv;
                }
        return Backprop.Record("AvgPool2d", y, [x], g =>
        {
            var dx = Zeros(x.Shape, x.Device);
            var gs = g.Span; var ds = dx.Span;
            for (int pl = 0; pl < p; pl++)
                for (int oh = 0; oh < ho; oh++)
                    for (int ow = 0; ow < wo; ow++)
                    {
                        float share = gs[(pl * ho + oh) * wo + ow] * inv;
                        var (h0, h1) = Window(oh, kernel, s, padding, h); var (w0, w1) = Window(ow, kernel, s, padding, w);
                        for (int ih = h0; ih < h1; ih++)
                            for (int iw = w0; iw < w1; iw++) ds[(pl * h + ih) * w + iw] += share;
                    }
            Backprop.Accumulate(x, dx);
        }, $"kernel={kernel}, stride={s}, padding={padding}");
    }

    /// <summary>Maximum over each window (padding never wins); the gradient goes to the first maximum of the window.</summary>
    public Tensor MaxPool2d(int kernel, int? stride = null, int padding = 0)
    {
        var (x, p, ho, wo, s) = PoolLayout("MaxPool2d", kernel, stride, padding);
        int h = Shape[2], w = Shape[3];
        if (padding * 2 > kernel) throw new ArgumentOutOfRangeException(nameof(padding), $"MaxPool2d: padding {padding} must be at most half the kernel {kernel}");
        var y = Zeros([Shape[0], Shape[1], ho, wo], Device);
        var argmax = new int[y.Numel];
        var xs = x.Span; var ys = y.Span;
        for (int pl = 0; pl < p; pl++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                {
                    float best = float.NegativeInfinity; int at = -1;
                    var (h0, h1) = Window(oh, kernel, s, padding, h); var (w0, w1) = Window(ow, kernel, s, padding, w);
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                        {
                            int i = (pl * h + ih) * w + iw;
                            if (at < 0 || xs[i] > best || (float.IsNaN(xs[i]) && !float.IsNaN(best))) { best = xs[i]; at = i; }
                        }
                    int o = (pl * ho + oh) * wo + ow;
                    ys[o] = best; argmax[o] = at;
                }
        return Backprop.Record("MaxPool2d", y, [x], g =>
        {
            var dx = Zeros(x.Shape, x.Device);
            var gs = g.Span; var ds = dx.Span;
            for (int o = 0; o < argmax.Length; o++) ds[argmax[o]] += gs[o];
            Backprop.Accumulate(x, dx);
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
        int p = Shape[0] * Shape[1], h = Shape[2], w = Shape[3], ho = h * scale, wo = w * scale;
        var y = Uninitialized([Shape[0], Shape[1], ho, wo], Device);               // every element is written
        var xd = x.Storage.Data; var yd = y.Storage.Data;
        int xOff = x.Offset;
        // Per plane: each input row widened once into its first output row, which the next scale − 1 rows copy.
        Kernels.Cpu.Parallelism.For(p, (long)ho * wo, pl =>
        {
            for (int ih = 0; ih < h; ih++)
            {
                int src = xOff + (pl * h + ih) * w, dst = (pl * ho + ih * scale) * wo;
                for (int iw = 0, o = dst; iw < w; iw++)
                    for (int k = 0; k < scale; k++) yd[o++] = xd[src + iw];
                for (int k = 1; k < scale; k++) Array.Copy(yd, dst, yd, dst + k * wo, wo);
            }
        });
        return Backprop.Record(op, y, [x], g =>
        {
            var dx = Uninitialized(x.Shape, x.Device);                             // every element is a sum written once
            var gd = g.Storage.Data; var dd = dx.Storage.Data;
            int gOff = g.Offset;
            Kernels.Cpu.Parallelism.For(p, (long)ho * wo, pl =>
            {
                for (int ih = 0; ih < h; ih++)
                    for (int iw = 0; iw < w; iw++)
                    {
                        float sum = 0f;
                        int at = gOff + (pl * ho + ih * scale) * wo + iw * scale;
                        for (int a = 0; a < scale; a++, at += wo)
                            for (int b = 0; b < scale; b++) sum += gd[at + b];
                        dd[(pl * h + ih) * w + iw] = sum;
                    }
            });
            Backprop.AccumulateFresh(x, dx);
        }, $"scale={scale}");
    }

    (Tensor x, int planes, int ho, int wo, int stride) PoolLayout(string op, int kernel, int? stride, int padding)
    {
        Device.Common(op, this);
        if (Rank != 4) throw new ShapeMismatchException($"{op}: input must be (N, C, H, W), got {Shapes.Format(Shape)}");
        int s = stride ?? kernel;
        if (kernel < 1 || s < 1 || padding < 0)
            throw new ArgumentOutOfRangeException(nameof(kernel), $"{op}: kernel {kernel} and stride {s} must be ≥ 1 and padding {padding} ≥ 0");
        int ho = (Shape[2] + 2 * padding - kernel) / s + 1, wo = (Shape[3] + 2 * padding - kernel) / s + 1;
        if (Shape[2] + 2 * padding < kernel || Shape[3] + 2 * padding < kernel)
            throw new ShapeMismatchException($"{op}: input {Shapes.Format(Shape)} with padding {padding} is smaller than the {kernel}×{kernel} window");
        return (Contiguous(), Shape[0] * Shape[1], ho, wo, s);
    }

    /// <summary>The in-bounds input indices [lo, hi) under window <paramref name="o"/> along one axis of <paramref name="size"/>.</summary>
    static (int lo, int hi) Window(int o, int kernel, int stride, int padding, int size)
    {
        int start = o * stride - padding;
        return (Math.Max(start, 0), Math.Min(start + kernel, size));
    }
}
