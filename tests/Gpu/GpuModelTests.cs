using Engine.Nn;
using Engine.Random;
using Models.Diffusion;
using Models.Dit;

namespace Engine.Tests;

/// <summary>
/// The denoisers moved whole to a GPU device (ILGPU's CPU accelerator): the UNet's loss, and a DiT training step's loss
/// and every parameter gradient, match the same model on the CPU, so nothing in a pass builds a tensor on the wrong
/// device. (The accelerator simulates each group's threads on the host, so the UNet, with several hundred kernel
/// launches a step, is checked forward only; the gradient table of <see cref="GpuDeviceTests"/> covers its ops' backward.)
/// </summary>
public sealed class GpuModelTests
{
    static Device Gpu => GpuTestDevice.Device;

    [Test]
    public void UNet_loss_on_the_gpu_matches_the_cpu()
    {
        var cpu = new UNet(new UNetConfig(BaseChannels: 8, Heads: 2, ResBlocks: 1), new Generator(1));
        var gpu = new UNet(new UNetConfig(BaseChannels: 8, Heads: 2, ResBlocks: 1), new Generator(1));
        gpu.To(Gpu);
        var x = Tensor.Randn([2, 1, 8, 8], new Generator(2));
        int[] t = [10, 700], y = [3, 10];
        using var _ = Autograd.GradMode.NoGrad();
        var lossCpu = Losses.MseLoss(cpu.Forward(x, t, y), x);
        var xg = x.To(Gpu);
        var lossGpu = Losses.MseLoss(gpu.Forward(xg, t, y), xg);
        Assert.That(lossGpu.Device, Is.EqualTo(Gpu));
        GpuTestDevice.AssertClose(lossCpu.ToArray(), lossGpu.ToArray(), "loss", 1e-4f);
    }

    [Test]
    public void DiT_training_step_on_the_gpu_matches_the_cpu() =>
        AssertSameStep(g =>
        {
            var net = new DiT(new DitConfig(ImageSize: 8, Width: 32, Depth: 1, Heads: 2, FrequencyDim: 32), g);
            var init = new Generator(7);
            foreach (var p in net.Parameters()) Init.Normal(p, init, 0f, 0.02f);   // no zero-initialised branch hides a path
            return net;
        }, size: 8);

    static void AssertSameStep<TNet>(Func<Generator, TNet> make, int size) where TNet : Module, IDenoiser
    {
        var cpu = make(new Generator(1));
        var gpu = make(new Generator(1));
        gpu.To(Gpu);
        var x = Tensor.Randn([2, 1, size, size], new Generator(2));
        int[] t = [10, 700], y = [3, 10];
        var lossCpu = Losses.MseLoss(cpu.Forward(x, t, y), x);
        lossCpu.Backward();
        var xg = x.To(Gpu);
        var lossGpu = Losses.MseLoss(gpu.Forward(xg, t, y), xg);
        lossGpu.Backward();
        Assert.That(lossGpu.Device, Is.EqualTo(Gpu));
        GpuTestDevice.AssertClose(lossCpu.ToArray(), lossGpu.ToArray(), "loss", 1e-4f);
        foreach (var (c, g) in cpu.NamedParameters().Zip(gpu.NamedParameters()))
        {
            Assert.That(g.Value.Grad, Is.Not.Null, $"{g.Name} has no gradient on the GPU");
            GpuTestDevice.AssertClose(c.Value.Grad!.ToArray(), g.Value.Grad!.ToArray(), $"{g.Name} gradient", 2e-3f);
        }
    }
}
