using Engine;
using Engine.Autograd;

namespace Models.Flows;

/// <summary>
/// Glow's activation normalisation: a per-channel affine map y = (x + bias)·exp(logScale) over axis 1 of
/// (B, C, H, W) or (B, D). Data-dependent initialisation: the first forward in training mode sets bias and
/// scale so that this batch comes out with zero mean and unit variance per channel. log|det| = H·W·Σ logScale.
/// </summary>
public sealed class ActNorm : FlowLayer
{
    readonly Tensor bias, logScale, initialized;                                    // (C), (C), (1)
    bool initializedSeen;                                                            // a training pass ran here: the buffer holds 1 from then on (unless a state with 0 is loaded later)

    public int Channels { get; }

    /// <summary>True once the data-dependent initialisation ran (saved with the weights as the buffer <c>initialized</c>).</summary>
    public bool IsInitialized => initialized.ToArray()[0] != 0f;

    public ActNorm(int channels)
    {
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels), $"ActNorm: channels must be positive, got {channels}");
        Channels = channels;
        bias = Parameter("bias", Tensor.Zeros([channels]));
        logScale = Parameter("log_scale", Tensor.Zeros([channels]));
        initialized = Buffer("initialized", Tensor.Zeros([1]));
    }

    Tensor Broadcastable(Tensor p, Tensor x) => x.Rank == 2 ? p : p.Reshape(Channels, 1, 1);

    void Check(Tensor x)
    {
        if (x.Rank is not (2 or 4) || x.Shape[1] != Channels)
            throw new ShapeMismatchException($"ActNorm: input {Shapes.Format(x.Shape)} should be (B, {Channels}) or (B, {Channels}, H, W)");
    }

    /// <summary>Sets bias = −mean and logScale = −log(std) per channel from <paramref name="x"/>.</summary>
    public void InitializeFrom(Tensor x) => Initialize(x, onlyIfUnset: false);

    /// <summary>
    /// The data-dependent initialisation with tensor ops, where the layer lives (no value crosses to the host). With
    /// <paramref name="onlyIfUnset"/>, the buffer <c>initialized</c> selects, on the device, between the new values and
    /// the current ones, so a loaded or already initialised layer keeps its parameters.
    /// </summary>
    void Initialize(Tensor x, bool onlyIfUnset)
    {
        Check(x);
        using var _ = GradMode.NoGrad();
        int[] axes = x.Rank == 2 ? [0] : [0, 2, 3];
        var b = -x.Mean(axes);
        var s = (x.Var(axes, correction: 0) + 1e-6f).Log() * -0.5f;
        if (onlyIfUnset)
        {
            b = Tensor.Where(initialized, bias, b);                                   // (1) broadcasts over the channels
            s = Tensor.Where(initialized, logScale, s);
        }
        bias.CopyFrom(b);
        logScale.CopyFrom(s);
        initialized.CopyFrom(Tensor.Ones([1], initialized.Device));
        initializedSeen = true;
    }

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x)
    {
        Check(x);
        if (Training && !initializedSeen) Initialize(x, onlyIfUnset: true);        // once per instance; the buffer decides on the device
        var y = (x + Broadcastable(bias, x)) * Broadcastable(logScale, x).Exp();
        return (y, PerSample(logScale.Sum() * SpatialSize(x), x.Shape[0]));
    }

    public override Tensor Inverse(Tensor y)
    {
        Check(y);
        return y * Broadcastable(-logScale, y).Exp() - Broadcastable(bias, y);
    }
}
