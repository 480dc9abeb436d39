using Engine.Random;
using Models.Diffusion;

namespace Engine.Tests;

public sealed class DiffusionMathTests
{
    /// <summary>The exact ε-predictor when all data is one image x*: ε = (x_t − √ᾱ x*)/√(1−ᾱ).</summary>
    sealed class OracleDenoiser(NoiseSchedule s, Tensor target, Prediction prediction) : IDenoiser
    {
        public int NullClass => 10;
        public int Calls;
        public Tensor Forward(Tensor xt, int[] t, int[] labels)
        {
            Calls++;
            var sa = s.Gather(s.AlphaBar.Select(Math.Sqrt).ToArray(), t);
            var sn = s.Gather(s.AlphaBar.Select(a => Math.Sqrt(1 - a)).ToArray(), t);
            var eps = (xt - sa * target) / sn;
            return prediction == Prediction.Epsilon ? eps : sa * eps - sn * target;
        }
    }

    [Test]
    public void Schedules_have_the_published_endpoints_and_decrease()
    {
        var lin = NoiseSchedule.Linear();
        Assert.That(lin.Beta[0], Is.EqualTo(1e-4).Within(1e-12));
        Assert.That(lin.Beta[^1], Is.EqualTo(0.02).Within(1e-12));
        Assert.That(lin.AlphaBar[^1], Is.LessThan(1e-4));
        var cos = NoiseSchedule.Cosine();
        for (int t = 1; t < cos.Steps; t++) Assert.That(cos.AlphaBar[t], Is.LessThan(cos.AlphaBar[t - 1]));
        Assert.That(cos.Beta.Max(), Is.LessThanOrEqualTo(0.999));
    }

    [Test]
    public void Closed_form_noising_has_the_right_variance()
    {
        var s = NoiseSchedule.Linear();
        var x0 = Tensor.Full([4000, 1, 1, 1], 0.5f);
        var noise = Tensor.Randn(x0.Shape, new Generator(1));
        var t = Enumerable.Repeat(500, 4000).ToArray();
        var xt = s.AddNoise(x0, noise, t);
        Assert.That(xt.Mean().Item(), Is.EqualTo(0.5 * Math.Sqrt(s.AlphaBar[500])).Within(0.02));
        Assert.That(xt.Var().Item(), Is.EqualTo(1 - s.AlphaBar[500]).Within(0.05));
    }

    [TestCase(SamplerKind.Ddim, 50, 0f, Prediction.Epsilon)]
    [TestCase(SamplerKind.Ddim, 7, 1f, Prediction.Epsilon)]
    [TestCase(SamplerKind.Ddim, 20, 0f, Prediction.Velocity)]
    [TestCase(SamplerKind.Ddpm, 0, 1f, Prediction.Epsilon)]
    public void Samplers_driven_by_the_exact_denoiser_reach_the_data_point(SamplerKind kind, int steps, float eta, Prediction p)
    {
        var s = NoiseSchedule.Linear(200);
        var target = Tensor.Rand([1, 1, 4, 4], new Generator(3), -0.9f, 0.9f);
        var oracle = new OracleDenoiser(s, target, p);
        var sampler = new Sampler(s, p);
        var x = sampler.Sample(oracle, [1, 4, 4], [0, 1, 2], new SamplerOptions(kind, steps, eta), new Generator(5));
        for (int i = 0; i < 3; i++)
            Assert.That(x.Narrow(0, i, 1).ToArray(), Is.EqualTo(target.ToArray()).Within(2e-3f));
        Assert.That(oracle.Calls, Is.EqualTo(kind == SamplerKind.Ddpm ? 200 : steps));
    }

    [Test]
    public void Guidance_combines_the_two_passes_linearly()
    {
        var cond = new LabelEcho();
        var x = Tensor.Zeros([2, 1, 1, 1]);
        var guided = Guidance.Predict(cond, x, [0, 0], [3, 5], 2.5f).ToArray();
        // ε_c = label, ε_u = null label (10): 10 + 2.5·(y − 10)
        Assert.That(guided, Is.EqualTo(new[] { 10 + 2.5f * (3 - 10), 10 + 2.5f * (5 - 10) }).Within(1e-5f));
        Assert.That(Guidance.Predict(cond, x, [0, 0], [3, 5], 1f).ToArray(), Is.EqualTo(new float[] { 3, 5 }));
    }

    sealed class LabelEcho : IDenoiser
    {
        public int NullClass => 10;
        public Tensor Forward(Tensor xt, int[] t, int[] labels) => Tensor.Wrap(labels.Select(l => (float)l).ToArray(), [labels.Length, 1, 1, 1]);
    }

