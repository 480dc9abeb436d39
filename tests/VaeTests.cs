using Engine.Autograd;
using Engine.Data;
using Engine.Optim;
using Engine.Random;
using Models.Vae;

namespace Engine.Tests;

public sealed class VaeTests
{
    static readonly VaeConfig Tiny = new(Latent: 4, Width: 6, Likelihood: VaeLikelihood.Bernoulli);

    [Test]
    public void Elbo_lies_below_the_iwae_bound_which_grows_with_k_on_a_trained_model()
    {
        var data = FashionMnist.LoadEmbedded().Slice(0, 512);
        var vae = new ConvVae(Tiny, new Generator(1));
        var g = new Generator(2);
        var opt = new Adam(vae.Parameters(), lr: 3e-3f);
        var loader = new DataLoader(data, 64, seed: 3);
        float firstElbo = float.NaN, lastElbo = float.NaN;
        for (int epoch = 0; epoch < 6; epoch++)
            foreach (var (x, _) in loader.Batches(epoch))
            {
                var terms = vae.Elbo(vae.Target(x, g), g);
                opt.ZeroGrad();
                terms.Loss.Backward();
                opt.Step();
                if (float.IsNaN(firstElbo)) firstElbo = terms.Elbo;
                lastElbo = terms.Elbo;
            }
        Assert.That(lastElbo, Is.GreaterThan(firstElbo + 100), "training raised the ELBO");

        var targets = vae.Target(FashionMnist.LoadEmbedded().Slice(9000, 8).Images, new Generator(4));
        var report = VaeBounds.Evaluate(vae, targets, [1, 10, 100], new Generator(5));
        var b = report.Iwae.ToDictionary(p => p.K, p => p.Bound);
        Assert.That(b[1], Is.EqualTo(report.Elbo).Within(1e-9), "IWAE with k = 1 is the ELBO");
        Assert.That(b[10], Is.GreaterThan(report.Elbo + 0.5), "the importance-weighted bound is tighter than the ELBO");
        Assert.That(b[100], Is.GreaterThan(b[10] + 0.1), "and tightens further with k");
        Assert.That(b[100], Is.LessThan(0), "a log-probability of binary images");
    }

    [Test]
    public void Discretised_logistic_probabilities_sum_to_one_over_the_256_levels()
    {
        var levels = Tensor.Wrap(Enumerable.Range(0, 256).Select(k => k / 255f * 2f - 1f).ToArray(), 256);
        foreach (var (mean, logScale) in new[] { (0f, -2f), (-0.9f, -4f), (0.95f, -1f), (0.2f, -7f), (-1.3f, 0.5f) })
        {
            var lp = DiscretizedLogistic.LogProb(levels, Tensor.Full([256], mean), Tensor.Full([256], logScale)).ToArray();
            double total = lp.Sum(v => Math.Exp(v));
            Assert.That(total, Is.EqualTo(1.0).Within(2e-3), $"mean {mean}, log-scale {logScale}");
        }
    }

    [Test]
    public void Logistic_vae_gives_a_finite_elbo_and_pictures_of_the_right_shapes()
    {
        var vae = new ConvVae(Tiny with { Likelihood = VaeLikelihood.Logistic }, new Generator(6));
        var images = FashionMnist.LoadEmbedded().Slice(0, 4).Images;
        var terms = vae.Elbo(vae.Target(images, new Generator(7)), new Generator(8));
        Assert.That(float.IsFinite(terms.Elbo) && terms.Kl >= 0, $"ELBO {terms.Elbo}, KL {terms.Kl}");
        Assert.That(VaePictures.Reconstructions(vae, images).Shape, Is.EqualTo(new[] { 8, 1, 28, 28 }));
        var line = VaePictures.Interpolations(vae, images, 5);
        Assert.That(line.Shape, Is.EqualTo(new[] { 10, 1, 28, 28 }));
        using (GradMode.NoGrad())
        {
            var ends = vae.MeanImage(vae.Decode(vae.Encode(images).Mu)).ToArray();
            Assert.That(line.Narrow(0, 4, 1).ToArray(), Is.EqualTo(ends.AsSpan(784, 784).ToArray()).Within(1e-5f), "a line ends at its second image's code");
        }
        Assert.That(VaePictures.LatentGrid(vae, 4, VaePictures.MostUsedAxes(vae, images)).Shape, Is.EqualTo(new[] { 16, 1, 28, 28 }));
    }

    [Test]
    public void Save_and_load_give_identical_outputs_and_bad_input_is_rejected()
    {
        using var dir = new TempDir();
        var vae = new ConvVae(Tiny with { Likelihood = VaeLikelihood.Logistic }, new Generator(9));
        vae.Save(dir.File("v.safetensors"), new Dictionary<string, string>());
        var (loaded, _) = ConvVae.Load(dir.File("v.safetensors"));
        Assert.That(loaded.Config, Is.EqualTo(vae.Config));
        var z = Tensor.Randn([3, 4], new Generator(10));
        using (GradMode.NoGrad()) Assert.That(loaded.Decode(z).ToArray(), Is.EqualTo(vae.Decode(z).ToArray()));
        Assert.Throws<ShapeMismatchException>(() => vae.Encode(Tensor.Zeros([1, 1, 27, 28])));
        Assert.Throws<NonFiniteException>(() => vae.Encode(Tensor.Full([1, 1, 28, 28], float.NaN)));
        Assert.Throws<ShapeMismatchException>(() => vae.Decode(Tensor.Zeros([2, 5])));
        Assert.Throws<ArgumentOutOfRangeException>(() => VaeBounds.LogWeights(vae, Tensor.Zeros([1, 1, 28, 28]), 0, new Generator(0)));
        File.WriteAllBytes(dir.File("bad.safetensors"), [1, 2, 3]);
        Assert.Throws<CorruptFileException>(() => ConvVae.Load(dir.File("bad.safetensors")));
    }
}
