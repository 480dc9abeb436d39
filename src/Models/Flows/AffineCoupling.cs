using Engine;
using Engine.Nn;

namespace Models.Flows;

/// <summary>How a coupling layer splits its input into the part it keeps and the part it transforms.</summary>
public enum CouplingMask
{
    /// <summary>Spatial checkerboard over (H, W): pixels with (h + w) even are kept (RealNVP).</summary>
    Checkerboard,
    /// <summary>The first half of the channels (or features) is kept (RealNVP after squeezing, Glow).</summary>
    Channel,
}

/// <summary>
/// RealNVP's affine coupling: with a binary mask m, y = m⊙x + (1−m)⊙(x⊙exp(s) + t), where (s, t) = net(m⊙x)
/// and s = tanh(raw) keeps the scale bounded. The Jacobian is triangular, so log|det| = Σ(1−m)⊙s.
/// <see cref="Net"/> maps (B, C, …) to (B, 2C, …): first C outputs for s, last C for t. Its last layer should
/// start at zero so the layer starts as the identity.
/// </summary>
public sealed class AffineCoupling : FlowLayer
{
    readonly Tensor mask;                                                          // broadcasts to x: (1, C, H, W) or (1, D)

    public Layer Net { get; }
    public CouplingMask Kind { get; }
    public bool Flipped { get; }

    /// <param name="shape">Per-sample shape, (C, H, W) for images or (D) for vectors.</param>
    /// <param name="flipped">Swap the kept and transformed parts (alternate it between consecutive layers).</param>
    public AffineCoupling(int[] shape, CouplingMask kind, bool flipped, Layer net)
    {
        Kind = kind; Flipped = flipped;
        Net = Child("net", net);
        mask = Constant(MakeMask(shape, kind, flipped));                          // moves with the layer
    }

    /// <summary>The mask as a (1, …shape) tensor of 0s and 1s (1 = kept).</summary>
    public static Tensor MakeMask(int[] shape, CouplingMask kind, bool flipped)
    {
        if (shape.Length is not (1 or 3) || shape.Any(s => s <= 0))
            throw new ShapeMismatchException($"AffineCoupling: per-sample shape {Shapes.Format(shape)} should be (D) or (C, H, W)");
        int c = shape[0];
        if (kind == CouplingMask.Channel && c < 2)
            throw new ShapeMismatchException($"AffineCoupling: a channel mask needs at least 2 channels, got {Shapes.Format(shape)}");
        if (kind == CouplingMask.Checkerboard && shape.Length != 3)
            throw new ShapeMismatchException($"AffineCoupling: a checkerboard mask needs (C, H, W), got {Shapes.Format(shape)}");
        var m = Tensor.Zeros([1, .. shape]);
        var v = m.Span;
        int spatial = shape.Length == 3 ? shape[1] * shape[2] : 1, w = shape.Length == 3 ? shape[2] : 1;
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < spatial; p++)
            {
                bool keep = kind == CouplingMask.Channel ? ch < c / 2 : (p / w + p % w) % 2 == 0;
                v[ch * spatial + p] = keep ^ flipped ? 1f : 0f;
            }
        return m;
    }

    (Tensor S, Tensor T) ScaleShift(Tensor x)
    {
        if (x.Rank != mask.Rank || !Shapes.SameShape(x.Shape.AsSpan(1), mask.Shape.AsSpan(1)))
            throw new ShapeMismatchException($"AffineCoupling: input {Shapes.Format(x.Shape)} does not match the mask's per-sample shape {Shapes.Format(mask.Shape[1..])}");
        var st = Net.Forward(x * mask);                                          // (B, 2C, …)
        if (st.Shape[1] != 2 * x.Shape[1])
            throw new ShapeMismatchException($"AffineCoupling: net output {Shapes.Format(st.Shape)} should have {2 * x.Shape[1]} channels for input {Shapes.Format(x.Shape)}");
        var parts = st.Chunk(2, 1);
        var inv = 1f - mask;
        return (parts[0].Tanh() * inv, parts[1] * inv);
    }

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x)
    {
        var (s, t) = ScaleShift(x);
        var y = x * s.Exp() + t;                                                 // s = t = 0 where kept
        return (y, SumPerSample(s));
    }

    public override Tensor Inverse(Tensor y)
    {
        var (s, t) = ScaleShift(y);                                              // m⊙y = m⊙x
        return (y - t) * (-s).Exp();
    }
}

/// <summary>The usual conditioner of image couplings: Conv3×3 → ReLU → Conv1×1 → ReLU → Conv3×3 (zero-initialised) to 2C channels.</summary>
public sealed class CouplingConvNet : Layer
{
    readonly Conv2d conv1, conv2, conv3;

    public CouplingConvNet(int channels, int hidden, Engine.Random.Generator g)
    {
        conv1 = Child("conv1", new Conv2d(channels, hidden, 3, g, padding: 1));
        conv2 = Child("conv2", new Conv2d(hidden, hidden, 1, g));
        conv3 = Child("conv3", new Conv2d(hidden, 2 * channels, 3, g, padding: 1));
        Init.Zeros(conv3.Weight); Init.Zeros(conv3.Bias!);
    }

    public override Tensor Forward(Tensor x) => conv3.Forward(conv2.Forward(conv1.Forward(x).Relu()).Relu());
}

/// <summary>The conditioner of vector couplings: an MLP D → hidden → hidden → 2D with SiLU, last layer zero-initialised.</summary>
public sealed class CouplingMlp : Layer
{
    readonly Linear fc1, fc2, fc3;

    public CouplingMlp(int features, int hidden, Engine.Random.Generator g)
    {
        fc1 = Child("fc1", new Linear(features, hidden, g));
        fc2 = Child("fc2", new Linear(hidden, hidden, g));
        fc3 = Child("fc3", new Linear(hidden, 2 * features, g));
        Init.Zeros(fc3.Weight); Init.Zeros(fc3.Bias!);
    }

    public override Tensor Forward(Tensor x) => fc3.Forward(fc2.Forward(fc1.Forward(x).Silu()).Silu());
}
