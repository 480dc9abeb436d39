using Engine.Nn;
using Engine.Random;
using Models.Gan;
using Models.PixelCnn;
using Models.Vae;

namespace Engine.Tests;

// Gradient checks for the ops the classic families add: masked convolution, the discretised logistic
// likelihood, spectral normalisation and the discriminator's minibatch standard deviation.
public static partial class GradCases
{
    static readonly Tensor VerticalMaskB = PixelCnnMasks.Vertical(3, maskB: true);
    static readonly Tensor HorizontalMaskA = PixelCnnMasks.Horizontal(3, maskB: false);

    /// <summary>8-bit levels scaled to [−1, 1], including both end bins.</summary>
    static readonly Tensor LogisticX = Tensor.FromArray([-1f, -1f + 2f / 255f, -0.5f + 1f / 255f, 0f + 1f / 255f, 0.3f - 1f / 255f, 1f - 2f / 255f, 1f, 0.7f + 1f / 255f], 2, 4);

    static readonly Tensor SpectralU = Tensor.FromArray([0.6f, -0.8f, 0f], 3);
    static readonly Tensor SpectralV = Tensor.FromArray([0.5f, 0.5f, -0.5f, 0.5f], 4);

    public static IEnumerable<GradCase> Families() =>
    [
        new("masked conv2d vertical mask B", x => MaskedConv2d.Apply(x[0], x[1], VerticalMaskB.To(x[1].Device), x[2], (1, 1)),
            g => [R(g, 2, 3, 5, 4), R(g, 4, 3, 3, 3), R(g, 4)]),
        new("masked conv2d horizontal mask A no bias", x => MaskedConv2d.Apply(x[0], x[1], HorizontalMaskA.To(x[1].Device), null, (0, 1)),
            g => [R(g, 1, 2, 3, 5), R(g, 3, 2, 1, 3)]),
        // Means near the data and narrow logistics keep every bin's probability large enough for float32 differences.
        new("discretised logistic log-probability", x => DiscretizedLogistic.LogProb(LogisticX.To(x[0].Device), LogisticX.To(x[0].Device) + x[0] * 0.02f, x[1] * 0.3f - 4f),
            g => [R(g, 2, 4), R(g, 2, 4)]),
        new("spectral norm", x => SpectralNorm.Apply(x[0], SpectralU.To(x[0].Device), SpectralV.To(x[0].Device)), g => [R(g, 3, 2, 1, 2)]),
        new("minibatch standard deviation", x => DcganDiscriminator.MinibatchStd(x[0]) * x[1], g => [R(g, 3, 2, 2, 2), R(g, 3, 1, 2, 2)]),
    ];
}
