using Kernels.Cpu;
using static Engine.Tests.NormKernelTests;

namespace Engine.Tests;

/// <summary>The fused AdamW update beyond the declared cases (<see cref="KernelCaseTests"/>): several steps in a row, the closed-form first step, bad input.</summary>
public sealed class AdamWKernelTests
{
    /// <summary>Runs <paramref name="steps"/> updates with fresh gradients through the reference and a variant side by side.</summary>
    static void Check(int n, double lr, double beta1, double beta2, double eps, double weightDecay, int steps = 5)
    {
        foreach (var v in KernelRegistry.AdamW.Where(v => !v.IsReference))
        {
            var p = Normal(n, 1); var m = new float[n]; var s = new float[n];
            var pv = (float[])p.Clone(); var mv = new float[n]; var sv = new float[n];
            for (int t = 1; t <= steps; t++)
            {
                var g = Normal(n, 100 + (ulong)t, std: 0.1f * t);
                AdamW.Reference(p, g, m, s, lr, beta1, beta2, eps, weightDecay, t);
                v.Run(pv, g, mv, sv, lr, beta1, beta2, eps, weightDecay, t);
                AssertClose(p, pv, 1e-5f, $"{v.Name} param after step {t}");
                AssertClose(m, mv, 1e-6f, $"{v.Name} m after step {t}");
                AssertClose(s, sv, 1e-6f, $"{v.Name} v after step {t}");
            }
        }
    }

    [Test, Combinatorial]
    public void Variants_match_reference_over_several_steps([Values(1, 7, 33, 257, 784)] int n) =>
        Check(n, 1e-3, 0.9, 0.999, 1e-8, 0.01);

    /// <summary>
    /// On the first step the bias corrections cancel the (1 − β) factors, so each parameter moves by −lr·g/(|g| + ε)
    /// after decaying by (1 − lr·λ): a closed form independent of the implementation.
    /// </summary>
    [Test]
    public void First_step_moves_each_parameter_by_lr_against_the_sign_of_its_gradient()
    {
        float[] g = [0.5f, -2f, 1e-3f, 0f];
        foreach (var v in KernelRegistry.AdamW)
        {
            float[] p = [1f, 1f, -1f, 2f];
            var m = new float[4]; var s = new float[4];
            v.Run(p, g, m, s, 0.1, 0.9, 0.999, 1e-8, 0.5, 1);
            for (int i = 0; i < 4; i++)
            {
                double expected = new[] { 1.0, 1, -1, 2 }[i] * (1 - 0.1 * 0.5) - 0.1 * g[i] / (Math.Abs(g[i]) + 1e-8);
                Assert.That(p[i], Is.EqualTo(expected).Within(1e-5), $"{v.Name} param {i}");
                Assert.That(m[i], Is.EqualTo(0.1 * g[i]).Within(1e-7), $"{v.Name} m {i}");
                Assert.That(s[i], Is.EqualTo(0.001 * g[i] * g[i]).Within(1e-9), $"{v.Name} v {i}");
            }
        }
    }

    [Test]
    public void Mismatched_buffers_and_step_zero_are_rejected()
    {
        foreach (var v in KernelRegistry.AdamW)
        {
            Assert.Throws<ArgumentException>(() => v.Run(new float[4], new float[4], new float[3], new float[4], 1e-3, 0.9, 0.999, 1e-8, 0, 1), v.Name);
            Assert.Throws<ArgumentOutOfRangeException>(() => v.Run(new float[4], new float[4], new float[4], new float[4], 1e-3, 0.9, 0.999, 1e-8, 0, 0), v.Name);
        }
    }
}
