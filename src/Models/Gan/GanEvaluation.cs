using System.Diagnostics;
using Engine;
using Engine.Random;
using Models.Evaluation;

namespace Models.Gan;

/// <summary>Sample quality of a generator: FCD against reference statistics, conditional accuracy, and what sampling cost.</summary>
public sealed record GanQuality(int Samples, double Fcd, double ConditionalAccuracy, SamplingCost Cost);

public static class GanEvaluation
{
    /// <summary>
    /// Draws <paramref name="samples"/> images, classes cycling 0, 1, …, 9 (so every class is asked for equally),
    /// and scores them with the fixed classifier: FCD against <paramref name="reference"/> (e.g. the real test set)
    /// and the fraction classified as the class asked for (NaN for an unconditional generator).
    /// </summary>
    public static GanQuality Measure(DcganGenerator generator, ClassifierMetrics metrics, FeatureStatistics reference, int samples, Generator g, int batch = 500)
    {
        if (samples < 2) throw new ArgumentOutOfRangeException(nameof(samples), $"GanEvaluation: need at least 2 samples, got {samples}");
        int classes = Math.Max(1, generator.Config.Classes);
        var asked = Enumerable.Range(0, samples).Select(i => i % classes).ToArray();
        var parts = new List<Tensor>();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < samples; i += batch)
        {
            int b = Math.Min(batch, samples - i);
            parts.Add(GanTrainer.Sample(generator, asked.AsSpan(i, b).ToArray(), b, g));
        }
        var images = Tensor.Cat([.. parts], 0);
        var cost = SamplingCost.Measure(samples, clock.Elapsed.TotalSeconds, 1);
        double fcd = metrics.Fcd(reference, images);
        double accuracy = generator.Config.Classes > 0 ? metrics.ConditionalAccuracy(images, asked) : double.NaN;
        return new GanQuality(samples, fcd, accuracy, cost);
    }
}
