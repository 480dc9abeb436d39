using Engine;
using Engine.Autograd;
using Engine.Random;
using Models.Evaluation;

namespace Models.Vae;

/// <summary>The ELBO and importance-weighted bounds of a set of images, in nats per image (means over images).</summary>
public sealed record VaeBoundReport(int Images, double Elbo, IReadOnlyList<(int K, double Bound)> Iwae)
{
    /// <summary>A bound in nats per image → bits/dim for 8-bit data with a discrete likelihood (the logistic decoder).</summary>
    public static double ToBitsPerDim(double logLikelihoodNats) => BitsPerDim.FromDiscreteNll(-logLikelihoodNats, ConvVae.Side * ConvVae.Side);
}

/// <summary>
/// Likelihood estimates of a <see cref="ConvVae"/> by importance sampling from its encoder: for each image, k draws
/// z ~ q(z|x) give log-weights log w = log p(x|z) + log N(z; 0, I) − log q(z|x). Their mean is the ELBO
/// (<see cref="InformationTheory.Elbo"/>); log (1/k) Σ w is the IWAE bound (<see cref="InformationTheory.ImportanceWeightedBound"/>),
/// which grows with k towards log p(x). Every k is estimated from one set of K = max k draws per image, split into
/// ⌊K/k⌋ disjoint groups of k whose bounds are averaged: all draws serve every k, and k = 1 gives the ELBO estimate.
/// </summary>
public static class VaeBounds
{
    static readonly double HalfLog2Pi = 0.5 * Math.Log(2 * Math.PI);

    /// <summary>The k log-weights of one target image (1, 1, 28, 28), drawn in chunks of decoder passes.</summary>
    public static double[] LogWeights(ConvVae vae, Tensor target, int k, Generator g, int chunk = 500)
    {
        if (target.Rank != 4 || target.Shape[0] != 1) throw new ShapeMismatchException($"VaeBounds: expected one image (1, 1, 28, 28), got {Shapes.Format(target.Shape)}");
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"VaeBounds: k must be ≥ 1, got {k}");
        using var _ = GradMode.NoGrad();
        var (mu, logVar) = vae.Encode(target);                                            // (1, Z)
        int zDim = vae.Config.Latent;
        var muV = mu.ToArray(); var lvV = logVar.ToArray();
        double logDetSum = 0;
        foreach (var lv in lvV) logDetSum += 0.5 * lv;
        var weights = new double[k];
        for (int start = 0; start < k; start += chunk)
        {
            int m = Math.Min(chunk, k - start);
            var eps = Tensor.Randn([m, zDim], g);
            var e = eps.Span;
            var z = new float[m * zDim];
            for (int s = 0; s < m; s++)
                for (int d = 0; d < zDim; d++)
                    z[s * zDim + d] = muV[d] + MathF.Exp(0.5f * lvV[d]) * e[s * zDim + d];
            var zT = Tensor.Wrap(z, m, zDim);
            var logLik = vae.LogLikelihood(vae.Decode(zT), target.Expand(m, 1, ConvVae.Side, ConvVae.Side).Contiguous()).ToArray();
            for (int s = 0; s < m; s++)
            {
                double logPrior = 0, logPosterior = -logDetSum;
                for (int d = 0; d < zDim; d++)
                {
                    double zi = z[s * zDim + d], ei = e[s * zDim + d];
                    logPrior += -0.5 * zi * zi - HalfLog2Pi;
                    logPosterior += -0.5 * ei * ei - HalfLog2Pi;
                }
                weights[start + s] = logLik[s] + logPrior - logPosterior;
            }
        }
        return weights;
    }

    /// <summary>ELBO and IWAE bounds for each k in <paramref name="ks"/>, averaged over the target images (N, 1, 28, 28).</summary>
    public static VaeBoundReport Evaluate(ConvVae vae, Tensor targets, IReadOnlyList<int> ks, Generator g, Action<int>? progress = null)
    {
        if (ks.Count == 0 || ks.Any(k => k < 1)) throw new ArgumentException("VaeBounds: give at least one k ≥ 1");
        int kMax = ks.Max(), n = targets.Shape[0];
        double elbo = 0;
        var iwae = new double[ks.Count];
        for (int i = 0; i < n; i++)
        {
            var w = LogWeights(vae, targets.Narrow(0, i, 1), kMax, g);
            var zeros = new double[kMax];
            elbo += InformationTheory.Elbo(w, zeros, zeros);
            for (int j = 0; j < ks.Count; j++)
            {
                int k = ks[j], groups = kMax / k;
                double sum = 0;
                for (int grp = 0; grp < groups; grp++) sum += InformationTheory.ImportanceWeightedBound(w.AsSpan(grp * k, k));
                iwae[j] += sum / groups;
            }
            progress?.Invoke(i + 1);
        }
        return new VaeBoundReport(n, elbo / n, ks.Select((k, j) => (k, iwae[j] / n)).ToList());
    }
}
