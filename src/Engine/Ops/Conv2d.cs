using Engine.Autograd;
using Kernels.Cpu;

namespace Engine;

// 2-D convolution over NCHW: x (N, C, H, W), weight (K, C/groups, R, S), bias (K) -> (N, K, P, Q).
public sealed partial class Tensor
{
    /// <summary>PyTorch's conv2d: stride, zero padding, dilation and groups, the same in both directions.</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1, int groups = 1)
    {
        var s = ConvGeometry("Conv2d", x, weight, bias, stride, padding, dilation, groups);
        x = x.Contiguous(); weight = weight.Contiguous();
        var y = Zeros([s.N, s.K, s.P, s.Q]);
        Conv_Forward(s, x.Span, weight.Span, bias is null ? default : bias.Contiguous().Span, y.Span);
        Tensor[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Backprop.Record("Conv2d", y, inputs, g =>
        {
            if (x.RequiresGrad) { var dx = Zeros(x.Shape); Conv.BackwardData(s, g.Span, weight.Span, dx.Span); Backprop.Accumulate(x, dx); }
            if (weight.RequiresGrad) { var dw = Zeros(weight.Shape); Conv.BackwardWeight(s, x.Span, g.Span, dw.Span); Backprop.Accumulate(weight, dw); }
            if (bias is not null && bias.RequiresGrad) Backprop.Accumulate(bias, g.Sum([0, 2, 3]));
        }, $"{s.R}×{s.S}, stride {stride}, pad {padding}, dil {dilation}, groups {groups}");
    }

    static readonly ConvForwardKernel Conv_Forward = KernelRegistry.ConvForward.First(v => !v.IsReference).Run;

    /// <summary>
    /// PyTorch's conv_transpose2d: x (N, Cin, H, W), weight (Cin, Cout/groups, R, S), bias (Cout). It is the
    /// gradient of a Conv2d with respect to its input, so it runs through the same kernels with the passes swapped.
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int outputPadding = 0, int dilation = 1, int groups = 1)
    {
        Device.Common("ConvTranspose2d", bias is null ? [x, weight] : [x, weight, bias]);
        if (x.Rank != 4 || weight.Rank != 4 || groups < 1 || x.Shape[1] != weight.Shape[0] || weight.Shape[0] % groups != 0)
            throw new ShapeMismatchException($"ConvTranspose2d: expected x (N, Cin, H, W) and weight (Cin, Cout/groups, R, S) with groups dividing Cin, got x {Shapes.Format(x.Shape)}, weight {Shapes.Format(weight.Shape)}, groups {groups}");
        if (outputPadding < 0 || outputPadding >= Math.Max(stride, dilation))
            throw new ShapeMismatchException($"ConvTranspose2d: output padding {outputPadding} must be smaller than stride {stride} or dilation {dilation}");
        int n = x.Shape[0], cin = x.Shape[1], h = x.Shape[2], w = x.Shape[3], r = weight.Shape[2], sk = weight.Shape[3];
        int cout = weight.Shape[1] * groups;
        int ho = (h - 1) * stride - 2 * padding + dilation * (r - 1) + outputPadding + 1;
        int wo = (w - 1) * stride - 2 * padding + dilation * (sk - 1) + outputPadding + 1;
        if (ho < 1 || wo < 1) throw new ShapeMismatchException($"ConvTranspose2d: output would be {ho}×{wo} for input {Shapes.Format(x.Shape)}");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != cout))
            throw new ShapeMismatchException($"ConvTranspose2d: bias must have shape [{cout}], got {Shapes.Format(bias.Shape)}");
        // The conv whose input gradient this is: input (N, Cout, Ho, Wo), output (N, Cin, H, W), weight (Cin, Cout/g, R, S).
        var s = new ConvShape(n, cout, ho, wo, cin, r, sk, stride, stride, padding, padding, dilation, dilation, groups);
        if (s.P != h || s.Q != w) throw new ShapeMismatchException($"ConvTranspose2d: inconsistent geometry for input {Shapes.Format(x.Shape)}");
        x = x.Contiguous(); weight = weight.Contiguous();
        var y = Zeros([n, cout, ho, wo]);
        Conv.BackwardData(s, x.Span, weight.Span, y.Span);
        if (bias is not null) y = y.Detach() + bias.Detach().Reshape(1, cout, 1, 1);
        Tensor[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Backprop.Record("ConvTranspose2d", y, inputs, g =>
        {
            if (x.RequiresGrad) { var dx = Zeros(x.Shape); Conv_Forward(s, g.Span, weight.Span, default, dx.Span); Backprop.Accumulate(x, dx); }
            if (weight.RequiresGrad) { var dw = Zeros(weight.Shape); Conv.BackwardWeight(s, g.Span, x.Span, dw.Span); Backprop.Accumulate(weight, dw); }
            if (bias is not null && bias.RequiresGrad) Backprop.Accumulate(bias, g.Sum([0, 2, 3]));
        }, $"{r}×{sk}, stride {stride}, pad {padding}, out pad {outputPadding}, groups {groups}");
    }

    static ConvShape ConvGeometry(string op, Tensor x, Tensor weight, Tensor? bias, int stride, int padding, int dilation, int groups)
    {
        Device.Common(op, bias is null ? [x, weight] : [x, weight, bias]);
        if (x.Rank != 4 || weight.Rank != 4)
            throw new ShapeMismatchException($"{op}: expected x (N, C, H, W) and weight (K, C/groups, R, S), got x {Shapes.Format(x.Shape)}, weight {Shapes.Format(weight.Shape)}");
        if (groups < 1 || x.Shape[1] % groups != 0 || weight.Shape[0] % groups != 0 || weight.Shape[1] * groups != x.Shape[1])
            throw new ShapeMismatchException($"{op}: input has {x.Shape[1]} channels but weight {Shapes.Format(weight.Shape)} with groups {groups} expects {weight.Shape[1] * groups}");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != weight.Shape[0]))
            throw new ShapeMismatchException($"{op}: bias must have shape [{weight.Shape[0]}], got {Shapes.Format(bias.Shape)}");
        if (stride < 1 || dilation < 1 || padding < 0)
            throw new ShapeMismatchException($"{op}: stride {stride} and dilation {dilation} must be ≥ 1, padding {padding} ≥ 0");
        var s = new ConvShape(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], weight.Shape[0], weight.Shape[2], weight.Shape[3],
            stride, stride, padding, padding, dilation, dilation, groups);
        if (s.P < 1 || s.Q < 1)
            throw new ShapeMismatchException($"{op}: kernel {weight.Shape[2]}×{weight.Shape[3]} (dilation {dilation}) is larger than the padded input {Shapes.Format(x.Shape)}");
        return s;
    }
}
