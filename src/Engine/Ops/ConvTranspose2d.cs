using Engine.Autograd;
using Kernels.Cpu;

namespace Engine;

// Transposed 2-D convolution over NCHW tensors. It is the adjoint of Conv2d: its forward is a convolution's
// input gradient and its input gradient is a convolution's forward, with the roles of the channels swapped.
public sealed partial class Tensor
{
    /// <summary>
    /// PyTorch's <c>conv_transpose2d</c>: <paramref name="x"/> (N, Cin, H, W), <paramref name="weight"/> (Cin, Cout/groups, Kh, Kw),
    /// <paramref name="bias"/> (Cout) or null → (N, Cout, Ho, Wo) with Ho = (H − 1)·stride − 2·padding + dilation·(Kh − 1) + outputPadding + 1.
    /// </summary>
    /// <example><c>var up = Tensor.ConvTranspose2d(x, w, b, stride: 2, padding: 1, outputPadding: 1);</c></example>
    public static Tensor ConvTranspose2d(Tensor x, Tensor weight, Tensor? bias, int stride = 1, int padding = 0, int outputPadding = 0, int dilation = 1, int groups = 1) =>
        ConvTranspose2d(x, weight, bias, (stride, stride), (padding, padding), (outputPadding, outputPadding), (dilation, dilation), groups);

    /// <summary><see cref="ConvTranspose2d(Tensor, Tensor, Tensor?, int, int, int, int, int)"/> with separate vertical and horizontal settings.</summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor weight, Tensor? bias, (int H, int W) stride, (int H, int W) padding,
        (int H, int W) outputPadding, (int H, int W) dilation, int groups = 1)
    {
        const string op = "ConvTranspose2d";
        Device.Common(op, bias is null ? [x, weight] : [x, weight, bias]);
        CheckConvArgs(op, x, weight, bias, stride, padding, dilation, groups);
        int n = x.Shape[0], cin = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        if (weight.Shape[0] != cin)
            throw new ShapeMismatchException($"{op}: input {Shapes.Format(x.Shape)} has {cin} channels but weight {Shapes.Format(weight.Shape)} expects {weight.Shape[0]} (weight is (Cin, Cout/groups, Kh, Kw))");
        int cout = weight.Shape[1] * groups, kh = weight.Shape[2], kw = weight.Shape[3];
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != cout))
            throw new ShapeMismatchException($"{op}: bias {Shapes.Format(bias.Shape)} does not match weight {Shapes.Format(weight.Shape)} with groups={groups}; expected [{cout}]");
        if (outputPadding.H < 0 || outputPadding.W < 0 ||
            (outputPadding.H >= stride.H && outputPadding.H >= dilation.H) || (outputPadding.W >= stride.W && outputPadding.W >= dilation.W))
            throw new ArgumentOutOfRangeException(nameof(outputPadding), $"{op}: output padding {outputPadding} must be ≥ 0 and smaller than the stride {stride} or the dilation {dilation}");
        int ho = (h - 1) * stride.H - 2 * padding.H + dilation.H * (kh - 1) + outputPadding.H + 1;
        int wo = (w - 1) * stride.W - 2 * padding.W + dilation.W * (kw - 1) + outputPadding.W + 1;
        if (ho < 1 || wo < 1)
            throw new ShapeMismatchException($"{op}: input {Shapes.Format(x.Shape)} with weight {Shapes.Format(weight.Shape)} and padding {padding} gives an empty output {ho}×{wo}");

        // The convolution this op transposes: it maps (N, Cout, Ho, Wo) to (N, Cin, H, W) with the same weight.
        var geo = Conv2dGeometry.Of(n, cout, ho, wo, cin, kh, kw, stride.H, stride.W, padding.H, padding.W, dilation.H, dilation.W, groups)
            with { OutH = h, OutW = w };
        var xc = x.Contiguous(); var wc = weight.Contiguous(); var bc = bias?.Contiguous();
        var backend = x.Backend;
        var y = Uninitialized([n, cout, ho, wo], x.Device);                       // the input-gradient kernel writes every element
        backend.Conv2dInputGrad(geo, xc, wc, y);
        if (bc is not null) backend.AddChannelBias(y, bc);
        Tensor[] inputs = bc is null ? [xc, wc] : [xc, wc, bc];
        return Backprop.Record(op, y, inputs, gy =>
        {
            var g = gy.Contiguous();
            if (xc.RequiresGrad)
            {
                var dx = Uninitialized(xc.Shape, xc.Device);
                backend.Conv2dForward(geo, g, wc, null, dx);
                Backprop.AccumulateFresh(xc, dx);
            }
            if (wc.RequiresGrad)
            {
                var dw = Uninitialized(wc.Shape, wc.Device);
                backend.Conv2dWeightGrad(geo, g, xc, dw);
                Backprop.AccumulateFresh(wc, dw);
            }
            if (bc is not null && bc.RequiresGrad) Backprop.AccumulateFresh(bc, backend.ChannelSum(g));
        }, ConvAttributes(stride, padding, dilation, groups) + $", output_padding={outputPadding.H}×{outputPadding.W}");
    }
}
