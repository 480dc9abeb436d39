using Engine;

namespace Models.Diffusion;

/// <summary>Which β schedule a <see cref="NoiseSchedule"/> follows.</summary>
public enum ScheduleKind { Linear, Cosine }

/// <summary>
/// The forward (noising) process of DDPM (Ho et al. 2020): β_t for t = 1..T, α_t = 1 − β_t, ᾱ_t = Π α_s, and the
/// closed form q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I). Index t here runs 0..T−1 (step t+1 of the paper).
/// All tables are kept in double and handed out as float.
/// </summary>
public sealed class NoiseSchedule
{
    public int Steps { get; }
    public ScheduleKind Kind { get; }
    public double[] Beta { get; }
    public double[] Alpha { get; }
    public double[] AlphaBar { get; }

    /// <summary>√ᾱ_t and √(1 − ᾱ_t): the weights of x₀ and ε in x_t.</summary>
    public double[] SqrtAlphaBar { get; }
    public double[] SqrtOneMinusAlphaBar { get; }

    /// <summary>Variance β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) of the posterior q(x_{t−1} | x_t, x₀) (0 at t = 0).</summary>
    public double[] PosteriorVariance { get; }

    /// <summary>Posterior mean μ̃_t = <see cref="PosteriorMeanX0"/>[t]·x₀ + <see cref="PosteriorMeanXt"/>[t]·x_t.</summary>
    public double[] PosteriorMeanX0 { get; }
    public double[] PosteriorMeanXt { get; }

    NoiseSchedule(ScheduleKind kind, double[] beta)
    {
        Kind = kind; Steps = beta.Length; Beta = beta;
        Alpha = beta.Select(b => 1 - b).ToArray();
        AlphaBar = new double[Steps];
        double prod = 1;
        for (int t = 0; t < Steps; t++) { prod *= Alpha[t]; AlphaBar[t] = prod; }
        SqrtAlphaBar = AlphaBar.Select(Math.Sqrt).ToArray();
        SqrtOneMinusAlphaBar = AlphaBar.Select(a => Math.Sqrt(1 - a)).ToArray();
        PosteriorVariance = new double[Steps];
        PosteriorMeanX0 = new double[Steps];
        PosteriorMeanXt = new double[Steps];
        for (int t = 0; t < Steps; t++)
        {
            double abPrev = AlphaBarPrev(t);
            PosteriorVariance[t] = Beta[t] * (1 - abPrev) / (1 - AlphaBar[t]);
            PosteriorMeanX0[t] = Beta[t] * Math.Sqrt(abPrev) / (1 - AlphaBar[t]);
            PosteriorMeanXt[t] = (1 - abPrev) * Math.Sqrt(Alpha[t]) / (1 - AlphaBar[t]);
        }
    }

    /// <summary>ᾱ_{t−1}, with ᾱ before the first step = 1.</summary>
    public double AlphaBarPrev(int t) => t > 0 ? AlphaBar[t - 1] : 1.0;

    /// <summary>β rising linearly from 1e-4 to 0.02 over T = 1000 steps (the DDPM paper's schedule), scaled to other T.</summary>
    public static NoiseSchedule Linear(int steps = 1000, double betaStart = 1e-4, double betaEnd = 0.02)
    {
        Check(steps);
        double scale = 1000.0 / steps;
        var beta = Enumerable.Range(0, steps).Select(i => scale * betaStart + (scale * betaEnd - scale * betaStart) * i / Math.Max(1, steps - 1)).ToArray();
        return new(ScheduleKind.Linear, beta);
    }

    /// <summary>Nichol &amp; Dhariwal's cosine schedule: ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2), β clipped at 0.999.</summary>
    public static NoiseSchedule Cosine(int steps = 1000, double s = 0.008)
    {
        Check(steps);
        double F(double t) => Math.Pow(Math.Cos((t / steps + s) / (1 + s) * Math.PI / 2), 2);
        var beta = Enumerable.Range(0, steps).Select(i => Math.Min(1 - F(i + 1) / F(i), 0.999)).ToArray();
        return new(ScheduleKind.Cosine, beta);
    }

    public static NoiseSchedule Create(ScheduleKind kind, int steps) => kind == ScheduleKind.Linear ? Linear(steps) : Cosine(steps);

    static void Check(int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), $"NoiseSchedule: needs at least one step, got {steps}");
    }

    /// <summary>Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t).</summary>
    public double Snr(int t) => AlphaBar[t] / (1 - AlphaBar[t]);

    /// <summary>Per-sample column (B, 1, 1, 1) of a table at each sample's timestep, for broadcasting over images.</summary>
    public Tensor Gather(double[] table, int[] t, int rank = 4)
    {
        var v = new float[t.Length];
        for (int i = 0; i < t.Length; i++)
        {
            if ((uint)t[i] >= (uint)Steps) throw new ArgumentOutOfRangeException(nameof(t), $"NoiseSchedule: timestep {t[i]} is outside [0, {Steps})");
            v[i] = (float)table[t[i]];
        }
        var shape = new int[rank];
        Array.Fill(shape, 1);
        shape[0] = t.Length;
        return Tensor.Wrap(v, shape);
    }

    /// <summary>x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε: a sample of q(x_t | x₀) in one step.</summary>
    public Tensor AddNoise(Tensor x0, Tensor noise, int[] t)
    {
        if (!Shapes.SameShape(x0.Shape, noise.Shape))
            throw new ShapeMismatchException($"AddNoise: x0 {Shapes.Format(x0.Shape)} and noise {Shapes.Format(noise.Shape)} differ");
        if (x0.Shape[0] != t.Length)
            throw new ShapeMismatchException($"AddNoise: {t.Length} timesteps for a batch of {x0.Shape[0]}");
        var sa = Gather(SqrtAlphaBar, t, x0.Rank).To(x0.Device);
        var sn = Gather(SqrtOneMinusAlphaBar, t, x0.Rank).To(x0.Device);
        return sa * x0 + sn * noise;
    }

    /// <summary>The v-prediction target of Salimans &amp; Ho: v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀.</summary>
    public Tensor VelocityTarget(Tensor x0, Tensor noise, int[] t)
    {
        if (!Shapes.SameShape(x0.Shape, noise.Shape) || x0.Shape[0] != t.Length)
            throw new ShapeMismatchException($"VelocityTarget: x0 {Shapes.Format(x0.Shape)}, noise {Shapes.Format(noise.Shape)} and {t.Length} timesteps do not match");
        var sa = Gather(SqrtAlphaBar, t, x0.Rank).To(x0.Device);
        var sn = Gather(SqrtOneMinusAlphaBar, t, x0.Rank).To(x0.Device);
        return sa * noise - sn * x0;
    }

    /// <summary>Min-SNR-γ loss weights (Hang et al. 2023) for ε-prediction: min(SNR, γ)/SNR; for v-prediction: min(SNR, γ)/(SNR + 1).</summary>
    public Tensor MinSnrWeights(int[] t, double gamma, bool vPrediction)
    {
        if (!(gamma > 0)) throw new ArgumentOutOfRangeException(nameof(gamma), $"MinSnrWeights: γ must be positive, got {gamma}");
        foreach (var ti in t)
            if ((uint)ti >= (uint)Steps) throw new ArgumentOutOfRangeException(nameof(t), $"MinSnrWeights: timestep {ti} is outside [0, {Steps})");
        var w = t.Select(ti => { double snr = Snr(ti); return (float)(Math.Min(snr, gamma) / (vPrediction ? snr + 1 : snr)); }).ToArray();
        return Tensor.Wrap(w, [t.Length]);
    }
}
