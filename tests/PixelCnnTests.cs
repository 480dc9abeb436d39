using Engine.Autograd;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;
using Models.PixelCnn;

namespace Engine.Tests;

public sealed class PixelCnnTests
{
    static readonly PixelCnnConfig Small = new(Channels: 6, Layers: 4, KernelSize: 3, Classes: 3, HeadChannels: 8);

    /// <summary>Random 8-bit images (N, 1, H, W) as values k/255.</summary>
    static Tensor RandomImages(Generator g, int n, int h, int w) =>
        Tensor.Rand([n, 1, h, w], g).Apply(v => MathF.Floor(v * 256f) / 255f);

    static float[] PixelLogits(GatedPixelCnn model, Tensor x, int[] labels, int i, int j)
    {
        using var _ = GradMode.NoGrad();
        return model.Forward(x, labels).Narrow(2, i, 1).Narrow(3, j, 1).ToArray();
    }

    [TestCase(0, 0)]
    [TestCase(4, 5)]
    [TestCase(3, 0)]
    [TestCase(0, 7)]
    [TestCase(8, 10)]
    public void Output_at_a_pixel_ignores_that_pixel_and_every_later_one(int i, int j)
    {
        var g = new Generator(1);
        var model = new GatedPixelCnn(Small, g);
        var x = RandomImages(g, 2, 9, 11);
        int[] labels = [0, 2];
        var before = PixelLogits(model, x, labels, i, j);
        var changed = x.Clone();
        for (int r = 0; r < 9; r++)
            for (int c = 0; c < 11; c++)
                if (r > i || (r == i && c >= j))
                    for (int b = 0; b < 2; b++) changed[b, 0, r, c] = 1f - changed[b, 0, r, c] * 0.5f;
        Assert.That(PixelLogits(model, changed, labels, i, j), Is.EqualTo(before), "a pixel at or after the output's position leaked into it");
    }

