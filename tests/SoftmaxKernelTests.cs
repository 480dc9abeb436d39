using Kernels.Cpu;
using static Engine.Tests.NormKernelTests;

namespace Engine.Tests;

/// <summary>Every softmax and log-softmax kernel variant against its double-precision reference, on odd sizes.</summary>
public sealed class SoftmaxKernelTests
{
    static readonly (string Name, IReadOnlyList<Variant<SoftmaxForwardKernel>> Forward, IReadOnlyList<Variant<SoftmaxBackwardKernel>> Backward)[] Kinds =
    [
        ("softmax", KernelRegistry.SoftmaxForward, KernelRegistry.SoftmaxBackward),
        ("log-softmax", KernelRegistry.LogSoftmaxForward, KernelRegistry.LogSoftmaxBackward),
    ];

    static void Check(int outer, int len, int inner)
    {
        int numel = outer * len * inner;
        var x = Normal(numel, 1, std: 3f); var dy = Normal(numel, 2);
        foreach (var (name, forward, backward) in Kinds)
        {
            var reference = forward.Single(v => v.IsReference);
            var y = new float[numel];
            reference.Run(outer, len, inner, x, y);
            foreach (var v in forward.Where(v => !v.IsReference))
            {
                var yv = Enumerable.Repeat(float.NaN, numel).ToArray();
                v.Run(outer, len, inner, x, yv);
                AssertClose(y, yv, 1e-5f, $"{name} {v.Name} forward");
            }
            var dx = new float[numel];
            backward.Single(v => v.IsReference).Run(outer, len, inner, y, dy, dx);
            foreach (var v in backward.Where(v => !v.IsReference))
            {
                var dxv = Enumerable.Repeat(float.NaN, numel).ToArray();
                v.Run(outer, len, inner, y, dy, dxv);
                AssertClose(dx, dxv, 1e-5f, $"{name} {v.Name} backward");
            }
        }
    }

    /// <summary>The last axis (inner = 1, contiguous lines).</summary>
    [Test, Combinatorial]
    public void Variants_match_reference_along_the_last_axis([Values(1, 7, 33)] int rows, [Values(1, 7, 33, 257, 784)] int len) =>
        Check(rows, len, 1);

    /// <summary>An inner axis: strided lines, in blocks of 16 neighbours and one by one for the rest (17 = 16 + 1, 33 = 2·16 + 1).</summary>
    [Test, Combinatorial]
    public void Variants_match_reference_along_an_inner_axis([Values(1, 7)] int outer, [Values(1, 7, 33, 257)] int len, [Values(3, 17, 33)] int inner) =>
        Check(outer, len, inner);

    [Test]
    public void Variants_match_reference_when_threaded()
    {
        Check(200, 784, 1);
        Check(3, 257, 400);
    }

    [Test]
    public void Large_and_masked_logits_stay_finite()
    {
        float[] x = [1000f, 1001f, 1002f, -1000f, float.NegativeInfinity, 0f, 0f, 0f];
        foreach (var v in KernelRegistry.SoftmaxForward)
        {
            var y = new float[8];
            v.Run(2, 4, 1, x, y);
            Assert.That(y.All(float.IsFinite), Is.True, v.Name);
            Assert.That(y[3], Is.EqualTo(0f), v.Name);
            Assert.That(y[4], Is.EqualTo(0f), v.Name);
            Assert.That(y[5], Is.EqualTo(1f / 3).Within(1e-6), v.Name);
        }
        foreach (var v in KernelRegistry.LogSoftmaxForward)
        {
            var y = new float[8];
            v.Run(2, 4, 1, x, y);
            Assert.That(y[2], Is.EqualTo(-Math.Log(1 + Math.Exp(-1) + Math.Exp(-2))).Within(1e-5), v.Name);
            Assert.That(y[4], Is.EqualTo(float.NegativeInfinity), v.Name);
        }
    }

    [Test]
    public void Wrong_sizes_are_rejected()
    {
        foreach (var v in KernelRegistry.SoftmaxForward.Concat(KernelRegistry.LogSoftmaxForward))
        {
            Assert.Throws<ArgumentException>(() => v.Run(2, 3, 4, new float[23], new float[24]), v.Name);
            Assert.Throws<ArgumentException>(() => v.Run(2, 0, 4, new float[24], new float[24]), v.Name);
        }
        foreach (var v in KernelRegistry.SoftmaxBackward.Concat(KernelRegistry.LogSoftmaxBackward))
            Assert.Throws<ArgumentException>(() => v.Run(2, 3, 4, new float[24], new float[24], new float[20]), v.Name);
    }
}
