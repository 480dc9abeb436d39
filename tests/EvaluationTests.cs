using Engine.IO;
using Engine.Random;
using Models.Classifier;
using Models.Evaluation;

namespace Engine.Tests;

public sealed class EvaluationTests
{
    [Test]
    public void Entropy_KL_and_JS_match_known_values()
    {
        double[] uniform = [0.25, 0.25, 0.25, 0.25], peaked = [0.7, 0.1, 0.1, 0.1];
        Assert.That(InformationTheory.Entropy(uniform), Is.EqualTo(Math.Log(4)).Within(1e-12));
        Assert.That(InformationTheory.Entropy([1.0, 0.0]), Is.EqualTo(0).Within(1e-15));
        Assert.That(InformationTheory.KlDivergence(peaked, peaked), Is.EqualTo(0).Within(1e-15));
        // KL(p ‖ uniform) = log n − H(p).
        Assert.That(InformationTheory.KlDivergence(peaked, uniform), Is.EqualTo(Math.Log(4) - InformationTheory.Entropy(peaked)).Within(1e-12));
        Assert.That(InformationTheory.KlDivergence([0.5, 0.5], [1.0, 0.0]), Is.EqualTo(double.PositiveInfinity));
        double js = InformationTheory.JensenShannon(peaked, uniform);
        Assert.That(js, Is.EqualTo(InformationTheory.JensenShannon(uniform, peaked)).Within(1e-15));
        Assert.That(js, Is.GreaterThan(0).And.LessThan(Math.Log(2)));
        Assert.That(InformationTheory.JensenShannon([1.0, 0.0], [0.0, 1.0]), Is.EqualTo(Math.Log(2)).Within(1e-12));
    }

    [Test]
    public void Distributions_that_are_not_distributions_are_rejected()
    {
        Assert.That(() => InformationTheory.Entropy([0.5, 0.6]), Throws.ArgumentException.With.Message.Contains("sum to 1"));
        Assert.That(() => InformationTheory.Entropy([1.5, -0.5]), Throws.ArgumentException.With.Message.Contains("non-negative"));
        Assert.That(() => InformationTheory.KlDivergence([1.0], [0.5, 0.5]), Throws.ArgumentException.With.Message.Contains("lengths"));
        Assert.That(() => InformationTheory.Entropy([double.NaN, 1.0]), Throws.ArgumentException);
    }

    [Test]
    public void Gaussian_KL_is_zero_for_identical_Gaussians_and_matches_the_closed_form()
    {
        Assert.That(InformationTheory.KlGaussians([1.0, -2.0], [0.5, 3.0], [1.0, -2.0], [0.5, 3.0]), Is.EqualTo(0).Within(1e-15));
        // KL(N(0,1) ‖ N(1,4)) = log 2 + (1 + 1)/8 − 1/2.
        Assert.That(InformationTheory.KlGaussians([0.0], [1.0], [1.0], [4.0]), Is.EqualTo(Math.Log(2) + 0.25 - 0.5).Within(1e-12));
        Assert.That(() => InformationTheory.KlGaussians([0.0], [0.0], [0.0], [1.0]), Throws.ArgumentException.With.Message.Contains("positive"));
    }

