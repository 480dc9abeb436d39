using Engine;
using Engine.Autograd;
using Engine.Random;
using Models.Evaluation;

namespace Models.Diffusion;

/// <summary>The fixed variance σ_t² of the reverse steps p_θ(x_{t−1} | x_t) used by the bound.</summary>
public enum ReverseVariance
{
    /// <summary>σ_t² = β_t (the DDPM paper's choice for its likelihood figures).</summary>
    Large,
    /// <summary>σ_t² = β̃_t, the posterior variance (what the ancestral sampler draws with).</summary>
    Small,
}

/// <summary>The bound on one set of images, in bits per dimension, and its three parts (they add up to the total).</summary>
public sealed record VlbResult(double BitsPerDim, double PriorBitsPerDim, double DiffusionBitsPerDim, double DecoderBitsPerDim, int Images, int TimestepsPerImage);

/// <summary>
/// The variational bound of DDPM (Ho et al. 2020, eq. 5) on the negative log-likelihood of 8-bit images:
/// <code>
/// L_vlb = L_T + Σ_{t=2..T} L_{t−1} + L_0
/// L_T     = KL(q(x_T | x₀) ‖ N(0, I))                         (no network)
/// L_{t−1} = KL(q(x_{t−1} | x_t, x₀) ‖ p_θ(x_{t−1} | x_t)),  x_t ~ q(x_t | x₀)
/// L_0     = −log p_θ(x₀ | x₁), the discretised Gaussian decoder
/// </code>
/// The data are handled as in the paper: pixels k ∈ 0..255 scaled to −1 + 2k/255, and the decoder gives each of
/// the 256 values the Gaussian mass of its bin (outer bins open), so the bound is directly on the discrete
/// likelihood and needs no further dequantisation term. Network passes are conditional (guidance 1), with x̂₀
/// clipped to [−1, 1] as at sampling. Summing every t costs T − 1 passes per image; with
/// <c>timestepSamples</c> = K the sum over t = 2..T is estimated without bias from K stratified timesteps.
/// </summary>
public sealed class VariationalBound
{
    readonly NoiseSchedule schedule;
    readonly Sampler sampler;

    /// <summary>σ_t² of each reverse step; at t = 1 (index 0) both choices use β̃ of index 1, as β̃_1 = 0.</summary>
    public double[] Variance { get; }

