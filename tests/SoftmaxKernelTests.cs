using Kernels.Cpu;
using static Engine.Tests.NormKernelTests;

namespace Engine.Tests;

/// <summary>Softmax kernels beyond the declared cases (<see cref="KernelCaseTests"/>): huge and masked logits, bad sizes.</summary>
public sealed class SoftmaxKernelTests
{
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
