using Engine.IO;
using Engine.Random;
using Models.Diffusion;
using Models.Dit;

namespace Engine.Tests;

/// <summary>The engine against PyTorch on the W1 UNet-S and the W2 DiT: same weights, same inputs → same output, loss and gradients.</summary>
public sealed class ParityTests
{
    static string Fixture(string name) => Path.Combine(TestContext.CurrentContext.TestDirectory, "Fixtures", "parity", name);

    [Test]
    public void W1_UNet_matches_pytorch_output_loss_and_every_gradient()
    {
        var weights = SafeTensors.Load(Fixture("W1.safetensors")).Tensors;
        var check = SafeTensors.Load(Fixture("W1.check.safetensors")).Tensors;
        var net = new UNet(new UNetConfig(BaseChannels: 16), new Generator(0));
        net.LoadStateDict(weights);

        var x = check["input.x"];
        var t = check["input.t"].ToArray().Select(v => (int)v).ToArray();
        var y = check["input.y"].ToArray().Select(v => (int)v).ToArray();
        var output = net.Forward(x, t, y);
        var loss = Engine.Nn.Losses.MseLoss(output, x);
        loss.Backward();

        Assert.That(output.Shape, Is.EqualTo(check["output"].Shape));
        Assert.That(MaxRelative(output, check["output"]), Is.LessThan(1e-4), "output");
        Assert.That(loss.Item(), Is.EqualTo(check["loss"].Item()).Within(1e-4).Percent);
        var worst = net.NamedParameters()
            .Select(p => (p.Name, Error: MaxRelative(p.Value.Grad!, check["grad." + p.Name])))
            .OrderByDescending(e => e.Error).First();
        TestContext.Out.WriteLine($"output {MaxRelative(output, check["output"]):E1}, worst gradient {worst.Error:E1} at {worst.Name}");
        Assert.That(worst.Error, Is.LessThan(1e-3), $"largest gradient difference at {worst.Name}");
    }

    [Test]
    public void W2_DiT_matches_pytorch_output_loss_and_every_gradient()
    {
        var weights = SafeTensors.Load(Fixture("W2.safetensors")).Tensors;
        var check = SafeTensors.Load(Fixture("W2.check.safetensors")).Tensors;
        var net = new DiT(new DitConfig(Width: 64, Depth: 2), new Generator(0));
        net.LoadStateDict(weights);

        var x = check["input.x"];
        var t = check["input.t"].ToArray().Select(v => (int)v).ToArray();
        var y = check["input.y"].ToArray().Select(v => (int)v).ToArray();
        var output = net.Forward(x, t, y);
        var loss = Engine.Nn.Losses.MseLoss(output, x);
        loss.Backward();

        TestContext.Out.WriteLine($"output {MaxRelative(output, check["output"]):E1}, loss {loss.Item()} vs {check["loss"].Item()}");
        Assert.That(output.Shape, Is.EqualTo(check["output"].Shape));
        Assert.That(MaxRelative(output, check["output"]), Is.LessThan(1e-4), "output");
        Assert.That(loss.Item(), Is.EqualTo(check["loss"].Item()).Within(1e-3).Percent);
        Assert.That(net.NamedParameters().Select(p => p.Name), Is.EquivalentTo(weights.Keys), "parameter names");
        var worst = net.NamedParameters()
            .Select(p => (p.Name, Error: MaxRelative(p.Value.Grad!, check["grad." + p.Name])))
            .OrderByDescending(e => e.Error).First();
        TestContext.Out.WriteLine($"output {MaxRelative(output, check["output"]):E1}, worst gradient {worst.Error:E1} at {worst.Name}");
        Assert.That(worst.Error, Is.LessThan(1e-3), $"largest gradient difference at {worst.Name}");
    }

    /// <summary>max |a − b| relative to max |b| (so tiny entries do not dominate).</summary>
    static double MaxRelative(Tensor a, Tensor b)
    {
        var av = a.ToArray(); var bv = b.ToArray();
        double scale = bv.Max(v => Math.Abs((double)v)) + 1e-12, worst = 0;
        for (int i = 0; i < av.Length; i++) worst = Math.Max(worst, Math.Abs(av[i] - bv[i]) / scale);
        return worst;
    }
}
