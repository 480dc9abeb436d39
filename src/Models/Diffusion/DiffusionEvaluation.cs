using System.Diagnostics;
using Engine;
using Engine.Autograd;
using Engine.Random;
using Models.Evaluation;

namespace Models.Diffusion;

/// <summary>Sample quality and cost of one sampler setting: FCD, conditional accuracy, wall time and network evaluations.</summary>
public sealed record DiffusionQuality(SamplerOptions Options, int Samples, double Fcd, double ConditionalAccuracy, SamplingCost Cost);

/// <summary>
/// The results-table row of a diffusion model for one sampler setting: <c>samples</c> images with the classes cycling
/// 0, 1, …, 9, 0, … generated in batches from x_T ~ N(0, I), mapped from [−1, 1] to [0, 1], then scored by the fixed
/// classifier against the reference statistics (the test set).
/// </summary>
public static class DiffusionEvaluation
{
    /// <summary>Network evaluations per image: one per visited timestep, two with guidance (conditional and unconditional, batched).</summary>
    public static int NetworkEvaluations(Sampler sampler, SamplerOptions options) =>
        sampler.Timesteps(options).Length * (options.GuidanceScale == 1f ? 1 : 2);

    /// <summary><paramref name="samples"/> images in [0, 1] with their asked classes; <paramref name="progress"/> sees (done, total).</summary>
    public static (Tensor Images, int[] Classes, double Seconds) Generate(TrainedDiffusion model, SamplerOptions options, int samples, Generator g,
        int batch = 250, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), $"DiffusionEvaluation: need at least 1 sample, got {samples}");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), $"DiffusionEvaluation: batch must be positive, got {batch}");
        int classes = Math.Max(1, model.Config.Classes);
        var asked = Enumerable.Range(0, samples).Select(i => i % classes).ToArray();
        var sampler = model.Sampler();
        var parts = new List<Tensor>();
        var clock = Stopwatch.StartNew();
        using (GradMode.NoGrad())
            for (int i = 0; i < samples; i += batch)
            {
                int b = Math.Min(batch, samples - i);
                var x = sampler.Sample(model.Model, model.Config.ImageShape, asked.AsSpan(i, b).ToArray(), options, g);
                parts.Add(((x + 1f) * 0.5f).Clamp(0f, 1f));
                progress?.Invoke(i + b, samples);
            }
        return (Tensor.Cat([.. parts], 0), asked, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Generates <paramref name="samples"/> images and measures FCD against <paramref name="reference"/>, conditional accuracy and cost.</summary>
    public static DiffusionQuality Measure(TrainedDiffusion model, SamplerOptions options, ClassifierMetrics metrics, FeatureStatistics reference,
        int samples, Generator g, int batch = 250, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(reference);
        if (samples < 2) throw new ArgumentOutOfRangeException(nameof(samples), $"DiffusionEvaluation: FCD needs at least 2 samples, got {samples}");
        var (images, asked, seconds) = Generate(model, options, samples, g, batch, progress);
        var cost = SamplingCost.Measure(samples, seconds, NetworkEvaluations(model.Sampler(), options));
        return new DiffusionQuality(options, samples, metrics.Fcd(reference, images), metrics.ConditionalAccuracy(images, asked), cost);
    }
}
