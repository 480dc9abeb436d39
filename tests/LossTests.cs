using Engine.Nn;
using Engine.Random;

namespace Engine.Tests;

/// <summary>Losses against their formulas written out directly in double, including extreme logits.</summary>
public sealed class LossTests
{
    static Tensor T(float[] v, params int[] shape) => Tensor.FromArray(v, shape);

    [Test]
    public void Mse_reductions()
    {
        var p = T([1, 2, 3, 4], 2, 2); var t = T([0, 2, 5, 1], 2, 2);
        Assert.That(Losses.MseLoss(p, t).Item(), Is.EqualTo((1 + 0 + 4 + 9) / 4.0).Within(1e-6));
        Assert.That(Losses.MseLoss(p, t, Reduction.Sum).Item(), Is.EqualTo(14.0).Within(1e-5));
        Assert.That(Losses.MseLoss(p, t, Reduction.None).ToArray(), Is.EqualTo(new[] { 1f, 0f, 4f, 9f }));
        var ex = Assert.Throws<ShapeMismatchException>(() => Losses.MseLoss(p, T([1, 2, 3, 4], 4)));
        Assert.That(ex!.Message, Does.Contain("MseLoss").And.Contain("[2, 2]").And.Contain("[4]"));
    }

    static double CrossEntropyReference(float[] logits, int classes, int[] labels, double smoothing)
    {
        double total = 0;
        for (int n = 0; n < labels.Length; n++)
        {
            var row = logits.Skip(n * classes).Take(classes).Select(v => (double)v).ToArray();
            double max = row.Max(), lse = max + Math.Log(row.Sum(z => Math.Exp(z - max)));
            for (int c = 0; c < classes; c++)
            {
                double q = (c == labels[n] ? 1 - smoothing : 0) + smoothing / classes;
                total -= q * (row[c] - lse);
            }
        }
        return total / labels.Length;
    }

    [Test]
    public void Cross_entropy_matches_the_softmax_formula()
    {
        var g = new Generator(1);
        var logits = Tensor.Randn([4, 5], g, 0, 2);
        int[] labels = [3, 0, 4, 4];
        Assert.That(Losses.CrossEntropy(logits, labels).Item(), Is.EqualTo(CrossEntropyReference(logits.ToArray(), 5, labels, 0)).Within(1e-5));
        Assert.That(Losses.CrossEntropy(logits, labels, labelSmoothing: 0.1f).Item(), Is.EqualTo(CrossEntropyReference(logits.ToArray(), 5, labels, 0.1)).Within(1e-5));
    }

    [Test]
    public void Cross_entropy_with_large_logits_stays_finite()
    {
        var logits = T([1000f, -1000f, 0f, 500f, 500f, -3000f], 2, 3);
        var loss = Losses.CrossEntropy(logits.RequireGrad(), [1, 0], reduction: Reduction.None);
        var v = loss.ToArray();
        Assert.That(v[0], Is.EqualTo(2000f).Within(1e-3));       // picked −1000 against a max of 1000
        Assert.That(v[1], Is.EqualTo(MathF.Log(2f)).Within(1e-4)); // two equal maxima (float spacing at 500 is 3e-5)
        loss.Sum().Backward();
        Assert.That(logits.Grad!.AllFinite(), Is.True);
    }

    [Test]
    public void Cross_entropy_over_spatial_positions_equals_the_flattened_form()
    {
        var g = new Generator(2);
        var logits = Tensor.Randn([2, 3, 2, 2], g);            // (N, C, H, W)
        int[] labels = [0, 1, 2, 2, 1, 0, 0, 1];                 // (N, H, W) row-major
        var flat = logits.Permute(0, 2, 3, 1).Contiguous().Reshape(8, 3); // (N·H·W, C)
        Assert.That(Losses.CrossEntropy(logits, labels).Item(), Is.EqualTo(Losses.CrossEntropy(flat, labels).Item()).Within(1e-6));
    }

