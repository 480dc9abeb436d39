using Engine.Random;
using Models.Diffusion;
using Models.FlowMatching;

namespace Engine.Tests;

/// <summary>The checkpoints the repository ships load, say how they were made, and sample finite images.</summary>
public sealed class ShippedCheckpointTests
{
    static string Shipped(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string path = Path.Combine(dir.FullName, "checkpoints", name);
            if (File.Exists(path)) return path;
        }
        Assert.Fail($"checkpoints/{name} not found above {AppContext.BaseDirectory}");
        return "";
    }

    [TestCase("fmnist-cfm.safetensors", "1-rectified")]
    [TestCase("fmnist-2-rectified.safetensors", "2-rectified")]
    public void Flow_fields_load_and_carry_noise_to_images(string file, string flow)
    {
        var (field, meta) = FlowCheckpoint.Load(Shipped(file));
        Assert.That(meta["flow"], Is.EqualTo(flow));
        Assert.That(meta["command"], Does.StartWith("engine train rectified"));
        var x = ConditionalFlowMatching.Sample(field, Tensor.Randn([2, 1, 28, 28], new Generator(1)), new OdeOptions(OdeMethod.Euler, 2), [1, 7], 2f).X;
        Assert.That(x.AllFinite(), Is.True);
        Assert.That(x.Shape, Is.EqualTo(new[] { 2, 1, 28, 28 }));
    }

    [Test]
    public void Ddpm_loads_for_sampling()
    {
        var model = DiffusionCheckpoint.LoadSampling(Shipped("fmnist-ddpm.safetensors"));
        Assert.That(model.Metadata["command"], Does.StartWith("engine train ddpm"));
        var x = model.Sampler().Sample(model.Model, model.Config.ImageShape, [3], new SamplerOptions(SamplerKind.Ddim, 2, 0f, 3f), new Generator(2));
        Assert.That(x.AllFinite(), Is.True);
    }
}