    /// <summary>
    /// z ~ N(0, 1), x | z ~ N(z, 1), so p(x) = N(0, 2) and the posterior is N(x/2, 1/2). With the true posterior as q
    /// the ELBO equals log p(x); with a worse q it is lower, and the IWAE bound climbs back towards log p(x) as k grows.
    /// </summary>
    [Test]
    public void Elbo_is_exact_with_the_true_posterior_and_IWAE_tightens_with_k()
    {
        const double x = 1.3;
        double logPx = LogNormal(x, 0, 2);
        var g = new Generator(3);
        double[] Samples(double mean, double variance, int k)
        {
            var e = new float[k]; g.FillNormal(e);
            return e.Select(v => mean + Math.Sqrt(variance) * v).ToArray();
        }
        double[] LogWeights(double[] z, double qMean, double qVar) =>
            z.Select(zi => LogNormal(x, zi, 1) + LogNormal(zi, 0, 1) - LogNormal(zi, qMean, qVar)).ToArray();
        (double[] lik, double[] prior, double[] post) Terms(double[] z, double qMean, double qVar) =>
            (z.Select(zi => LogNormal(x, zi, 1)).ToArray(), z.Select(zi => LogNormal(zi, 0, 1)).ToArray(), z.Select(zi => LogNormal(zi, qMean, qVar)).ToArray());

        var zExact = Samples(x / 2, 0.5, 64);
        var (l, p, q) = Terms(zExact, x / 2, 0.5);
        Assert.That(InformationTheory.Elbo(l, p, q), Is.EqualTo(logPx).Within(1e-9));

        // A poor q: N(0, 1) — the prior. ELBO < IWAE(k=10) < IWAE(k=1000) ≤ log p(x) (on average; 1000 k-sets each).
        double Average(int k) => Enumerable.Range(0, 200).Average(_ => InformationTheory.ImportanceWeightedBound(LogWeights(Samples(0, 1, k), 0, 1)));
        var zPrior = Samples(0, 1, 4000);
        var (l2, p2, q2) = Terms(zPrior, 0, 1);
        double elbo = InformationTheory.Elbo(l2, p2, q2), iw10 = Average(10), iw1000 = Average(1000);
        Assert.That(elbo, Is.LessThan(iw10));
        Assert.That(iw10, Is.LessThan(iw1000));
        Assert.That(iw1000, Is.LessThan(logPx + 1e-3).And.GreaterThan(logPx - 0.01));
    }

    static double LogNormal(double x, double mean, double variance) => -0.5 * (Math.Log(2 * Math.PI * variance) + (x - mean) * (x - mean) / variance);

