using System.Diagnostics;
using Engine;
using Models.Evaluation;
using Engine.Random;

namespace Models.FlowMatching;

/// <summary>Sample quality and cost of a flow for one ODE setting: FCD, conditional accuracy, wall time and network evaluations.</summary>
public sealed record FlowQuality(OdeOptions Options, float Guidance, int Samples, double Fcd, double ConditionalAccuracy, SamplingCost Cost);

/// <summary>
/// The results-table row of an image flow for one solver setting: <c>samples</c> images with the classes cycling
/// 0, 1, …, 9, 0, …, carried from x₀ ~ N(0, I) to t = 1 in batches, mapped from [−1, 1] to [0, 1], then scored by
/// the fixed classifier against the reference statistics (the test set).
/// </summary>
public static class FlowEvaluation
{
    /// <summary><paramref name="samples"/> images in [0, 1], their asked classes, the seconds taken and the network evaluations per image.</summary>
    public static (Tensor Images, int[] Classes, double Seconds, double EvaluationsPerImage) Generate(IVelocityField field, OdeOptions options, float guidance,
        int samples, int classes, int[] shape, Generator g, int batch = 100, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(field);
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), $"FlowEvaluation: need at least 1 sample, got {samples}");
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), $"FlowEvaluation: batch must be positive, got {batch}");
        var asked = Enumerable.Range(0, samples).Select(i => i % Math.Max(1, classes)).ToArray();
        var parts = new List<Tensor>();
        long evaluations = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < samples; i += batch)
        {
            int b = Math.Min(batch, samples - i);
            var noise = Tensor.Randn([b, .. shape], g);
            var result = ConditionalFlowMatching.Sample(field, noise, options, classes > 0 ? asked.AsSpan(i, b).ToArray() : null, guidance);
            evaluations += (long)result.Evaluations * b * (classes > 0 && guidance != 1f ? 2 : 1);
            parts.Add(((result.X + 1f) * 0.5f).Clamp(0f, 1f));
            progress?.Invoke(i + b, samples);
        }
        return (Tensor.Cat([.. parts], 0), asked, clock.Elapsed.TotalSeconds, evaluations / (double)samples);
    }

    /// <summary>Generates <paramref name="samples"/> images and measures FCD against <paramref name="reference"/>, conditional accuracy and cost.</summary>
    public static FlowQuality Measure(IVelocityField field, OdeOptions options, float guidance, ClassifierMetrics metrics, FeatureStatistics reference,
        int samples, int classes, int[] shape, Generator g, int batch = 100, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(reference);
        if (samples < 2) throw new ArgumentOutOfRangeException(nameof(samples), $"FlowEvaluation: FCD needs at least 2 samples, got {samples}");
        var (images, asked, seconds, nfe) = Generate(field, options, guidance, samples, classes, shape, g, batch, progress);
        double accuracy = classes > 0 ? metrics.ConditionalAccuracy(images, asked) : double.NaN;
        return new FlowQuality(options, guidance, samples, metrics.Fcd(reference, images), accuracy, SamplingCost.Measure(samples, seconds, nfe));
    }
}
