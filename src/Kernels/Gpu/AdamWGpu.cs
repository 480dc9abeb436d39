using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>The per-step constants of an AdamW update, computed in double on the host (see <see cref="Cpu.AdamW"/>).</summary>
public struct AdamWArgs
{
    public float Decay, Weight, Beta2, OneMinusBeta2, StepSize, Bc2Sqrt, Eps;
    public int FromEnd;
}

/// <summary>The fused AdamW update, one thread per element, single precision (the formula of <see cref="Cpu.AdamW"/>).</summary>
static class AdamWGpu
{
    public static void Kernel(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, AdamWArgs k)
    {
        float gi = g[i], mi = m[i];
        mi = k.FromEnd != 0 ? gi - (gi - mi) * (1 - k.Weight) : mi + k.Weight * (gi - mi);
        float vi = v[i] * k.Beta2 + k.OneMinusBeta2 * gi * gi;
        p[i] = p[i] * k.Decay - k.StepSize * (mi / (MathF.Sqrt(vi) / k.Bc2Sqrt + k.Eps));
        m[i] = mi; v[i] = vi;
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamWArgs>? adamW;

    /// <summary>One AdamW step in place over equal-length views (PyTorch's torch.optim.AdamW, <paramref name="step"/> 1-based).</summary>
    public void AdamW(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v,
        double lr, double beta1, double beta2, double eps, double weightDecay, int step)
    {
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), $"AdamW: step is 1-based, got {step}");
        if (param.Length != grad.Length || m.Length != grad.Length || v.Length != grad.Length)
            throw new ArgumentException($"AdamW: param ({param.Length}), grad ({grad.Length}), m ({m.Length}) and v ({v.Length}) must have the same length");
        if (grad.Length == 0) return;
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        var k = new AdamWArgs
        {
            Decay = (float)(1 - lr * weightDecay), Weight = (float)(1 - beta1), FromEnd = 1 - beta1 >= 0.5 ? 1 : 0,
            Beta2 = (float)beta2, OneMinusBeta2 = (float)(1 - beta2), StepSize = (float)(lr / bc1), Bc2Sqrt = (float)Math.Sqrt(bc2), Eps = (float)eps,
        };
        adamW ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamWArgs>(AdamWGpu.Kernel);
        adamW(Stream, (int)grad.Length, param, grad, m, v, k);
    }
}
