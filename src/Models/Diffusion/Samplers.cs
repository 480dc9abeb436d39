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
        if (o.Steps == 1) return [schedule.Steps - 1];
        // Evenly spaced from T−1 down to 0, both ends included.
        return Enumerable.Range(0, o.Steps).Select(i => (int)Math.Round((double)i * (schedule.Steps - 1) / (o.Steps - 1))).Distinct().Reverse().ToArray();
    }

    /// <summary>
    /// Generates images for <paramref name="labels"/> starting from x_T ~ N(0, I) of shape (B, <paramref name="imageShape"/>).
    /// <paramref name="onStep"/> sees (step index, x_t, predicted x₀) after every step.
    /// </summary>
    public Tensor Sample(IDenoiser model, int[] imageShape, int[] labels, SamplerOptions o, Generator g, Action<int, Tensor, Tensor>? onStep = null)
    {
        if (!(o.Eta >= 0) || float.IsInfinity(o.Eta)) throw new ArgumentOutOfRangeException(nameof(o), $"Sampler: η must be finite and non-negative, got {o.Eta}");
        if (!float.IsFinite(o.GuidanceScale)) throw new ArgumentOutOfRangeException(nameof(o), $"Sampler: guidance scale must be finite, got {o.GuidanceScale}");
        if (labels.Length == 0) throw new ArgumentException("Sampler: no labels, so no images to sample");
        using var _ = GradMode.NoGrad();
        var x = Tensor.Randn([labels.Length, .. imageShape], g);
        var steps = Timesteps(o);
        var plan = new MemoryPlan();                                              // learned on the first step: when each intermediate is done
        for (int i = 0; i < steps.Length; i++)
        {
            int t = steps[i], prev = i + 1 < steps.Length ? steps[i + 1] : -1;
            using var scope = new DeviceScope(plan);                              // freed after their last use, and recycled by the next step
            (x, var x0) = Step(model, x, labels, t, prev, o, g);
            scope.Keep(x);
            if (onStep is not null) onStep(i, x, scope.Keep(x0));
        }
        return x;
    }

    /// <summary>
    /// One reverse step from timestep <paramref name="t"/> to <paramref name="prev"/> (−1: to the data): the guided
    /// network pass, x̂₀ and ε̂, then the DDPM or DDIM update. Returns x_prev and x̂₀.
    /// </summary>
    public (Tensor X, Tensor X0) Step(IDenoiser model, Tensor x, int[] labels, int t, int prev, SamplerOptions o, Generator g)
    {
        var tt = Enumerable.Repeat(t, labels.Length).ToArray();
        var output = Guidance.Predict(model, x, tt, labels, o.GuidanceScale);
        var (x0, eps) = Decompose(x, output, t, o.ClipX0);
        return (o.Kind == SamplerKind.Ddpm ? DdpmStep(x, x0, t, g) : DdimStep(x0, eps, t, prev, o.Eta, g), x0);
    }

    /// <summary>(x̂₀, ε̂) from the network output at timestep t; x̂₀ optionally clipped to [−1, 1] (ε̂ then re-derived).</summary>
    public (Tensor x0, Tensor eps) Decompose(Tensor xt, Tensor output, int t, bool clip)
    {
        double sa = schedule.SqrtAlphaBar[t], sn = schedule.SqrtOneMinusAlphaBar[t];
        var x0 = prediction == Prediction.Epsilon
            ? (xt - output * (float)sn) * (float)(1 / sa)
            : xt * (float)sa - output * (float)sn;
        if (clip) x0 = x0.Clamp(-1f, 1f);
        var eps = (xt - x0 * (float)sa) * (float)(1 / sn);
        return (x0, eps);
    }

    /// <summary>x_{t−1} ~ q(x_{t−1} | x_t, x̂₀) = N(μ̃_t, β̃_t I); the mean alone at t = 0.</summary>
    Tensor DdpmStep(Tensor xt, Tensor x0, int t, Generator g)
    {
        var mean = PosteriorMean(xt, x0, t);
        if (t == 0) return mean;
        return mean + Tensor.Randn(xt.Shape, g) * (float)Math.Sqrt(schedule.PosteriorVariance[t]);
    }

    /// <summary>μ̃_t(x_t, x̂₀): the mean of the reverse step p_θ(x_{t−1} | x_t) (with x̂₀ from the network).</summary>
    public Tensor PosteriorMean(Tensor xt, Tensor x0, int t) =>
        x0 * (float)schedule.PosteriorMeanX0[t] + xt * (float)schedule.PosteriorMeanXt[t];

    Tensor DdimStep(Tensor x0, Tensor eps, int t, int prev, float eta, Generator g)
    {
        double ab = schedule.AlphaBar[t], abPrev = prev >= 0 ? schedule.AlphaBar[prev] : 1.0;
        double sigma = eta * Math.Sqrt((1 - abPrev) / (1 - ab) * (1 - ab / abPrev));
        var x = x0 * (float)Math.Sqrt(abPrev) + eps * (float)Math.Sqrt(Math.Max(0, 1 - abPrev - sigma * sigma));
        return sigma > 0 ? x + Tensor.Randn(x0.Shape, g) * (float)sigma : x;
    }
}
