using Engine;
using Engine.Autograd;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;
using Models.Diffusion;
using Models.Dit;

namespace Cli.Workloads;

/// <summary>
/// W1 (the UNet-S) and W2 (DiT-T/2) as denoisers at batch 64: one AdamW training step, and one
/// classifier-free-guided sampling step (128 images through the net).
/// </summary>
public static class DenoiserWorkloads
{
    public const int Batch = 64;

    public static IReadOnlyList<BenchCase> W1() => Cases("W1", new UNet(new UNetConfig(), new Generator(1)));

    public static IReadOnlyList<BenchCase> W2()
    {
        var net = new DiT(new DitConfig(), new Generator(1));
        var g = new Generator(2);
        foreach (var p in net.Parameters()) Init.Normal(p, g, 0f, 0.02f);      // no zero-initialised branch skipped by accident
        return Cases("W2", net);
    }

    static IReadOnlyList<BenchCase> Cases<TNet>(string workload, TNet net) where TNet : Module, IDenoiser
    {
        var g = new Generator(1);
        var opt = new AdamW(net.Parameters(), 1e-4f);
        var x = Tensor.Randn([Batch, 1, 28, 28], g);
        var t = Enumerable.Range(0, Batch).Select(_ => g.NextInt(1000)).ToArray();
        var y = Enumerable.Range(0, Batch).Select(_ => g.NextInt(11)).ToArray();
        var labels = Enumerable.Range(0, Batch).Select(i => i % 10).ToArray();
        return
        [
            new(workload, "train step B=64", "engine", () =>
            {
                using var scope = new DeviceScope();                              // as the trainers do: the step's tensors are recycled
                opt.ZeroGrad();
                Losses.MseLoss(net.Forward(x, t, y), x).Backward();
                opt.Step();
            }, 0),
            new(workload, "CFG sampling step B=64 (2×64 evals)", "engine", () =>
            {
                using var _ = GradMode.NoGrad();
                using var scope = new DeviceScope();                              // as the samplers do, per step
                Guidance.Predict(net, x, Enumerable.Repeat(500, Batch).ToArray(), labels, 3f);
            }, 0),
        ];
    }
}