    [TestCase(-1, 0)]
    [TestCase(0, -1)]
    [TestCase(-1, 2)]   // the classic PixelCNN's blind spot: above and to the right
    [TestCase(-2, 3)]
    [TestCase(-1, 4)]
    [TestCase(-3, -2)]
    public void Output_at_a_pixel_sees_earlier_pixels_including_the_blind_spot_region(int di, int dj)
    {
        const int i = 5, j = 4;
        var g = new Generator(2);
        var model = new GatedPixelCnn(Small, g);
        var x = RandomImages(g, 1, 9, 11);
        int[] labels = [1];
        var before = PixelLogits(model, x, labels, i, j);
        var changed = x.Clone();
        changed[0, 0, i + di, j + dj] = 1f - changed[0, 0, i + di, j + dj];
        var after = PixelLogits(model, changed, labels, i, j);
        double diff = before.Zip(after, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(diff, Is.GreaterThan(1e-6), $"pixel ({i + di}, {j + dj}) does not reach the output at ({i}, {j})");
    }

    [Test]
    public void Cached_row_logits_match_the_full_pass_at_every_pixel()
    {
        var g = new Generator(3);
        var model = new GatedPixelCnn(Small with { Layers = 3 }, g);
        var x = RandomImages(g, 2, 10, 9);
        int[] labels = [2, 0];
        using var _ = GradMode.NoGrad();
        var full = model.Forward(x, labels);                                                // (2, 256, 10, 9)
        for (int i = 0; i < 10; i++)
        {
            var row = new PixelCnnSampler.RowState(model, x, labels, i);
            for (int j = 0; j < 9; j++)
            {
                var expected = full.Narrow(2, i, 1).Narrow(3, j, 1).ToArray();
                var actual = row.PixelLogits(j).ToArray();
                for (int k = 0; k < expected.Length; k++)
                    Assert.That(actual[k], Is.EqualTo(expected[k]).Within(1e-4f), $"pixel ({i}, {j}) value {k}");
            }
        }
    }

    [Test]
    public void Cached_sampler_draws_the_same_images_as_the_naive_one()
    {
        var model = new GatedPixelCnn(Small, new Generator(4));
        var sampler = new PixelCnnSampler(model);
        int[] labels = [0, 1, 2];
        var fast = sampler.Sample(labels, 6, 7, new Generator(9));
        var naive = sampler.SampleNaive(labels, 6, 7, new Generator(9));
        Assert.That(fast.Shape, Is.EqualTo(new[] { 3, 1, 6, 7 }));
        Assert.That(fast.ToArray(), Is.EqualTo(naive.ToArray()));
        foreach (var v in fast.ToArray())
            Assert.That(MathF.Abs(v * 255f - MathF.Round(v * 255f)), Is.LessThan(1e-4f), "samples are 8-bit levels");
        Assert.That(fast.ToArray().Distinct().Count(), Is.GreaterThan(10), "an untrained model's samples vary");
    }

    [Test]
    public void Nll_falls_when_trained_on_a_few_images_and_bits_per_dim_agree()
    {
        var data = FashionMnist.LoadEmbedded().Slice(0, 16);
        var model = new GatedPixelCnn(new PixelCnnConfig(Channels: 8, Layers: 2, Classes: 10, HeadChannels: 16), new Generator(5));
        var opt = new Adam(model.Parameters(), lr: 3e-3f);
        double first = model.BitsPerDim(data), before = first;
        for (int step = 0; step < 25; step++)
        {
            var loss = model.Nll(data.Images, data.Labels).Mean() / (28 * 28);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            if (step == 0) before = loss.Item() / Math.Log(2);
        }
        double after = model.BitsPerDim(data);
        Assert.That(before, Is.EqualTo(first).Within(1e-3), "the training loss and BitsPerDim measure the same thing");
        Assert.That(after, Is.LessThan(first - 1.0), $"bits/dim {first:F3} → {after:F3}");
    }

    [Test]
    public void Save_and_load_give_identical_logits()
    {
        using var dir = new TempDir();
        var g = new Generator(6);
        var model = new GatedPixelCnn(Small, g);
        var x = RandomImages(g, 2, 5, 5);
        model.Save(Path.Combine(dir.Path, "p.safetensors"), new Dictionary<string, string> { ["step"] = "0" });
        var (loaded, meta) = GatedPixelCnn.Load(Path.Combine(dir.Path, "p.safetensors"));
        Assert.That(loaded.Config, Is.EqualTo(Small));
        Assert.That(meta["step"], Is.EqualTo("0"));
        using var _ = GradMode.NoGrad();
        Assert.That(loaded.Forward(x, [0, 1]).ToArray(), Is.EqualTo(model.Forward(x, [0, 1]).ToArray()));
    }

    [Test]
    public void Bad_input_gets_typed_errors()
    {
        var model = new GatedPixelCnn(Small, new Generator(7));
        Assert.Throws<ShapeMismatchException>(() => model.Forward(Tensor.Zeros([2, 3, 5, 5]), [0, 1]));
        Assert.Throws<ShapeMismatchException>(() => model.Forward(Tensor.Zeros([2, 1, 5, 5]), [0]));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(Tensor.Zeros([1, 1, 5, 5]), [3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(Tensor.Full([1, 1, 5, 5], 2f), [0]));
        Assert.Throws<NonFiniteException>(() => model.Forward(Tensor.Full([1, 1, 5, 5], float.NaN), [0]));
        Assert.Throws<ArgumentException>(() => new GatedPixelCnn(Small with { KernelSize = 4 }, new Generator(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PixelCnnSampler(model).Sample([0], 4, 4, new Generator(0), temperature: 0f));
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "other.safetensors");
        IO.SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros([2]) }, new Dictionary<string, string> { ["model"] = "ConvVae" });
        Assert.Throws<CorruptFileException>(() => GatedPixelCnn.Load(path));
    }

    [Test]
    public void Masked_taps_get_no_gradient_and_bad_masks_are_rejected()
    {
        var g = new Generator(8);
        var conv = new MaskedConv2d(2, 3, PixelCnnMasks.Vertical(3, maskB: false), g, (1, 1));
        var y = conv.Forward(Tensor.Randn([2, 2, 5, 5], g));
        y.Square().Sum().Backward();
        var grad = conv.Weight.Grad!;
        for (int o = 0; o < 3; o++)
            for (int c = 0; c < 2; c++)
                for (int r = 1; r < 3; r++)
                    for (int k = 0; k < 3; k++)
                    {
                        Assert.That(grad[o, c, r, k], Is.EqualTo(0f), "closed tap received gradient");
                        Assert.That(conv.Weight[o, c, r, k], Is.EqualTo(0f), "closed tap starts non-zero");
                    }
        Assert.That(grad[0, 0, 0, 1], Is.Not.EqualTo(0f));
        Assert.Throws<ArgumentException>(() => new MaskedConv2d(1, 1, Tensor.Full([3, 3], 0.5f), g, (1, 1)));
        Assert.Throws<ArgumentException>(() => new MaskedConv2d(1, 1, Tensor.Zeros([3, 3]), g, (1, 1)));
        Assert.Throws<ShapeMismatchException>(() => MaskedConv2d.Apply(Tensor.Zeros([1, 1, 4, 4]), Tensor.Zeros([1, 1, 3, 3]), Tensor.Ones([1, 3]), null, (0, 1)));
    }
}
