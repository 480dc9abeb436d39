using Engine;
using Engine.Autograd;
using Engine.Random;

namespace Models.Diffusion;

/// <summary>How to go from noise to images: ancestral DDPM, or DDIM with η and any number of steps.</summary>
public enum SamplerKind { Ddpm, Ddim }

/// <summary>Settings of one sampling run.</summary>
public sealed record SamplerOptions(
    SamplerKind Kind = SamplerKind.Ddim,
    int Steps = 50,
    float Eta = 0f,
    float GuidanceScale = 1f,
    bool ClipX0 = true);

/// <summary>
/// Reverse-process samplers over a <see cref="NoiseSchedule"/>. Each step forms the prediction of x₀ from the
/// network output and moves to the previous timestep: DDPM by the posterior q(x_{t−1} | x_t, x₀), DDIM
/// (Song et al. 2021) by its non-Markovian update with noise scale η (0: deterministic, 1: DDPM-like).
/// </summary>
public sealed class Sampler(NoiseSchedule schedule, Prediction prediction)
{
    /// <summary>The timesteps visited, from high to low: all T for DDPM, an evenly spaced subset for DDIM.</summary>
    public int[] Timesteps(SamplerOptions o)
    {
        if (o.Kind == SamplerKind.Ddpm) return Enumerable.Range(0, schedule.Steps).Reverse().ToArray();
        if (o.Steps < 1 || o.Steps > schedule.Steps)
            throw new ArgumentOutOfRangeException(nameof(o), $"Sampler: DDIM steps must be in [1, {schedule.Steps}], got {o.Steps}");
        return Enumerable.Range(0, o.Steps).Select(i => (int)Math.Round((double)i * (schedule.Steps - 1) / Math.Max(1, o.Steps - 1))).Distinct().Reverse().ToArray();
    }

    /// <summary>
    /// Generates images for <paramref name="labels"/> starting from x_T ~ N(0, I) of shape (B, <paramref name="imageShape"/>).
    /// <paramref name="onStep"/> sees (step index, x_t, predicted x₀) after every step.
    /// </summary>
    public Tensor Sample(IDenoiser model, int[] imageShape, int[] labels, SamplerOptions o, Generator g, Action<int, Tensor, Tensor>? onStep = null)
    {
        using var _ = GradMode.NoGrad();
        var x = Tensor.Randn([labels.Length, .. imageShape], g);
        var steps = Timesteps(o);
        for (int i = 0; i < steps.Length; i++)
        {
            int t = steps[i], prev = i + 1 < steps.Length ? steps[i + 1] : -1;
            var tt = Enumerable.Repeat(t, labels.Length).ToArray();
            var output = Guidance.Predict(model, x, tt, labels, o.GuidanceScale);
            var (x0, eps) = Decompose(x, output, t, o.ClipX0);
            x = o.Kind == SamplerKind.Ddpm ? DdpmStep(x, x0, t, g) : DdimStep(x0, eps, t, prev, o.Eta, g);
            onStep?.Invoke(i, x, x0);
        }
        return x;
    }

    /// <summary>(x̂₀, ε̂) from the network output at timestep t; x̂₀ optionally clipped to [−1, 1] (ε̂ then re-derived).</summary>
    public (Tensor x0, Tensor eps) Decompose(Tensor xt, Tensor output, int t, bool clip)
    {
        double ab = schedule.AlphaBar[t], sa = Math.Sqrt(ab), sn = Math.Sqrt(1 - ab);
        var x0 = prediction == Prediction.Epsilon
            ? (xt - output * (float)sn) * (float)(1 / sa)
            : xt * (float)sa - output * (float)sn;
        if (clip) x0 = x0.Clamp(-1f, 1f);
        var eps = (xt - x0 * (float)sa) * (float)(1 / sn);
        return (x0, eps);
    }

    Tensor DdpmStep(Tensor xt, Tensor x0, int t, Generator g)
    {
        double abPrev = t > 0 ? schedule.AlphaBar[t - 1] : 1.0, ab = schedule.AlphaBar[t], beta = schedule.Beta[t];
        double c0 = beta * Math.Sqrt(abPrev) / (1 - ab);
        double ct = (1 - abPrev) * Math.Sqrt(schedule.Alpha[t]) / (1 - ab);
        var mean = x0 * (float)c0 + xt * (float)ct;
        if (t == 0) return mean;
        double variance = beta * (1 - abPrev) / (1 - ab);
        return mean + Tensor.Randn(xt.Shape, g) * (float)Math.Sqrt(variance);
    }

    Tensor DdimStep(Tensor x0, Tensor eps, int t, int prev, float eta, Generator g)
    {
        double ab = schedule.AlphaBar[t], abPrev = prev >= 0 ? schedule.AlphaBar[prev] : 1.0;
        double sigma = eta * Math.Sqrt((1 - abPrev) / (1 - ab) * (1 - ab / abPrev));
        var x = x0 * (float)Math.Sqrt(abPrev) + eps * (float)Math.Sqrt(Math.Max(0, 1 - abPrev - sigma * sigma));
        return sigma > 0 ? x + Tensor.Randn(x0.Shape, g) * (float)sigma : x;
    }
}