    public VariationalBound(NoiseSchedule schedule, Prediction prediction, ReverseVariance variance = ReverseVariance.Large)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        this.schedule = schedule;
        sampler = new Sampler(schedule, prediction);
        Variance = variance == ReverseVariance.Large ? (double[])schedule.Beta.Clone() : (double[])schedule.PosteriorVariance.Clone();
        Variance[0] = schedule.PosteriorVariance[Math.Min(1, schedule.Steps - 1)];
    }

    /// <summary>
    /// The bound for <paramref name="images"/> (N, C, H, W) in [0, 1], 8-bit values k/255, with their labels (null: the
    /// 'no class' token). <paramref name="progress"/> sees (images done, total).
    /// </summary>
    public VlbResult Evaluate(IDenoiser model, Tensor images, int[]? labels, Generator g, int? timestepSamples = null, int batchSize = 64, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(images);
        if (images.Rank != 4 || images.Shape[0] == 0) throw new ShapeMismatchException($"VariationalBound: images must be (N, C, H, W) with N > 0, got {Shapes.Format(images.Shape)}");
        int n = images.Shape[0];
        if (labels is not null && labels.Length != n) throw new ShapeMismatchException($"VariationalBound: {labels.Length} labels for {n} images");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"VariationalBound: batch size must be positive, got {batchSize}");
        int middle = schedule.Steps - 1;                                           // indices 1..T−1
        int k = timestepSamples ?? middle;
        if (k < 1 || k > middle) throw new ArgumentOutOfRangeException(nameof(timestepSamples), $"VariationalBound: timestep samples must be in [1, {middle}], got {k}");
        CheckEightBit(images);

        int dims = images.Numel / n;
        double prior = 0, diffusion = 0, decoder = 0;
        using var _ = GradMode.NoGrad();
        for (int start = 0; start < n; start += batchSize)
        {
            int b = Math.Min(batchSize, n - start);
            var x0 = images.Narrow(0, start, b).Contiguous() * 2f - 1f;            // (B, C, H, W) in [−1, 1]
            var y = labels is null ? Enumerable.Repeat(model.NullClass, b).ToArray() : labels.AsSpan(start, b).ToArray();
            prior += PriorTerm(x0);
            foreach (var (t, weight) in Timesteps(k, g))
                diffusion += weight * StepTerm(model, x0, y, t, g);
            decoder += DecoderTerm(model, x0, y, g);
            progress?.Invoke(start + b, n);
        }
        double Bpd(double nats) => BitsPerDim.FromDiscreteNll(nats / n, dims);
        return new VlbResult(Bpd(prior + diffusion + decoder), Bpd(prior), Bpd(diffusion), Bpd(decoder), n, k + 1);
    }

    /// <summary>The timesteps 1..T−1 to evaluate and the weight of each: all with weight 1, or one per stratum, weighted by its size.</summary>
    IEnumerable<(int T, double Weight)> Timesteps(int k, Generator g)
    {
        int middle = schedule.Steps - 1;
        if (k == middle) { for (int t = 1; t <= middle; t++) yield return (t, 1); yield break; }
        for (int s = 0; s < k; s++)
        {
            int lo = 1 + (int)((long)s * middle / k), hi = 1 + (int)((long)(s + 1) * middle / k);   // [lo, hi)
            yield return (lo + g.NextInt(hi - lo), hi - lo);
        }
    }

    /// <summary>Σ over images of L_T = KL(N(√ᾱ_T x₀, 1 − ᾱ_T) ‖ N(0, 1)), summed over dimensions.</summary>
    public double PriorTerm(Tensor x0)
    {
        int last = schedule.Steps - 1;
        double sa = schedule.SqrtAlphaBar[last], v = 1 - schedule.AlphaBar[last], sum = 0;
        foreach (var x in x0.Contiguous().Span) sum += GaussianTerms.NormalKl(sa * x, v, 0, 1);
        return sum;
    }

    /// <summary>Σ over images of L_{t−1} at index t ≥ 1: KL between the true posterior and the model's reverse step.</summary>
    public double StepTerm(IDenoiser model, Tensor x0, int[] labels, int t, Generator g)
    {
        if (t < 1 || t >= schedule.Steps) throw new ArgumentOutOfRangeException(nameof(t), $"VariationalBound: step term index {t} is outside [1, {schedule.Steps})");
        var (xt, x0Hat) = Denoise(model, x0, labels, t, g);
        var trueMean = sampler.PosteriorMean(xt, x0, t).Contiguous().Span;
        var modelMean = sampler.PosteriorMean(xt, x0Hat, t).Contiguous().Span;
        double trueVar = schedule.PosteriorVariance[t], modelVar = Variance[t], sum = 0;
        for (int i = 0; i < trueMean.Length; i++) sum += GaussianTerms.NormalKl(trueMean[i], trueVar, modelMean[i], modelVar);
        return sum;
    }

    /// <summary>Σ over images of L_0 = −log p_θ(x₀ | x₁) under the discretised Gaussian decoder.</summary>
    public double DecoderTerm(IDenoiser model, Tensor x0, int[] labels, Generator g)
    {
        var (x1, x0Hat) = Denoise(model, x0, labels, 0, g);
        var mean = sampler.PosteriorMean(x1, x0Hat, 0).Contiguous().Span;        // = x̂₀ at the first step
        var x = x0.Contiguous().Span;
        double std = Math.Sqrt(Variance[0]), sum = 0;
        for (int i = 0; i < x.Length; i++) sum -= GaussianTerms.DiscretizedLogLikelihood(x[i], mean[i], std);
        return sum;
    }

    (Tensor Xt, Tensor X0Hat) Denoise(IDenoiser model, Tensor x0, int[] labels, int t, Generator g)
    {
        var tt = Enumerable.Repeat(t, x0.Shape[0]).ToArray();
        var xt = schedule.AddNoise(x0, Tensor.Randn(x0.Shape, g), tt);
        var (x0Hat, _) = sampler.Decompose(xt, model.Forward(xt, tt, labels), t, clip: true);
        return (xt, x0Hat);
    }

    static void CheckEightBit(Tensor images)
    {
        var v = images.Contiguous().Span;
        for (int i = 0; i < v.Length; i++)
        {
            double k = v[i] * 255.0;
            if (!(Math.Abs(k - Math.Round(k)) < 1e-3) || k < -1e-3 || k > 255.001)
                throw new ArgumentException($"VariationalBound: pixel {i} = {v[i]} is not an 8-bit value k/255 in [0, 1]; the discrete bound needs quantised data");
        }
    }
}
