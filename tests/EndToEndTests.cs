using Engine.Data;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;
using Models.Classifier;

namespace Engine.Tests;

/// <summary>The engine working end to end: models defined from modules, trained with an optimizer, on real data.</summary>
public sealed class EndToEndTests
{
    [Test]
    public void Mlp_trained_with_AdamW_fits_two_moons()
    {
        var g = new Generator(0);
        var (points, labels) = Toy2D.TwoMoonsLabeled(1024, g);
        var model = new Sequential(new Linear(2, 64, g), new Silu(), new Linear(64, 64, g), new Silu(), new Linear(64, 2, g));
        var opt = new AdamW(model.Parameters(), lr: 1e-2f, weightDecay: 1e-4f);
        float first = 0, last = 0;
        for (int epoch = 0; epoch < 30; epoch++)
            foreach (var (x, y) in new DataLoader(points, labels, batchSize: 128, seed: 1).Batches(epoch))
            {
                var loss = Losses.CrossEntropy(model.Forward(x), y);
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
                if (epoch == 0 && first == 0) first = loss.Item();
                last = loss.Item();
            }
        Assert.That(first, Is.GreaterThan(0.5f));
        Assert.That(last, Is.LessThan(0.05f), $"loss went from {first} to {last}");
        using var _ = Autograd.GradMode.NoGrad();
        var predicted = model.Forward(points).Argmax(1).ToArray();
        double accuracy = predicted.Where((p, i) => (int)p == labels[i]).Count() / (double)labels.Length;
        Assert.That(accuracy, Is.GreaterThan(0.99));
    }

    [Test]
    public void Small_conv_net_learns_embedded_fashion_mnist()
    {
        var all = FashionMnist.LoadEmbedded();
        var train = all.Slice(0, FashionMnist.EmbeddedTrainCount);
        var test = all.Slice(FashionMnist.EmbeddedTrainCount, all.Count - FashionMnist.EmbeddedTrainCount);
        var g = new Generator(1);
        var model = new SmallConvNet(g);
        var opt = new AdamW(model.Parameters(), lr: 2e-3f, weightDecay: 1e-4f);
        for (int epoch = 0; epoch < 2; epoch++)
            foreach (var (x, y) in new DataLoader(train, batchSize: 64, seed: 2).Batches(epoch))
            {
                var loss = Losses.CrossEntropy(model.Forward(x), y);
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
            }
        double accuracy = model.Accuracy(test.Images, test.Labels);
        TestContext.Out.WriteLine($"test accuracy after 2 epochs on {train.Count} images: {accuracy:P1}");
        Assert.That(accuracy, Is.GreaterThan(0.80));
    }
}
