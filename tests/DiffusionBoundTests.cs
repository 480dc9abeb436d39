using Engine.Random;
using Models.Diffusion;

namespace Engine.Tests;

/// <summary>The variational bound: its Gaussian pieces against closed forms and numerical integration, and the whole bound on a case with a known answer.</summary>
public sealed class DiffusionBoundTests
{
    [Test]
    public void Erf_and_log_erfc_match_reference_values()
    {
        Assert.That(GaussianTerms.Erf(0.5), Is.EqualTo(0.5204998778130465).Within(1e-15));
        Assert.That(GaussianTerms.Erf(1.0), Is.EqualTo(0.8427007929497149).Within(1e-15));
        Assert.That(GaussianTerms.Erf(-2.0), Is.EqualTo(-0.9953222650189527).Within(1e-15));
        Assert.That(Math.Exp(GaussianTerms.LogErfc(3.5)), Is.EqualTo(7.430983723414128e-07).Within(1e-12).Percent);
        Assert.That(Math.Exp(GaussianTerms.LogErfc(5)), Is.EqualTo(1.5374597944280349e-12).Within(1e-10).Percent);
        double x = 30, asymptotic = -x * x - Math.Log(x * Math.Sqrt(Math.PI)) + Math.Log(1 - 1 / (2 * x * x) + 3 / (4 * Math.Pow(x, 4)) - 15 / (8 * Math.Pow(x, 6)));
        Assert.That(GaussianTerms.LogErfc(x), Is.EqualTo(asymptotic).Within(1e-9));   // erfc(30) ≈ 2.6e−393 underflows a double; its log does not
        Assert.That(GaussianTerms.NormalCdf(1.959963984540054), Is.EqualTo(0.975).Within(1e-15));
    }

    [Test]
    public void Normal_kl_matches_numerical_integration_and_is_zero_for_equal_gaussians()
    {
        foreach (var (m1, v1, m2, v2) in new[] { (0.3, 0.5, -0.2, 1.7), (1.0, 2.0, 1.0, 0.25), (0.0, 1.0, 0.0, 1.0) })
        {
            double numeric = 0, h = 1e-3;
            for (double x = -20; x < 20; x += h)
            {
                double lp = -0.5 * Math.Log(2 * Math.PI * v1) - (x - m1) * (x - m1) / (2 * v1);
                double lq = -0.5 * Math.Log(2 * Math.PI * v2) - (x - m2) * (x - m2) / (2 * v2);
                numeric += Math.Exp(lp) * (lp - lq) * h;
            }
            Assert.That(GaussianTerms.NormalKl(m1, v1, m2, v2), Is.EqualTo(numeric).Within(1e-6), $"KL(N({m1}, {v1}) ‖ N({m2}, {v2}))");
        }
        Assert.That(GaussianTerms.NormalKl(0.4, 0.3, 0.4, 0.3), Is.EqualTo(0).Within(1e-15));
        Assert.Throws<ArgumentOutOfRangeException>(() => GaussianTerms.NormalKl(0, 0, 0, 1));
    }

    [TestCase(0.0, 0.01)]
    [TestCase(0.37, 0.004)]
    [TestCase(-0.9, 0.3)]
    [TestCase(1.0, 2.0)]
    [TestCase(3.0, 0.05)]          // far outside the data range: the outer bin holds nearly everything
    public void Discretised_decoder_sums_to_one_over_the_256_bins(double mean, double std)
    {
        double total = 0;
        for (int k = 0; k < 256; k++) total += Math.Exp(GaussianTerms.DiscretizedLogLikelihood(-1 + 2.0 * k / 255, mean, std));
        Assert.That(total, Is.EqualTo(1).Within(1e-9));
    }

    [Test]
    public void Discretised_decoder_stays_finite_far_in_the_tails_and_matches_the_bin_mass()
    {
        double x = 2.0 * 100 / 255 - 1, std = 0.01;
        double expected = GaussianTerms.NormalCdf(GaussianTerms.HalfBin / std) - GaussianTerms.NormalCdf(-GaussianTerms.HalfBin / std);
        Assert.That(Math.Exp(GaussianTerms.DiscretizedLogLikelihood(x, x, std)), Is.EqualTo(expected).Within(1e-12));
        double far = GaussianTerms.DiscretizedLogLikelihood(x, x + 0.6, std);    // 60 σ away: mass ≈ e^{−1800}
        Assert.That(double.IsFinite(far) && far < -1700, Is.True, $"log mass {far}");
        Assert.Throws<ArgumentOutOfRangeException>(() => GaussianTerms.DiscretizedLogLikelihood(1.5, 0, 1));
    }

    /// <summary>The exact denoiser when the data is a single image x*: it knows x₀, so x̂₀ = x* at every step.</summary>
    sealed class PointDenoiser(NoiseSchedule s, Tensor target) : IDenoiser
    {
        public int NullClass => 10;
        public Tensor Forward(Tensor xt, int[] t, int[] labels) =>
            (xt - s.Gather(s.SqrtAlphaBar, t) * target) / s.Gather(s.SqrtOneMinusAlphaBar, t);
    }

