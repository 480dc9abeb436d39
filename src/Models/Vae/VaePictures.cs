using Engine;
using Engine.Autograd;

namespace Models.Vae;

/// <summary>Pictures of what a <see cref="ConvVae"/> learned, as image batches (N, 1, 28, 28) in [0, 1] laid out row by row.</summary>
public static class VaePictures
{
    /// <summary>Each input beside its reconstruction (decoder mean at z = μ): 2N images, pairs side by side.</summary>
    public static Tensor Reconstructions(ConvVae vae, Tensor images)
    {
        using var _ = GradMode.NoGrad();
        var (mu, _) = vae.Encode(images);
        var recon = vae.MeanImage(vae.Decode(mu));                                         // (N, 1, 28, 28)
        int n = images.Shape[0];
        var pairs = new Tensor[2 * n];
        for (int i = 0; i < n; i++) { pairs[2 * i] = images.Narrow(0, i, 1); pairs[2 * i + 1] = recon.Narrow(0, i, 1); }
        return Tensor.Cat(pairs, 0);
    }

    /// <summary>
    /// Straight lines in latent space between the means of consecutive pairs of <paramref name="images"/> (2P of
    /// them): P rows of <paramref name="steps"/> decoded images, the first and last the two encoded images.
    /// </summary>
    public static Tensor Interpolations(ConvVae vae, Tensor images, int steps)
    {
        if (images.Shape[0] < 2 || images.Shape[0] % 2 != 0) throw new ArgumentException($"VaePictures: interpolation needs pairs of images, got {images.Shape[0]}");
        if (steps < 2) throw new ArgumentOutOfRangeException(nameof(steps), $"VaePictures: need at least 2 steps, got {steps}");
        using var _ = GradMode.NoGrad();
        var (mu, _) = vae.Encode(images);
        int pairs = images.Shape[0] / 2, z = vae.Config.Latent;
        var m = mu.ToArray();
        var latents = new float[pairs * steps * z];
        for (int p = 0; p < pairs; p++)
            for (int s = 0; s < steps; s++)
            {
                float t = s / (float)(steps - 1);
                for (int d = 0; d < z; d++)
                    latents[(p * steps + s) * z + d] = (1 - t) * m[2 * p * z + d] + t * m[(2 * p + 1) * z + d];
            }
        return vae.MeanImage(vae.Decode(Tensor.Wrap(latents, pairs * steps, z)));
    }

    /// <summary>
    /// A <paramref name="side"/>×<paramref name="side"/> grid over two latent axes at the standard normal's quantiles
    /// (from 5% to 95%), the other axes at 0. With a 2-D latent space this is the whole learned manifold; otherwise
    /// the two axes are <paramref name="axes"/> (e.g. the two with the largest KL).
    /// </summary>
    public static Tensor LatentGrid(ConvVae vae, int side, (int A, int B) axes)
    {
        int z = vae.Config.Latent;
        if (side < 2) throw new ArgumentOutOfRangeException(nameof(side), $"VaePictures: grid side must be ≥ 2, got {side}");
        if ((uint)axes.A >= (uint)z || (uint)axes.B >= (uint)z || (axes.A == axes.B && z > 1))
            throw new ArgumentOutOfRangeException(nameof(axes), $"VaePictures: axes {axes} must be two different axes of the {z}-D latent space");
        using var _ = GradMode.NoGrad();
        var latents = new float[side * side * z];
        for (int r = 0; r < side; r++)
            for (int c = 0; c < side; c++)
            {
                latents[(r * side + c) * z + axes.A] = (float)NormalQuantile(0.05 + 0.9 * c / (side - 1));
                if (axes.B != axes.A) latents[(r * side + c) * z + axes.B] = (float)NormalQuantile(0.95 - 0.9 * r / (side - 1));
            }
        return vae.MeanImage(vae.Decode(Tensor.Wrap(latents, side * side, z)));
    }

    /// <summary>The two latent axes with the largest mean KL to the prior over <paramref name="images"/>: the ones the model uses most.</summary>
    public static (int A, int B) MostUsedAxes(ConvVae vae, Tensor images)
    {
        using var _ = GradMode.NoGrad();
        var (mu, logVar) = vae.Encode(images);
        var kl = Engine.Nn.Losses.KlDiagonalGaussians(mu, logVar, reduction: Engine.Nn.Reduction.None).Mean(0).ToArray();
        var order = Enumerable.Range(0, kl.Length).OrderByDescending(i => kl[i]).ToArray();
        return order.Length == 1 ? (0, 0) : (order[0], order[1]);
    }

    /// <summary>Φ⁻¹(p) by bisection on the error function's complement (accurate to 1e-9, plenty for picture axes).</summary>
    static double NormalQuantile(double p)
    {
        double lo = -10, hi = 10;
        for (int i = 0; i < 100; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (NormalCdf(mid) < p) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    static double NormalCdf(double x) => 0.5 * Erfc(-x / Math.Sqrt(2));

    /// <summary>Complementary error function (Numerical Recipes' Chebyshev fit, relative error below 1.2e-7).</summary>
    static double Erfc(double x)
    {
        double z = Math.Abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
            t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
