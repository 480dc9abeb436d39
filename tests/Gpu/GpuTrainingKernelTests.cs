using Engine.Optim;
using ILGPU.Runtime;
using Kernels.Gpu;
using static Engine.Tests.GpuTestDevice;

namespace Engine.Tests;

/// <summary>
/// The per-channel bias kernels and the training-loop kernels (EMA, gradient-norm clipping) of <see cref="GpuKernels"/>
/// on the ILGPU CPU accelerator, against the CPU ops and optimizer helpers.
/// </summary>
public sealed class GpuTrainingKernelTests
{
    static GpuKernels K => GpuBuffers.K;
    static float[] Down(ILGPU.ArrayView<float> v) => GpuBuffers.Down(v);

    [Test]
    public void Channel_bias_add_and_channel_sum_match_the_cpu()
    {
        foreach (var (n, c, s) in new[] { (1, 1, 1), (2, 3, 35), (3, 7, 300) })
        {
            using var d = new GpuBuffers();
            var x = Values(n * c * s, 90); var bias = Values(c, 91);
            var expected = (float[])x.Clone();
            for (int i = 0; i < expected.Length; i++) expected[i] += bias[i / s % c];
            var y = d.Up(x);
            K.AddChannelBias(n, c, s, d.Up(bias), y);
            Assert.That(Down(y), Is.EqualTo(expected), $"bias add ({n}, {c}, {s})");
            var sum = d.Out(c);
            K.ChannelSum(n, c, s, d.Up(x), sum);
            AssertClose(Tensor.FromArray(x, n, c, s).Sum([0, 2]).ToArray(), Down(sum), $"channel sum ({n}, {c}, {s})");
        }
    }

    [Test]
    public void Ema_update_matches_the_formula_of_the_cpu_ema()
    {
        using var d = new GpuBuffers();
        var shadow = Values(257, 92); var current = Values(257, 93);
        float decay = 0.999f, keep = decay, take = 1f - decay;
        var expected = shadow.Zip(current, (s, c) => keep * s + take * c).ToArray();
        var sv = d.Up(shadow);
        K.EmaUpdate(decay, d.Up(current), sv);
        Assert.That(Down(sv), Is.EqualTo(expected));
    }

    [Test]
    public void Gradient_clipping_on_the_device_matches_ClipGradNorm([Values(0.5, 1e6)] double maxNorm)
    {
        int[] sizes = [1, 7, 33, 5000];
        var grads = sizes.Select((n, i) => Values(n, 94 + (ulong)i)).ToArray();
        var parameters = grads.Select(g => Tensor.FromArray(new float[g.Length], g.Length)).ToArray();
        for (int i = 0; i < grads.Length; i++) parameters[i].Grad = Tensor.FromArray(grads[i], grads[i].Length);
        double norm = GradClip.ClipGradNorm(parameters, maxNorm);

        using var d = new GpuBuffers();
        var acc = K.Accelerator;
        int total = sizes.Sum(n => GpuKernels.SquaredNormGroups(n));
        using var partials = acc.Allocate1D<double>(total);
        using var result = acc.Allocate1D<double>(2);
        var views = grads.Select(d.Up).ToArray();
        int at = 0;
        foreach (var v in views)
        {
            int groups = GpuKernels.SquaredNormGroups(v.Length);
            K.SquaredNormPartials(v, partials.View.SubView(at, groups));
            at += groups;
        }
        K.ClipFactor(partials.View, maxNorm, result.View);
        foreach (var v in views) K.ScaleByClipFactor(v, result.View);
        var r = new double[2];
        result.View.CopyToCPU(acc.DefaultStream, r);
        acc.DefaultStream.Synchronize();
        Assert.That(r[0], Is.EqualTo(norm).Within(1e-9 * norm), "norm");
        if (maxNorm < norm) Assert.That(r[1], Is.LessThan(1.0), "factor");
        else Assert.That(r[1], Is.EqualTo(1.0), "factor");
        for (int i = 0; i < views.Length; i++)
            AssertClose(parameters[i].Grad!.ToArray(), Down(views[i]), $"clipped gradient {i} (max norm {maxNorm})", 1e-6f);
    }
}
