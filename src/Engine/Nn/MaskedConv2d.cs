using Engine.Random;

namespace Engine.Nn;

/// <summary>
/// A stride-1 2-D convolution whose kernel is multiplied by a fixed 0/1 mask (Kh, Kw) before every use, so
/// masked taps neither contribute to the output nor receive gradient: the building block of autoregressive
/// image models (PixelCNN's masks A and B). Weight (Cout, Cin, Kh, Kw), bias (Cout), and the mask as a
/// buffer named <c>mask</c>. Weights start uniform in ±1/√fan_in, fan_in counting only the open taps.
/// </summary>
/// <example><c>var conv = new MaskedConv2d(1, 32, mask, g, padding: (1, 1)); // mask (3, 3) of 0s and 1s</c></example>
public sealed class MaskedConv2d : Layer
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    /// <summary>(Kh, Kw) of 0s and 1s.</summary>
    public Tensor Mask { get; }
    public (int H, int W) Padding { get; }

    public MaskedConv2d(int inChannels, int outChannels, Tensor mask, Generator g, (int H, int W) padding, bool bias = true)
    {
        CheckMask(mask);
        CheckMaskValues(mask);
        if (inChannels < 1 || outChannels < 1)
            throw new ShapeMismatchException($"MaskedConv2d: channels must be positive, got in {inChannels}, out {outChannels}");
        if (padding.H < 0 || padding.W < 0)
            throw new ArgumentOutOfRangeException(nameof(padding), $"MaskedConv2d: padding must be ≥ 0, got {padding}");
        int open = 0;
        foreach (var v in mask.ToArray()) if (v != 0) open++;
        if (open == 0) throw new ArgumentException($"MaskedConv2d: mask {Shapes.Format(mask.Shape)} has no open tap");
        Padding = padding;
        float bound = 1f / MathF.Sqrt(inChannels * open);
        Weight = Parameter("weight", Tensor.Rand([outChannels, inChannels, mask.Shape[0], mask.Shape[1]], g, -bound, bound));
        if (bias) Bias = Parameter("bias", Tensor.Rand([outChannels], g, -bound, bound));
        Mask = Buffer("mask", mask.Clone());
        using (Autograd.GradMode.NoGrad()) Weight.CopyFrom(Weight * Mask);          // masked taps start at zero too
    }

    /// <summary>(N, Cin, H, W) → (N, Cout, H + 2·padding.H − Kh + 1, W + 2·padding.W − Kw + 1).</summary>
    public override Tensor Forward(Tensor x) => Apply(x, Weight, Mask, Bias, Padding);

    /// <summary>
    /// conv2d(x, weight ⊙ mask, bias) with stride 1: the op behind the layer, differentiable in x, weight and bias.
    /// The mask (Kh, Kw) broadcasts over the weight's channel axes; its values (0 or 1) are checked where the layer is built,
    /// not on every call, so a mask on a device is never read back.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor mask, Tensor? bias, (int H, int W) padding)
    {
        CheckMask(mask);
        if (weight.Rank != 4 || weight.Shape[2] != mask.Shape[0] || weight.Shape[3] != mask.Shape[1])
            throw new ShapeMismatchException($"MaskedConv2d: weight {Shapes.Format(weight.Shape)} does not end in the mask's kernel size {Shapes.Format(mask.Shape)}");
        return Tensor.Conv2d(x, weight * mask, bias, (1, 1), padding, (1, 1));
    }

    static void CheckMask(Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        if (mask.Rank != 2 || mask.Shape[0] < 1 || mask.Shape[1] < 1)
            throw new ShapeMismatchException($"MaskedConv2d: mask must be (Kh, Kw) with Kh, Kw ≥ 1, got {Shapes.Format(mask.Shape)}");
    }

    static void CheckMaskValues(Tensor mask)
    {
        foreach (var v in mask.ToArray())
            if (v != 0f && v != 1f) throw new ArgumentException($"MaskedConv2d: mask values must be 0 or 1, got {v}");
    }
}
