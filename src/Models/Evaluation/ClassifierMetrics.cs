using Engine;
using Engine.Autograd;
using Models.Classifier;

namespace Models.Evaluation;

/// <summary>
/// Sample-quality metrics measured with a fixed Fashion-MNIST classifier: the Fréchet Classifier Distance (FCD)
/// between the Gaussian fits of its penultimate-layer features on two image sets, and the conditional accuracy
/// of class-conditional samples. Images are (N, 1, 28, 28) in [0, 1], as the datasets load them.
/// </summary>
public sealed class ClassifierMetrics(SmallConvNet classifier, int batch = 500)
{
    /// <summary>The classifier, switched to eval mode (no dropout).</summary>
    public SmallConvNet Classifier { get; } = (SmallConvNet)classifier.Eval();

    /// <summary>Penultimate-layer features of every image, row-major (N × hidden).</summary>
    public float[] Features(Tensor images)
    {
        CheckImages(images);
        using var _ = GradMode.NoGrad();
        int n = images.Shape[0], d = Classifier.Hidden;
        var features = new float[n * d];
        for (int i = 0; i < n; i += batch)
        {
            int b = Math.Min(batch, n - i);
            Classifier.Features(images.Narrow(0, i, b)).ToArray().CopyTo(features, i * d);
        }
        return features;
    }

    public FeatureStatistics Statistics(Tensor images) => FeatureStatistics.Fit(Features(images), images.Shape[0], Classifier.Hidden);

    /// <summary>FCD of <paramref name="generated"/> against reference statistics (e.g. of the real test set).</summary>
    public double Fcd(FeatureStatistics reference, Tensor generated) => FrechetDistance.Compute(reference, Statistics(generated));

    /// <summary>Fraction of <paramref name="images"/> the classifier assigns to the class each was asked for.</summary>
    public double ConditionalAccuracy(Tensor images, int[] askedClasses)
    {
        CheckImages(images);
        if (askedClasses.Length != images.Shape[0])
            throw new ShapeMismatchException($"ConditionalAccuracy: {images.Shape[0]} images but {askedClasses.Length} classes");
        return Classifier.Accuracy(images, askedClasses, batch);
    }

    static void CheckImages(Tensor images)
    {
        if (images.Rank != 4 || images.Shape[1] != 1 || images.Shape[2] != 28 || images.Shape[3] != 28)
            throw new ShapeMismatchException($"ClassifierMetrics: expected images (N, 1, 28, 28), got {Shapes.Format(images.Shape)}");
        if (images.Shape[0] < 2) throw new ArgumentException($"ClassifierMetrics: need at least 2 images, got {images.Shape[0]}");
    }
}

/// <summary>What sampling costs: wall time per 1,000 images and network evaluations (NFE) per image.</summary>
public sealed record SamplingCost(double SecondsPer1000Images, double NetworkEvaluationsPerImage)
{
    /// <summary>From a timed run that made <paramref name="images"/> images with <paramref name="networkEvaluations"/> forward passes per image.</summary>
    public static SamplingCost Measure(int images, double seconds, double networkEvaluations)
    {
        if (images <= 0) throw new ArgumentOutOfRangeException(nameof(images), images, "SamplingCost: no images");
        return new SamplingCost(seconds * 1000 / images, networkEvaluations);
    }
}
