using Engine;
using Engine.Autograd;
using Engine.Gpu;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;
using Models.Diffusion;
using Models.Dit;

namespace Cli.Workloads;

/// <summary>
/// W1 (the UNet-S) and W2 (DiT-T/2) as denoisers at batch 64: one AdamW training step, and one
/// classifier-free-guided sampling step (128 images through the net). On a GPU device the net and its inputs live
/// there and each case ends by waiting for the device, so the time is the step's and not that of queueing it.
/// </summary>
public static class DenoiserWorkloads
{
    public const int Batch = 64;

    public static IReadOnlyList<BenchCase> W1(Device device) => Cases("W1", new UNet(new UNetConfig(), new Generator(1)), device);

    public static IReadOnlyList<BenchCase> W2(Device device)
    {
        var net = new DiT(new DitConfig(), new Generator(1));
        var g = new Generator(2);
        foreach (var p in net.Parameters()) Init.Normal(p, g, 0f, 0.02f);      // no zero-initialised branch skipped by accident
        return Cases("W2", net, device);
    }

    static IReadOnlyList<BenchCase> Cases<TNet>(string workload, TNet net, Device device) where TNet : Module, IDenoiser
    {
        var g = new Generator(1);
        if (device.IsGpu) net.To(device);
        var opt = new AdamW(net.Parameters(), 1e-4f);
        var x = Tensor.Randn([Batch, 1, 28, 28], g).To(device);
        string variant = device.IsGpu ? $"engine-{device}" : "engine";
        var t = Enumerable.Range(0, Batch).Select(_ => g.NextInt(1000)).ToArray();
        var y = Enumerable.Range(0, Batch).Select(_ => g.NextInt(11)).ToArray();
        var labels = Enumerable.Range(0, Batch).Select(i => i % 10).ToArray();
        var plan = new MemoryPlan();                                              // the samplers' plan: intermediates freed after their last use
        return
        [
            new(workload, "train step B=64", variant, () =>
            {
                using var scope = new DeviceScope();                              // as the trainers do: the step's tensors are recycled
                opt.ZeroGrad();
                Losses.MseLoss(net.Forward(x, t, y), x).Backward();
                opt.Step();
                if (device.IsGpu) GpuRuntime.Synchronize(device);
            }, 0),
            new(workload, "CFG sampling step B=64 (2×64 evals)", variant, () =>
            {
                using var _ = GradMode.NoGrad();
                using var scope = new DeviceScope(plan);                          // as the samplers do, per step
                Guidance.Predict(net, x, Enumerable.Repeat(500, Batch).ToArray(), labels, 3f);
                if (device.IsGpu) GpuRuntime.Synchronize(device);
            }, 0),
        ];
    }
}
