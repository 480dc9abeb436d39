using Engine.Autograd;
using Engine.Data;
using Engine.Random;
using Models.Classifier;
using Models.Evaluation;
using Models.Gan;

namespace Engine.Tests;

public sealed class GanTests
{
    static readonly GanConfig Tiny = new(Latent: 8, Width: 4, Classes: 10);

    [Test]
    public void Spectral_norm_divides_by_the_largest_singular_value()
    {
        // Singular values 3, 1, 0.5 (a scaled permutation): power iteration must find 3.
        var w = Tensor.FromArray([0f, 3f, 0f, 0f, 0f, 0f, 0f, 0.5f, 1f, 0f, 0f, 0f], 3, 4);
        var u = Tensor.FromArray([0.5f, 0.5f, 0.7071f], 3);
        Tensor v = Tensor.Zeros([4]);
        for (int i = 0; i < 30; i++) v = SpectralNorm.PowerIteration(w, u, update: true);
        var normalised = SpectralNorm.Apply(w, u, v).ToArray();
        Assert.That(normalised[1], Is.EqualTo(1f).Within(1e-4f));
        Assert.That(normalised[7], Is.EqualTo(0.5f / 3f).Within(1e-4f));
    }

    [Test]
    public void Minibatch_standard_deviation_sees_a_collapsed_batch()
    {
        // Two samples of two features on a 1×1 plane: standard deviations across the batch 1 and 3, mean 2.
        var h = Tensor.FromArray([0f, 0f, 2f, 6f], 2, 2, 1, 1);
        var spread = DcganDiscriminator.MinibatchStd(h);
        Assert.That(spread.Shape, Is.EqualTo(new[] { 2, 1, 1, 1 }));
        Assert.That(spread.ToArray(), Is.EqualTo(new[] { 2f, 2f }).Within(1e-4f));
        var collapsed = Tensor.FromArray([1f, 5f, 1f, 5f], 2, 2, 1, 1);              // identical samples: no spread
        Assert.That(DcganDiscriminator.MinibatchStd(collapsed).ToArray(), Is.All.LessThan(1e-3f));
        // It is differentiable through the engine's ops: the gradient pushes the samples apart.
        var x = Tensor.FromArray([0f, 0f, 2f, 6f], 2, 2, 1, 1).RequireGrad();
        DcganDiscriminator.MinibatchStd(x).Sum().Backward();
        var grad = x.Grad!.ToArray();
        Assert.That(grad[0], Is.LessThan(0f));
        Assert.That(grad[2], Is.GreaterThan(0f));
    }

    [Test]
    public void Generator_and_discriminator_shapes_and_training_steps()
    {
        var g = new Generator(1);
        var trainer = new GanTrainer(new DcganGenerator(Tiny, g), new DcganDiscriminator(Tiny, g), seed: 2);
        var data = FashionMnist.LoadEmbedded().Slice(0, 16);
        var before = trainer.G.Parameters().Select(p => p.ToArray()).ToList();
        for (int i = 0; i < 3; i++)
        {
            var losses = trainer.TrainStep(data.Images, data.Labels);
            Assert.That(float.IsFinite(losses.Discriminator) && float.IsFinite(losses.Generator));
            Assert.That(losses.RealScore, Is.InRange(0f, 1f));
        }
        Assert.That(trainer.G.Parameters().Select(p => p.ToArray()).Zip(before).Any(t => !t.First.SequenceEqual(t.Second)), "the generator was updated");
        var samples = GanTrainer.Sample(trainer.G, [0, 5, 9], 3, new Generator(3));
        Assert.That(samples.Shape, Is.EqualTo(new[] { 3, 1, 28, 28 }));
        Assert.That(samples.ToArray().All(v => v >= 0f && v <= 1f));
        Assert.Throws<ShapeMismatchException>(() => trainer.G.Forward(Tensor.Zeros([2, 8]), [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.D.Forward(Tensor.Zeros([1, 1, 28, 28]), [10]));
        Assert.Throws<ShapeMismatchException>(() => trainer.D.Forward(Tensor.Zeros([1, 1, 32, 32]), [1]));
    }

    [Test]
    public void Discriminator_learns_to_tell_real_images_from_noise()
    {
        var g = new Generator(4);
        var d = new DcganDiscriminator(Tiny with { Classes = 0 }, g);
        var opt = new Engine.Optim.Adam(d.Parameters(), lr: 2e-3f, beta1: 0.5f);
        var real = FashionMnist.LoadEmbedded().Slice(0, 16).Images * 2f - 1f;
        var noise = Tensor.Rand([16, 1, 28, 28], g, -1f, 1f);
        float first = 0, last = 0;
        for (int i = 0; i < 30; i++)
        {
            var loss = (-d.Forward(real, null)).Softplus().Mean() + d.Forward(noise, null).Softplus().Mean();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            if (i == 0) first = loss.Item();
            last = loss.Item();
        }
        Assert.That(last, Is.LessThan(first * 0.5f), $"discriminator loss {first} → {last}");
    }

    [Test]
    public void Quality_metrics_run_with_a_tiny_random_classifier()
    {
        var classifier = new SmallConvNet(new Generator(5), width: 4, hidden: 8);
        var metrics = new ClassifierMetrics(classifier, batch: 32);
        var reference = metrics.Statistics(FashionMnist.LoadEmbedded().Slice(0, 64).Images);
        var generator = new DcganGenerator(Tiny, new Generator(6));
        var quality = GanEvaluation.Measure(generator, metrics, reference, 40, new Generator(7), batch: 16);
        Assert.That(quality.Samples, Is.EqualTo(40));
        Assert.That(quality.Fcd, Is.GreaterThan(0).And.LessThan(double.PositiveInfinity));
        Assert.That(quality.ConditionalAccuracy, Is.InRange(0.0, 1.0));
        Assert.That(quality.Cost.NetworkEvaluationsPerImage, Is.EqualTo(1));
    }

    [Test]
    public void Generator_save_and_load_give_identical_samples()
    {
        using var dir = new TempDir();
        var generator = new DcganGenerator(Tiny, new Generator(8));
        GanTrainer.SaveGenerator(dir.File("g.safetensors"), generator, new Dictionary<string, string>());
        var (loaded, _) = GanTrainer.LoadGenerator(dir.File("g.safetensors"));
        var a = GanTrainer.Sample(generator, [1, 2], 2, new Generator(9)).ToArray();
        var b = GanTrainer.Sample(loaded, [1, 2], 2, new Generator(9)).ToArray();
        Assert.That(b, Is.EqualTo(a));
        var batchStats = GanTrainer.Sample(loaded, [1, 2, 3, 4], 4, new Generator(9), batchStatistics: true);
        Assert.That(batchStats.ToArray().All(v => v >= 0f && v <= 1f));
        Assert.That(batchStats.Narrow(0, 0, 2).ToArray(), Is.Not.EqualTo(GanTrainer.Sample(loaded, [1, 2, 3, 4], 4, new Generator(9)).Narrow(0, 0, 2).ToArray()),
            "batch statistics differ from the running ones of a fresh generator");
        Assert.That(loaded.Training, "sampling leaves the generator in training mode");
        Assert.Throws<CorruptFileException>(() => Models.Vae.ConvVae.Load(dir.File("g.safetensors")));
    }
}
