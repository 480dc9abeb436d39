using BenchmarkDotNet.Attributes;
using Engine;
using Engine.Autograd;
using Engine.Random;
using Models.Diffusion;

namespace Bench;

/// <summary>
/// The denoising loop of the DDPM sampler on the W1 UNet-S (width 32, random weights: the cost does not depend on
/// training): one classifier-free-guided DDIM step (one network pass over 2·B images plus the update), and a full
/// 50-step guided DDIM sample of a batch. <c>dotnet run -c Release --project bench -- --filter '*DenoisingBench*' --job short</c>
/// </summary>
public class DenoisingBench
{
    [Params(8)] public int Batch { get; set; }

    UNet net = null!;
    Sampler sampler = null!;
    Tensor x = null!;
    int[] labels = [];
    readonly SamplerOptions options = new(SamplerKind.Ddim, 50, 0f, 3f);

    [GlobalSetup]
    public void Setup()
    {
        var g = new Generator(1);
        net = new UNet(new UNetConfig(), g);
        sampler = new Sampler(NoiseSchedule.Linear(), Prediction.Epsilon);
        x = Tensor.Randn([Batch, 1, 28, 28], g);
        labels = Enumerable.Range(0, Batch).Select(i => i % 10).ToArray();
    }

    /// <summary>One guided DDIM step from t = 500 to 480: both passes batched in one network call, x̂₀ and ε̂, the update.</summary>
    [Benchmark]
    public Tensor GuidedDdimStep()
    {
        using var _ = GradMode.NoGrad();
        return sampler.Step(net, x, labels, 500, 480, options, new Generator(2)).X;
    }

    /// <summary>A full 50-step guided DDIM sample of the batch, from noise.</summary>
    [Benchmark]
    public Tensor GuidedDdimSample50() => sampler.Sample(net, [1, 28, 28], labels, options, new Generator(2));
}
