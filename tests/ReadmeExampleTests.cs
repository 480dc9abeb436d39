using Engine.Autograd;
using Engine.Data;
using Engine.IO;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;

namespace Engine.Tests;

/// <summary>The C# example of the README, verbatim apart from the output folder, so it cannot drift from the API.</summary>
public sealed class ReadmeExampleTests
{
    [Test]
    public void The_readme_example_trains_prints_and_saves()
    {
        using var dir = new TempDir();
        var g = new Generator(seed: 0);
        var (points, labels) = Toy2D.TwoMoonsLabeled(2048, g);      // (2048, 2) points and their moon
        var model = new Sequential(new Linear(2, 64, g), new Silu(), new Linear(64, 64, g), new Silu(), new Linear(64, 2, g));
        var opt = new AdamW(model.Parameters(), lr: 1e-2f, weightDecay: 1e-4f);
        var loader = new DataLoader(points, labels, batchSize: 128, seed: 1);

        for (int epoch = 0; epoch < 20; epoch++)
            foreach (var (x, y) in loader.Batches(epoch))
            {
                var loss = Losses.CrossEntropy(model.Forward(x), y);   // records the graph
                opt.ZeroGrad();
                loss.Backward();                                       // walks it in reverse
                opt.Step();
            }

        var text = GraphDump.ToText(Losses.CrossEntropy(model.Forward(points), labels));
        var path = Path.Combine(dir.Path, "moons.safetensors");
        SafeTensors.Save(path, model.StateDict());   // loads in PyTorch by the same names

        Assert.That(text, Does.Contain("Linear(").And.Contain("Gather").And.Contain("leaf 0.weight [64, 2]"));
        Assert.That(SafeTensors.Load(path).Tensors.Keys, Does.Contain("0.weight").And.Contain("4.bias"));
        Assert.That(Losses.CrossEntropy(model.Forward(points), labels).Item(), Is.LessThan(0.05f));
    }
}