    [TestCase(ReverseVariance.Small)]
    [TestCase(ReverseVariance.Large)]
    public void Bound_of_the_exact_denoiser_on_one_image_has_its_closed_form(ReverseVariance variance)
    {
        var s = NoiseSchedule.Linear(40);
        var g = new Generator(2);
        var pixels = Enumerable.Range(0, 16).Select(i => new[] { 0, 255, 17, 128 }[i % 4] / 255f).ToArray();   // edge and interior values
        var image = Tensor.FromArray(pixels, 1, 1, 4, 4);
        var x = pixels.Select(p => 2.0 * Math.Round(p * 255) / 255 - 1).ToArray();
        var model = new PointDenoiser(s, Tensor.FromArray(x.Select(v => (float)v).ToArray(), 1, 1, 4, 4));
        var bound = new VariationalBound(s, Prediction.Epsilon, variance);
        var result = bound.Evaluate(model, Tensor.Cat([image, image], 0), [3, 3], g);

        int T = s.Steps, d = x.Length;
        double prior = x.Sum(v => GaussianTerms.NormalKl(s.SqrtAlphaBar[T - 1] * v, 1 - s.AlphaBar[T - 1], 0, 1));
        // Exact x̂₀ makes the two means equal, so each step term is the KL of the variances alone.
        double steps = 0;
        for (int t = 1; t < T; t++) steps += d * GaussianTerms.NormalKl(0, s.PosteriorVariance[t], 0, bound.Variance[t]);
        double std = Math.Sqrt(s.PosteriorVariance[1]), decoder = 0;
        foreach (var v in x)
        {
            double lo = v <= -1 ? double.NegativeInfinity : -GaussianTerms.HalfBin / std, hi = v >= 1 ? double.PositiveInfinity : GaussianTerms.HalfBin / std;
            double mass = (double.IsPositiveInfinity(hi) ? 1 : GaussianTerms.NormalCdf(hi)) - (double.IsNegativeInfinity(lo) ? 0 : GaussianTerms.NormalCdf(lo));
            decoder -= Math.Log(mass);
        }
        double Bpd(double nats) => nats / (d * Math.Log(2));
        Assert.That(result.PriorBitsPerDim, Is.EqualTo(Bpd(prior)).Within(1e-9));
        Assert.That(result.DiffusionBitsPerDim, Is.EqualTo(Bpd(steps)).Within(1e-4 + 1e-3 * Bpd(steps)));
        Assert.That(result.DecoderBitsPerDim, Is.EqualTo(Bpd(decoder)).Within(1e-3));
        Assert.That(result.BitsPerDim, Is.EqualTo(result.PriorBitsPerDim + result.DiffusionBitsPerDim + result.DecoderBitsPerDim).Within(1e-12));
        if (variance == ReverseVariance.Small) Assert.That(result.DiffusionBitsPerDim, Is.EqualTo(0).Within(1e-4));
        Assert.That(result.Images, Is.EqualTo(2));
        Assert.That(result.TimestepsPerImage, Is.EqualTo(T));
    }

    [Test]
    public void Sampled_timesteps_estimate_the_full_sum_without_bias()
    {
        var s = NoiseSchedule.Linear(40);
        var image = Tensor.Full([1, 1, 4, 4], 64 / 255f);
        var model = new PointDenoiser(s, image * 2f - 1f);
        var bound = new VariationalBound(s, Prediction.Epsilon, ReverseVariance.Large);
        double full = bound.Evaluate(model, image, null, new Generator(0)).DiffusionBitsPerDim;
        var g = new Generator(1);
        var estimates = Enumerable.Range(0, 2000).Select(_ => bound.Evaluate(model, image, null, g, timestepSamples: 3).DiffusionBitsPerDim).ToArray();
        double mean = estimates.Average(), se = Math.Sqrt(estimates.Sum(e => (e - mean) * (e - mean)) / (estimates.Length - 1) / estimates.Length);
        TestContext.Out.WriteLine($"full sum {full:F4} bits/dim; 3 sampled timesteps: mean {mean:F4} ± {se:F4} over {estimates.Length} estimates");
        Assert.That(mean, Is.EqualTo(full).Within(4 * se + 1e-3));
    }

    [Test]
    public void Bound_rejects_data_that_is_not_8_bit()
    {
        var s = NoiseSchedule.Linear(10);
        var bound = new VariationalBound(s, Prediction.Epsilon);
        var model = new PointDenoiser(s, Tensor.Zeros([1, 1, 4, 4]));
        Assert.Throws<ArgumentException>(() => bound.Evaluate(model, Tensor.Full([1, 1, 4, 4], 0.5f), null, new Generator(0)));
        Assert.Throws<ShapeMismatchException>(() => bound.Evaluate(model, Tensor.Zeros([2, 1, 4, 4]), [1], new Generator(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => bound.Evaluate(model, Tensor.Zeros([1, 1, 4, 4]), null, new Generator(0), timestepSamples: 10));
    }
}
