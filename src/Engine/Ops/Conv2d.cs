using Engine.Autograd;
using Kernels.Cpu;

namespace Engine;

// 2-D convolution over NCHW tensors. N batch, C channels, H×W plane, K kernel.
// Forward and both gradients run the kernels picked in KernelRegistry (im2col + GEMM by default).
public sealed partial class Tensor
{
    /// <summary>
    /// PyTorch's <c>conv2d</c>: <paramref name="x"/> (N, Cin, H, W), <paramref name="weight"/> (Cout, Cin/groups, Kh, Kw),
    /// <paramref name="bias"/> (Cout) or null → (N, Cout, Ho, Wo), with Ho = ⌊(H + 2·padding − dilation·(Kh − 1) − 1) / stride⌋ + 1.
    /// </summary>
    /// <example><c>var y = Tensor.Conv2d(x, w, b, stride: 2, padding: 1);</c></example>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride = 1, int padding = 0, int dilation = 1, int groups = 1) =>
        Conv2d(x, weight, bias, (stride, stride), (padding, padding), (dilation, dilation), groups);

    /// <summary><see cref="Conv2d(Tensor, Tensor, Tensor?, int, int, int, int)"/> with separate vertical and horizontal stride, padding and dilation.</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation, int groups = 1)
    {
        const string op = "Conv2d";
        Device.Common(op, bias is null ? [x, weight] : [x, weight, bias]);
        CheckConvArgs(op, x, weight, bias, stride, padding, dilation, groups);
        int n = x.Shape[0], cin = x.Shape[1], cout = weight.Shape[0];
        if (weight.Shape[1] * groups != cin)
            throw new ShapeMismatchException($"{op}: input {Shapes.Format(x.Shape)} has {cin} channels but weight {Shapes.Format(weight.Shape)} with groups={groups} expects {weight.Shape[1] * groups}");
        if (cout % groups != 0)
            throw new ShapeMismatchException($"{op}: groups={groups} does not divide the {cout} output channels of weight {Shapes.Format(weight.Shape)}");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != cout))
            throw new ShapeMismatchException($"{op}: bias {Shapes.Format(bias.Shape)} does not match weight {Shapes.Format(weight.Shape)}; expected [{cout}]");
        var geo = Conv2dGeometry.Of(n, cin, x.Shape[2], x.Shape[3], cout, weight.Shape[2], weight.Shape[3],
            stride.H, stride.W, padding.H, padding.W, dilation.H, dilation.W, groups);
        if (geo.OutH < 1 || geo.OutW < 1)
            throw new ShapeMismatchException($"{op}: input {Shapes.Format(x.Shape)} is smaller than the dilated kernel of weight {Shapes.Format(weight.Shape)} (padding {padding}, dilation {dilation})");

        var xc = x.Contiguous(); var wc = weight.Contiguous(); var bc = bias?.Contiguous();
        var backend = x.Backend;
        var y = Uninitialized([n, cout, geo.OutH, geo.OutW], x.Device);              // the kernels overwrite every element
        backend.Conv2dForward(geo, xc, wc, bc, y);
        Tensor[] inputs = bc is null ? [xc, wc] : [xc, wc, bc];
        return Backprop.Record(op, y, inputs, gy =>
        {
            var g = gy.Contiguous();
            if (xc.RequiresGrad)
            {
                var dx = Uninitialized(xc.Shape, xc.Device);
                backend.Conv2dInputGrad(geo, g, wc, dx);
                Backprop.AccumulateFresh(xc, dx);
            }
            if (wc.RequiresGrad)
            {
                var dw = Uninitialized(wc.Shape, wc.Device);
                backend.Conv2dWeightGrad(geo, xc, g, dw);
                Backprop.AccumulateFresh(wc, dw);
            }
            if (bc is not null && bc.RequiresGrad) Backprop.AccumulateFresh(bc, backend.ChannelSum(g));
        }, ConvAttributes(stride, padding, dilation, groups));
    }

    /// <summary>Rank, positivity and group checks shared by Conv2d and ConvTranspose2d.</summary>
    static void CheckConvArgs(string op, Tensor x, Tensor weight, Tensor? bias, (int H, int W) stride, (int H, int W) padding, (int H, int W) dilation, int groups)
    {
        if (x.Rank != 4) throw new ShapeMismatchException($"{op}: input must be (N, C, H, W), got {Shapes.Format(x.Shape)}");
        if (weight.Rank != 4) throw new ShapeMismatchException($"{op}: weight must have rank 4, got {Shapes.Format(weight.Shape)}");
        if (groups < 1) throw new ArgumentOutOfRangeException(nameof(groups), $"{op}: groups must be ≥ 1, got {groups}");
        if (x.Shape[1] % groups != 0)
            throw new ShapeMismatchException($"{op}: groups={groups} does not divide the {x.Shape[1]} channels of input {Shapes.Format(x.Shape)}");
        if (stride.H < 1 || stride.W < 1) throw new ArgumentOutOfRangeException(nameof(stride), $"{op}: stride must be ≥ 1, got {stride}");
        if (dilation.H < 1 || dilation.W < 1) throw new ArgumentOutOfRangeException(nameof(dilation), $"{op}: dilation must be ≥ 1, got {dilation}");
        if (padding.H < 0 || padding.W < 0) throw new ArgumentOutOfRangeException(nameof(padding), $"{op}: padding must be ≥ 0, got {padding}");
        if (weight.Shape[2] < 1 || weight.Shape[3] < 1) throw new ShapeMismatchException($"{op}: empty kernel in weight {Shapes.Format(weight.Shape)}");
    }

    static string ConvAttributes((int H, int W) stride, (int H, int W) padding, (int H, int W) dilation, int groups) =>
        $"stride={stride.H}×{stride.W}, padding={padding.H}×{padding.W}, dilation={dilation.H}×{dilation.W}, groups={groups}";
}