    [Test]
    public void Min_snr_weights_are_capped_at_gamma()
    {
        var s = NoiseSchedule.Linear();
        var w = s.MinSnrWeights([0, 999], 5, vPrediction: false).ToArray();
        Assert.That(w[0], Is.EqualTo(5 / s.Snr(0)).Within(1e-6));   // high SNR: down-weighted
        Assert.That(w[1], Is.EqualTo(1f));                           // low SNR: weight 1
    }

    [Test]
    public void Closed_form_matches_the_step_by_step_chain()
    {
        foreach (var s in new[] { NoiseSchedule.Linear(1000), NoiseSchedule.Cosine(1000) })
        {
            // Exact moments of x_t = √α_t x_{t−1} + √β_t ε, step by step, against √ᾱ_t and 1 − ᾱ_t.
            double coefficient = 1, variance = 0;
            for (int t = 0; t < s.Steps; t++)
            {
                coefficient *= Math.Sqrt(s.Alpha[t]);
                variance = s.Alpha[t] * variance + s.Beta[t];
                Assert.That(coefficient, Is.EqualTo(s.SqrtAlphaBar[t]).Within(1e-12));
                Assert.That(variance, Is.EqualTo(1 - s.AlphaBar[t]).Within(1e-12));
            }
        }
        // And by simulation: 20,000 chains of 100 noising steps against one closed-form draw.
        var sched = NoiseSchedule.Linear(100);
        var g = new Generator(7);
        var x0 = Tensor.Full([20000, 1, 1, 1], 0.6f);
        var x = x0;
        for (int t = 0; t < 60; t++)
            x = x * (float)Math.Sqrt(sched.Alpha[t]) + Tensor.Randn(x0.Shape, g) * (float)Math.Sqrt(sched.Beta[t]);
        var closed = sched.AddNoise(x0, Tensor.Randn(x0.Shape, g), Enumerable.Repeat(59, 20000).ToArray());
        // Standard errors with 20,000 draws: about 0.007 for the mean, 0.01 for the variance.
        foreach (var draw in new[] { x, closed })
        {
            Assert.That(draw.Mean().Item(), Is.EqualTo(0.6 * sched.SqrtAlphaBar[59]).Within(0.03));
            Assert.That(draw.Var().Item(), Is.EqualTo(1 - sched.AlphaBar[59]).Within(0.04));
        }
    }

    [Test]
    public void Posterior_of_the_previous_step_integrates_back_to_the_marginal()
    {
        // q(x_{t−1} | x₀) = ∫ q(x_{t−1} | x_t, x₀) q(x_t | x₀) dx_t: means and variances must agree.
        var s = NoiseSchedule.Cosine(500);
        for (int t = 1; t < s.Steps; t += 37)
        {
            double a = s.PosteriorMeanX0[t], b = s.PosteriorMeanXt[t];
            Assert.That(a + b * s.SqrtAlphaBar[t], Is.EqualTo(s.SqrtAlphaBar[t - 1]).Within(1e-10), $"mean at {t}");
            Assert.That(s.PosteriorVariance[t] + b * b * (1 - s.AlphaBar[t]), Is.EqualTo(1 - s.AlphaBar[t - 1]).Within(1e-10), $"variance at {t}");
        }
        Assert.That(s.PosteriorVariance[0], Is.EqualTo(0));
    }

    [Test]
    public void Velocity_target_and_decomposition_invert_each_other()
    {
        var s = NoiseSchedule.Linear(1000);
        var g = new Generator(8);
        var x0 = Tensor.Rand([3, 1, 4, 4], g, -1f, 1f);
        var noise = Tensor.Randn(x0.Shape, g);
        int[] t = [10, 500, 990];
        var xt = s.AddNoise(x0, noise, t);
        var v = s.VelocityTarget(x0, noise, t);
        var sampler = new Sampler(s, Prediction.Velocity);
        for (int i = 0; i < 3; i++)
        {
            var (x0Hat, epsHat) = sampler.Decompose(xt.Narrow(0, i, 1), v.Narrow(0, i, 1), t[i], clip: false);
            Assert.That(x0Hat.ToArray(), Is.EqualTo(x0.Narrow(0, i, 1).ToArray()).Within(1e-4f));
            Assert.That(epsHat.ToArray(), Is.EqualTo(noise.Narrow(0, i, 1).ToArray()).Within(2e-3f));
        }
        var w = s.MinSnrWeights([0, 999], 5, vPrediction: true).ToArray();
        Assert.That(w[0], Is.EqualTo(5 / (s.Snr(0) + 1)).Within(1e-6));
        Assert.That(w[1], Is.EqualTo(s.Snr(999) / (s.Snr(999) + 1)).Within(1e-6));
        Assert.Throws<ShapeMismatchException>(() => s.VelocityTarget(x0, noise, [1, 2]));
    }
}
