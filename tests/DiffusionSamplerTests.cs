using Engine.Random;
using Models.Diffusion;

namespace Engine.Tests;

/// <summary>Samplers and guidance: DDIM with η = 1 against ancestral DDPM on a 2-D mixture with an exact denoiser, and CFG on a real UNet.</summary>
public sealed class DiffusionSamplerTests
{
    /// <summary>
    /// Data: two isotropic Gaussians in 2-D (as (B, 2, 1, 1) "images"). q(x_t) is then a mixture with known
    /// parameters, so the optimal ε-predictor −√(1−ᾱ)·∇log q(x_t) is exact.
    /// </summary>
    sealed class MixtureDenoiser(NoiseSchedule s) : IDenoiser
    {
        public static readonly (double Weight, double X, double Y)[] Modes = [(0.3, -0.5, 0.0), (0.7, 0.5, 0.2)];
        public const double Std = 0.1;
        public int NullClass => 1;

        public Tensor Forward(Tensor xt, int[] t, int[] labels)
        {
            int b = xt.Shape[0];
            var v = xt.Contiguous().ToArray();
            var eps = new float[2 * b];
            Span<double> logR = stackalloc double[Modes.Length];
            for (int i = 0; i < b; i++)
            {
                double ab = s.AlphaBar[t[i]], sa = Math.Sqrt(ab), variance = ab * Std * Std + 1 - ab;
                double x = v[2 * i], y = v[2 * i + 1], max = double.NegativeInfinity;
                for (int k = 0; k < Modes.Length; k++)
                {
                    double dx = x - sa * Modes[k].X, dy = y - sa * Modes[k].Y;
                    logR[k] = Math.Log(Modes[k].Weight) - (dx * dx + dy * dy) / (2 * variance);
                    max = Math.Max(max, logR[k]);
                }
                double z = 0, sx = 0, sy = 0;                                     // ∇ log q(x_t) = Σ r_k · (−(x − √ᾱ μ_k)/v)
                for (int k = 0; k < Modes.Length; k++) z += Math.Exp(logR[k] - max);
                for (int k = 0; k < Modes.Length; k++)
                {
                    double r = Math.Exp(logR[k] - max) / z;
                    sx -= r * (x - sa * Modes[k].X) / variance;
                    sy -= r * (y - sa * Modes[k].Y) / variance;
                }
                double sn = Math.Sqrt(1 - ab);
                eps[2 * i] = (float)(-sn * sx);
                eps[2 * i + 1] = (float)(-sn * sy);
            }
            return Tensor.Wrap(eps, [b, 2, 1, 1]);
        }
    }

    static (double RightFraction, double MeanX, double MeanY, double WithinStd) Statistics(Tensor samples)
    {
        var v = samples.ToArray();
        int n = v.Length / 2, right = 0;
        double sx = 0, sy = 0, dev = 0;
        for (int i = 0; i < n; i++)
        {
            double x = v[2 * i], y = v[2 * i + 1];
            sx += x; sy += y;
            var mode = x > 0 ? MixtureDenoiser.Modes[1] : MixtureDenoiser.Modes[0];
            if (x > 0) right++;
            dev += (x - mode.X) * (x - mode.X) + (y - mode.Y) * (y - mode.Y);
        }
        return (right / (double)n, sx / n, sy / n, Math.Sqrt(dev / (2 * n)));
    }

    static readonly NoiseSchedule Schedule1000 = NoiseSchedule.Linear(1000);
    static readonly Lazy<(double RightFraction, double MeanX, double MeanY, double WithinStd)> Ancestral = new(() =>
        Statistics(new Sampler(Schedule1000, Prediction.Epsilon).Sample(new MixtureDenoiser(Schedule1000), [2, 1, 1], new int[2000],
            new SamplerOptions(SamplerKind.Ddpm, ClipX0: false), new Generator(1))));