    [Test]
    public void Cross_entropy_bad_input()
    {
        var logits = Tensor.Zeros([2, 3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.CrossEntropy(logits, [0, 3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.CrossEntropy(logits, [-1, 0]));
        var ex = Assert.Throws<ShapeMismatchException>(() => Losses.CrossEntropy(logits, [0, 1, 2]));
        Assert.That(ex!.Message, Does.Contain("CrossEntropy").And.Contain("[2, 3]"));
        Assert.Throws<ShapeMismatchException>(() => Losses.CrossEntropy(Tensor.Zeros([3]), [0]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.CrossEntropy(logits, [0, 1], labelSmoothing: 1.5f));
    }

    [Test]
    public void Bce_with_logits_matches_the_formula_and_is_stable_at_100()
    {
        float[] x = [-100f, -2f, 0f, 0.5f, 100f, 100f];
        float[] t = [1f, 0.3f, 1f, 0f, 0f, 1f];
        var logits = T(x, 6).RequireGrad();
        var loss = Losses.BinaryCrossEntropyWithLogits(logits, T(t, 6), Reduction.None);
        var v = loss.ToArray();
        for (int i = 0; i < x.Length; i++)
        {
            double s = 1 / (1 + Math.Exp(-(double)x[i]));
            double expected = x[i] is 100f or -100f
                ? Math.Max(x[i], 0) - x[i] * t[i] + Math.Log(1 + Math.Exp(-Math.Abs(x[i])))
                : -(t[i] * Math.Log(s) + (1 - t[i]) * Math.Log(1 - s));
            Assert.That(v[i], Is.EqualTo(expected).Within(1e-4 + 1e-6 * Math.Abs(expected)), $"x={x[i]}, t={t[i]}");
        }
        Assert.That(v[0], Is.EqualTo(100f).Within(1e-3));
        Assert.That(v[5], Is.EqualTo(0f).Within(1e-6));
        loss.Sum().Backward();
        Assert.That(logits.Grad!.AllFinite(), Is.True);
        Assert.That(logits.Grad!.ToArray()[0], Is.EqualTo(-1f).Within(1e-6)); // σ(−100) − 1
        Assert.Throws<ShapeMismatchException>(() => Losses.BinaryCrossEntropyWithLogits(logits, T(t, 2, 3)));
    }

    [Test]
    public void Gaussian_log_likelihood_matches_the_density()
    {
        float[] x = [0.3f, -1.2f, 2f], mu = [0f, -1f, 1.5f], lv = [0f, -0.5f, 1.2f];
        var ll = Losses.GaussianLogLikelihood(T(x, 3), T(mu, 3), T(lv, 3), Reduction.None).ToArray();
        double total = 0;
        for (int i = 0; i < 3; i++)
        {
            double sd = Math.Exp(lv[i] / 2.0);
            double expected = Math.Log(Math.Exp(-0.5 * Math.Pow((x[i] - mu[i]) / sd, 2)) / (sd * Math.Sqrt(2 * Math.PI)));
            Assert.That(ll[i], Is.EqualTo(expected).Within(1e-5));
            total += expected;
        }
        Assert.That(Losses.GaussianLogLikelihood(T(x, 3), T(mu, 3), T(lv, 3)).Item(), Is.EqualTo(total).Within(1e-5));
        Assert.That(Losses.GaussianLogLikelihood(T(x, 3), T(mu, 3), T([0f], 1)).Item(),
            Is.EqualTo(Losses.GaussianLogLikelihood(T(x, 3), T(mu, 3), Tensor.Zeros([3])).Item()).Within(1e-6));
        var ex = Assert.Throws<ShapeMismatchException>(() => Losses.GaussianLogLikelihood(T(x, 3), T(mu, 3), Tensor.Zeros([2])));
        Assert.That(ex!.Message, Does.Contain("GaussianLogLikelihood").And.Contain("[2]").And.Contain("[3]"));
    }

    [Test]
    public void Bernoulli_log_likelihood_matches_the_mass_function()
    {
        float[] l = [-3f, 0f, 2f, 40f], x = [0f, 1f, 1f, 0f];
        var ll = Losses.BernoulliLogLikelihood(T(l, 4), T(x, 4), Reduction.None).ToArray();
        for (int i = 0; i < 4; i++)
        {
            double p = 1 / (1 + Math.Exp(-(double)l[i]));
            double expected = x[i] == 1 ? Math.Log(p) : -l[i] - Math.Log(1 + Math.Exp(-l[i])); // log(1 − p), stably
            Assert.That(ll[i], Is.EqualTo(expected).Within(1e-5), $"l={l[i]}");
        }
        Assert.Throws<ShapeMismatchException>(() => Losses.BernoulliLogLikelihood(T(l, 4), T(x, 2, 2)));
    }

    [Test]
    public void Kl_of_diagonal_gaussians_matches_the_closed_form()
    {
        float[] m1 = [0.5f, -1f], v1 = [0.2f, -0.7f], m2 = [0.1f, 0.3f], v2 = [-0.4f, 0.6f];
        double expected = 0, expectedPrior = 0;
        for (int i = 0; i < 2; i++)
        {
            double s1 = Math.Exp(v1[i]), s2 = Math.Exp(v2[i]);
            expected += Math.Log(Math.Sqrt(s2) / Math.Sqrt(s1)) + (s1 + Math.Pow(m1[i] - m2[i], 2)) / (2 * s2) - 0.5;
            expectedPrior += 0.5 * (s1 + m1[i] * m1[i] - 1 - v1[i]);
        }
        Assert.That(Losses.KlDiagonalGaussians(T(m1, 2), T(v1, 2), T(m2, 2), T(v2, 2)).Item(), Is.EqualTo(expected).Within(1e-5));
        Assert.That(Losses.KlDiagonalGaussians(T(m1, 2), T(v1, 2)).Item(), Is.EqualTo(expectedPrior).Within(1e-5));
        Assert.That(Losses.KlDiagonalGaussians(T(m1, 2), T(v1, 2), Tensor.Zeros([2]), Tensor.Zeros([2])).Item(), Is.EqualTo(expectedPrior).Within(1e-5));
        Assert.That(Losses.KlDiagonalGaussians(T(m1, 2), T(v1, 2), T(m1, 2), T(v1, 2)).Item(), Is.EqualTo(0).Within(1e-6));
        Assert.Throws<ShapeMismatchException>(() => Losses.KlDiagonalGaussians(T(m1, 2), T(v1, 1, 2)));
    }
}