    [Test]
    public void Bits_per_dim_of_a_uniform_model_over_8_bit_data_is_8()
    {
        const int dims = 784;
        Assert.That(BitsPerDim.FromContinuousNll(0, dims, range: 1), Is.EqualTo(8).Within(1e-12));              // density 1 on [0, 1]
        Assert.That(BitsPerDim.FromContinuousNll(dims * Math.Log(2), dims, range: 2), Is.EqualTo(8).Within(1e-12)); // density ½ on [−1, 1]
        Assert.That(BitsPerDim.FromDiscreteNll(dims * Math.Log(256), dims), Is.EqualTo(8).Within(1e-12));        // 1/256 per pixel
        Assert.That(() => BitsPerDim.FromDiscreteNll(1, 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Dequantised_pixels_stay_inside_their_bins()
    {
        byte[] pixels = [0, 1, 127, 255];
        var y = BitsPerDim.Dequantise(pixels, new Generator(1), lo: -1, range: 2);
        for (int i = 0; i < pixels.Length; i++)
        {
            Assert.That(y[i], Is.GreaterThanOrEqualTo(-1 + 2 * pixels[i] / 256f));
            Assert.That(y[i], Is.LessThan(-1 + 2 * (pixels[i] + 1) / 256f + 1e-6f));
        }
    }

    [Test]
    public void Jacobi_eigen_decomposition_reconstructs_the_matrix()
    {
        const int n = 7;
        var g = new Generator(5);
        var b = new float[n * n]; g.FillNormal(b);
        var m = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) m[i * n + j] = b[i * n + j] + b[j * n + i];
        var (values, v) = SymmetricEigen.Decompose(m, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double r = 0;
                for (int k = 0; k < n; k++) r += v[i * n + k] * values[k] * v[j * n + k];
                Assert.That(r, Is.EqualTo(m[i * n + j]).Within(1e-9));
            }
    }

    [Test]
    public void Frechet_distance_of_a_set_against_itself_is_zero_and_matches_the_diagonal_closed_form()
    {
        var g = new Generator(7);
        const int n = 500, d = 6;
        var f = new float[n * d]; g.FillNormal(f);
        for (int i = 0; i < n; i++) f[i * d + 1] += 0.5f * f[i * d];   // correlated features
        var s = FeatureStatistics.Fit(f, n, d);
        Assert.That(FrechetDistance.Compute(s, s), Is.EqualTo(0).Within(1e-9));

        // Diagonal covariances: d² = ‖μ₁ − μ₂‖² + Σ (√a − √b)².
        var a = new FeatureStatistics(10, [0, 1, 2], Diagonal([1, 4, 9]));
        var c = new FeatureStatistics(10, [1, 1, 0], Diagonal([4, 4, 1]));
        Assert.That(FrechetDistance.Compute(a, c), Is.EqualTo(1 + 4 + (1 + 0 + 4)).Within(1e-9));
        Assert.That(() => FrechetDistance.Compute(a, s), Throws.ArgumentException.With.Message.Contains("dim"));
    }

    static double[] Diagonal(double[] d)
    {
        var m = new double[d.Length * d.Length];
        for (int i = 0; i < d.Length; i++) m[i * d.Length + i] = d[i];
        return m;
    }

    [Test]
    public void Classifier_metrics_FCD_of_images_against_themselves_is_zero_and_shapes_are_checked()
    {
        var model = new SmallConvNet(new Generator(2), width: 4, hidden: 8);
        var metrics = new ClassifierMetrics(model, batch: 7);
        var images = Tensor.Rand([20, 1, 28, 28], new Generator(3));
        var stats = metrics.Statistics(images);
        Assert.That(metrics.Fcd(stats, images), Is.EqualTo(0).Within(1e-6));
        Assert.That(metrics.Fcd(stats, Tensor.Rand([20, 1, 28, 28], new Generator(4)) * 0.2f), Is.GreaterThan(1e-4));
        Assert.That(() => metrics.Features(Tensor.Zeros([3, 1, 32, 32])), Throws.InstanceOf<ShapeMismatchException>().With.Message.Contains("(N, 1, 28, 28)"));
        Assert.That(() => metrics.ConditionalAccuracy(images, [1, 2]), Throws.InstanceOf<ShapeMismatchException>());
    }

    [Test]
    public void Classifier_checkpoint_round_trips_and_rejects_other_models()
    {
        using var dir = new TempDir();
        var model = new SmallConvNet(new Generator(2), width: 4, hidden: 8);
        string path = Path.Combine(dir.Path, "c.safetensors");
        ClassifierCheckpoint.Save(path, model, 0.5, "test");
        var loaded = ClassifierCheckpoint.Load(path);
        var x = Tensor.Rand([2, 1, 28, 28], new Generator(1));
        Assert.That(loaded.Forward(x).ToArray(), Is.EqualTo(model.Forward(x).ToArray()));
        Assert.That(ClassifierCheckpoint.RecordedAccuracy(path), Is.EqualTo(0.5));

        string other = Path.Combine(dir.Path, "other.safetensors");
        SafeTensors.Save(other, model.StateDict(), new Dictionary<string, string> { ["model"] = "UNet" });
        Assert.That(() => ClassifierCheckpoint.Load(other), Throws.InstanceOf<CorruptFileException>().With.Message.Contains("not a SmallConvNet"));
        Assert.That(() => ClassifierCheckpoint.Load(Path.Combine(dir.Path, "missing.safetensors")), Throws.InstanceOf<FileNotFoundException>());
    }

    /// <summary>The shipped classifier that defines FCD: it loads and classifies the embedded test images.</summary>
    [Test]
    public void Shipped_classifier_checkpoint_is_accurate_on_test_images()
    {
        string path = Path.Combine(TestContext.CurrentContext.TestDirectory, ClassifierCheckpoint.DefaultPath);
        var model = ClassifierCheckpoint.Load(path);
        var test = Engine.Data.FashionMnist.LoadEmbedded();   // the Fashion-MNIST test split: never seen in training
        Assert.That(ClassifierCheckpoint.RecordedAccuracy(path), Is.GreaterThanOrEqualTo(0.91));
        Assert.That(model.Accuracy(test.Images.Narrow(0, 0, 500), test.Labels[..500]), Is.GreaterThan(0.88));
    }
}