    /// <summary>
    /// Ancestral DDPM over T = 1000 steps recovers the mixture: 70% in the right mode, mean (0.2, 0.14), spread 0.1.
    /// DDIM with η = 1 over all steps is the same process, so its statistics match; over 50 steps the mode weights and
    /// means still match, and the spread shrinks a little (the coarse steps under-disperse near the data scale, η = 1
    /// more than η = 0), as the DDIM paper's few-step samples do.
    /// </summary>
    [TestCase(1000, 1f, 0.088, 0.108)]
    [TestCase(50, 1f, 0.060, 0.100)]
    [TestCase(50, 0f, 0.075, 0.100)]
    public void Ddim_matches_ancestral_ddpm_statistics_on_a_2d_mixture(int steps, float eta, double minStd, double maxStd)
    {
        var ddpm = Ancestral.Value;
        var sampler = new Sampler(Schedule1000, Prediction.Epsilon);
        var ddim = Statistics(sampler.Sample(new MixtureDenoiser(Schedule1000), [2, 1, 1], new int[2000], new SamplerOptions(SamplerKind.Ddim, steps, eta, ClipX0: false), new Generator(2)));
        TestContext.Out.WriteLine($"DDPM {ddpm}; DDIM({steps}, η {eta}) {ddim}");
        foreach (var st in new[] { ddpm, ddim })
        {
            Assert.That(st.RightFraction, Is.EqualTo(0.7).Within(0.035));
            Assert.That(st.MeanX, Is.EqualTo(0.2).Within(0.04));
            Assert.That(st.MeanY, Is.EqualTo(0.14).Within(0.015));
        }
        Assert.That(ddpm.WithinStd, Is.EqualTo(MixtureDenoiser.Std).Within(0.008));
        Assert.That(ddim.RightFraction, Is.EqualTo(ddpm.RightFraction).Within(0.045));
        Assert.That(ddim.WithinStd, Is.InRange(minStd, maxStd));
        if (steps == 1000) Assert.That(ddim.WithinStd, Is.EqualTo(ddpm.WithinStd).Within(0.006));
    }

    [Test]
    public void Ddim_timesteps_run_from_the_last_step_to_zero()
    {
        var sampler = new Sampler(NoiseSchedule.Linear(1000), Prediction.Epsilon);
        var ts = sampler.Timesteps(new SamplerOptions(SamplerKind.Ddim, 50));
        Assert.That(ts, Has.Length.EqualTo(50));
        Assert.That(ts[0], Is.EqualTo(999));
        Assert.That(ts[^1], Is.EqualTo(0));
        Assert.That(ts, Is.Ordered.Descending);
        Assert.That(sampler.Timesteps(new SamplerOptions(SamplerKind.Ddim, 1)), Is.EqualTo(new[] { 999 }));
        Assert.That(sampler.Timesteps(new SamplerOptions(SamplerKind.Ddpm)), Has.Length.EqualTo(1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Timesteps(new SamplerOptions(SamplerKind.Ddim, 1001)));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(new MixtureDenoiser(NoiseSchedule.Linear(1000)), [2, 1, 1], [0], new SamplerOptions(Eta: float.NaN), new Generator(0)));
    }

    [Test]
    public void Guidance_scale_one_is_the_conditional_model_and_the_batched_passes_equal_separate_ones()
    {
        var g = new Generator(4);
        var net = new UNet(new UNetConfig(BaseChannels: 8, ResBlocks: 1), g);
        var x = Tensor.Randn([3, 1, 8, 8], g);
        int[] t = [5, 400, 999], y = [0, 7, 9];
        using var _ = Autograd.GradMode.NoGrad();
        var conditional = net.Forward(x, t, y).ToArray();
        Assert.That(Guidance.Predict(net, x, t, y, 1f).ToArray(), Is.EqualTo(conditional).Within(1e-6f));

        var unconditional = net.Forward(x, t, [10, 10, 10]).ToArray();
        var guided = Guidance.Predict(net, x, t, y, 4f).ToArray();
        for (int i = 0; i < guided.Length; i++)
            Assert.That(guided[i], Is.EqualTo(unconditional[i] + 4f * (conditional[i] - unconditional[i])).Within(1e-4f), $"element {i}");
    }
}
