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

    public int Channels { get; }

    /// <summary>True once the data-dependent initialisation ran (saved with the weights as the buffer <c>initialized</c>).</summary>
    public bool IsInitialized => initialized.Span[0] != 0f;

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
    public void InitializeFrom(Tensor x)
    {
        Check(x);
        using var _ = GradMode.NoGrad();
        int[] axes = x.Rank == 2 ? [0] : [0, 2, 3];
        var mean = x.Mean(axes).ToArray();
        var variance = x.Var(axes, correction: 0).ToArray();
        var b = bias.Span; var s = logScale.Span;
        for (int c = 0; c < Channels; c++)
        {
            b[c] = -mean[c];
            s[c] = -0.5f * MathF.Log(variance[c] + 1e-6f);
        }
        initialized.Span[0] = 1f;
    }

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x)
    {
        Check(x);
        if (!IsInitialized && Training) InitializeFrom(x);
        var y = (x + Broadcastable(bias, x)) * Broadcastable(logScale, x).Exp();
        return (y, PerSample(logScale.Sum() * SpatialSize(x), x.Shape[0]));
    }

    public override Tensor Inverse(Tensor y)
    {
        Check(y);
        return y * Broadcastable(-logScale, y).Exp() - Broadcastable(bias, y);
    }
}
