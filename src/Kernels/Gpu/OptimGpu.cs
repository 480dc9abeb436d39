using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// The training-loop steps around the optimizer: the EMA of the weights and global gradient-norm clipping
/// (PyTorch's clip_grad_norm_). The norm is summed in double in two deterministic stages: each parameter's squares
/// into a few partial sums (one group each, fixed trees), then all partials in order by one group, which also forms
/// the clip factor on the device, so the gradients are scaled without a round trip to the host.
/// </summary>
static class OptimGpu
{
    const int Threads = GpuKernels.GroupSize;

    /// <summary>shadow = keep·shadow + take·current.</summary>
    public static void EmaKernel(Index1D i, ArrayView<float> current, ArrayView<float> shadow, float keep, float take) =>
        shadow[i] = keep * shadow[i] + take * current[i];

    static double GroupSumDouble(ArrayView<double> partial, int t, double v)
    {
        partial[t] = v;
        Group.Barrier();
        for (int half = Threads / 2; half > 0; half >>= 1)
        {
            if (t < half) partial[t] += partial[t + half];
            Group.Barrier();
        }
        double s = partial[0];
        Group.Barrier();
        return s;
    }

    /// <summary>partials[g] = Σ x² over group g's share of x (groups take interleaved stretches of 256 values).</summary>
    public static void SquaresKernel(ArrayView<float> x, ArrayView<double> partials, int n)
    {
        var partial = SharedMemory.Allocate<double>(Threads);
        int t = Group.IdxX, g = Grid.IdxX, step = Grid.DimX * Threads;
        double s = 0;
        for (int i = g * Threads + t; i < n; i += step) { double v = x[i]; s += v * v; }
        double total = GroupSumDouble(partial, t, s);
        if (t == 0) partials[g] = total;
    }

    /// <summary>
    /// One group: norm = √Σ partials; result[0] = the norm, result[1] = the factor maxNorm / (norm + 1e-6) when the norm is
    /// finite and above maxNorm, else 1.
    /// </summary>
    public static void ClipFactorKernel(ArrayView<double> partials, ArrayView<double> result, int count, double maxNorm)
    {
        var partial = SharedMemory.Allocate<double>(Threads);
        int t = Group.IdxX;
        double s = 0;
        for (int i = t; i < count; i += Threads) s += partials[i];
        double norm = Math.Sqrt(GroupSumDouble(partial, t, s));
        if (t == 0)
        {
            result[0] = norm;
            result[1] = !double.IsNaN(norm) && !double.IsInfinity(norm) && norm > maxNorm ? (float)(maxNorm / (norm + 1e-6)) : 1.0;
        }
    }

    public static void ScaleKernel(Index1D i, ArrayView<float> x, ArrayView<double> result) => x[i] *= (float)result[1];
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, float, float>? ema;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<double>, int>? squares;
    Action<AcceleratorStream, KernelConfig, ArrayView<double>, ArrayView<double>, int, double>? clipFactor;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<double>>? clipScale;

    /// <summary>shadow = decay·shadow + (1 − decay)·current, elementwise (an EMA update of one weight tensor).</summary>
    public void EmaUpdate(float decay, ArrayView<float> current, ArrayView<float> shadow)
    {
        if (shadow.Length == 0) return;
        ema ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, float, float>(OptimGpu.EmaKernel);
        ema(Stream, (int)shadow.Length, current, shadow, decay, 1f - decay);
    }

    /// <summary>The number of partial sums <see cref="SquaredNormPartials"/> writes for a tensor of <paramref name="n"/> values (at least 1, at most 64).</summary>
    public static int SquaredNormGroups(long n) => (int)Math.Clamp((n + 16L * GroupSize - 1) / (16L * GroupSize), 1, 64);

    /// <summary>Writes Σ x² of x, in double, as <see cref="SquaredNormGroups"/>(x.Length) partial sums into <paramref name="partials"/>.</summary>
    public void SquaredNormPartials(ArrayView<float> x, ArrayView<double> partials)
    {
        int groups = SquaredNormGroups(x.Length);
        squares ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<double>, int>(OptimGpu.SquaresKernel);
        squares(Stream, new KernelConfig(groups, GroupSize), x, partials.SubView(0, groups), (int)x.Length);
    }

    /// <summary>
    /// From all parameters' partial sums (each written by <see cref="SquaredNormPartials"/> into its own stretch of
    /// <paramref name="partials"/>): result[0] = the global L2 norm, result[1] = the clip factor (maxNorm / (norm + 1e-6)
    /// when the norm is finite and above maxNorm, else 1). result holds two doubles; reading result[0] gives the norm.
    /// </summary>
    public void ClipFactor(ArrayView<double> partials, double maxNorm, ArrayView<double> result)
    {
        clipFactor ??= Accelerator.LoadKernel<ArrayView<double>, ArrayView<double>, int, double>(OptimGpu.ClipFactorKernel);
        clipFactor(Stream, new KernelConfig(1, GroupSize), partials, result, (int)partials.Length, maxNorm);
    }

    /// <summary>x *= (float)result[1], the factor of <see cref="ClipFactor"/> (1 leaves x unchanged).</summary>
    public void ScaleByClipFactor(ArrayView<float> x, ArrayView<double> result)
    {
        if (x.Length == 0) return;
        clipScale ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<double>>(OptimGpu.ScaleKernel);
        clipScale(Stream, (int)x.Length, x, result);
    }
}
