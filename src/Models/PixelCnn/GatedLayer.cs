using Engine;
using Engine.Nn;
using Engine.Random;

namespace Models.PixelCnn;

/// <summary>
/// One layer of the gated PixelCNN (van den Oord et al., 2016). B batch, C channels, H×W plane.
/// <list type="bullet">
/// <item>vertical stack: masked k×k conv → 2C features f_v (+ class bias) → gate tanh(a)·σ(b);</item>
/// <item>horizontal stack: masked 1×k conv → 2C, plus a 1×1 conv of f_v (which only sees rows above) and the
/// class bias → gate → 1×1 conv → C, with a residual connection after the first layer.</item>
/// </list>
/// The layer is split into its vertical and horizontal halves so the sampler can cache the vertical features of a
/// row and recompute only the horizontal stack for each pixel.
/// </summary>
public sealed class GatedLayer : Module
{
    readonly MaskedConv2d vertical, horizontal;
    readonly Conv2d verticalToHorizontal, horizontalOut;
    readonly Embedding? classBias;

    public int Channels { get; }

    /// <summary>True after the first layer: the horizontal stack adds its input back.</summary>
    public bool Residual { get; }

    /// <param name="first">The first layer: mask A on both stacks, no residual.</param>
    public GatedLayer(int inChannels, int channels, int kernel, bool first, int classes, Generator g)
    {
        Channels = channels;
        Residual = !first;
        vertical = Child("vertical", new MaskedConv2d(inChannels, 2 * channels, PixelCnnMasks.Vertical(kernel, maskB: !first), g, (kernel / 2, kernel / 2)));
        horizontal = Child("horizontal", new MaskedConv2d(inChannels, 2 * channels, PixelCnnMasks.Horizontal(kernel, maskB: !first), g, (0, kernel / 2)));
        verticalToHorizontal = Child("v_to_h", new Conv2d(2 * channels, 2 * channels, 1, g));
        horizontalOut = Child("h_out", new Conv2d(channels, channels, 1, g));
        if (classes > 0)
        {
            classBias = Child("class_bias", new Embedding(classes, 4 * channels, g));
            Init.Zeros(classBias.Weight);
        }
    }

    /// <summary>Per-image class biases for the two stacks, each (B, 2C, 1, 1); nulls for an unconditional layer.</summary>
    public (Tensor? Vertical, Tensor? Horizontal) Conditioning(int[]? labels)
    {
        if (classBias is null || labels is null) return (null, null);
        var both = classBias.Forward(labels).Reshape(labels.Length, 4 * Channels, 1, 1); // (B, 4C, 1, 1)
        var parts = both.Chunk(2, 1);
        return (parts[0], parts[1]);
    }

    /// <summary>Pre-gate vertical features f_v: (B, Cin, H, W) → (B, 2C, H, W); row i depends on input rows &lt; i only.</summary>
    public Tensor VerticalFeatures(Tensor v, Tensor? bias)
    {
        var f = vertical.Forward(v);
        return bias is null ? f : f + bias;
    }

    /// <summary>What the vertical features add to the horizontal stack: a 1×1 conv, (B, 2C, H, W) → (B, 2C, H, W).</summary>
    public Tensor VerticalToHorizontal(Tensor verticalFeatures) => verticalToHorizontal.Forward(verticalFeatures);

    /// <summary>The horizontal stack: h (B, Cin, H, W) and the vertical contribution (B, 2C, H, W) → (B, C, H, W).</summary>
    public Tensor Horizontal(Tensor h, Tensor fromVertical, Tensor? bias)
    {
        var f = horizontal.Forward(h) + fromVertical;
        if (bias is not null) f += bias;
        var y = horizontalOut.Forward(Gate(f));
        return Residual ? y + h : y;
    }

    /// <summary>(v, h) → (v', h') for whole images.</summary>
    public (Tensor V, Tensor H) Forward(Tensor v, Tensor h, int[]? labels)
    {
        var (bv, bh) = Conditioning(labels);
        var fv = VerticalFeatures(v, bv);
        return (Gate(fv), Horizontal(h, VerticalToHorizontal(fv), bh));
    }

    /// <summary>The gated activation tanh(a) ⊙ σ(b) over the two channel halves: (B, 2C, …) → (B, C, …).</summary>
    public static Tensor Gate(Tensor f)
    {
        var parts = f.Chunk(2, 1);
        return parts[0].Tanh() * parts[1].Sigmoid();
    }
}
