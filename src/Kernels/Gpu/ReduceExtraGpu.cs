using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Row reductions beyond the sum and max of <see cref="ReduceGpu"/>: log-sum-exp (one group per contiguous row,
/// shifted by the row maximum, fixed trees) and its backward.
/// </summary>
static class ReduceExtraGpu
{
    const int Threads = GpuKernels.GroupSize;

    /// <summary>y[r] = m + log Σ_j exp(x[r, j] − m) with m the row maximum; a row whose maximum is ±∞ gives that maximum.</summary>
    public static void LogSumExpRowsKernel(ArrayView<float> x, ArrayView<float> y, int len)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, row = Grid.IdxX, b = row * len;
        float m = float.NegativeInfinity;
        for (int j = t; j < len; j += Threads)
        {
            float v = x[b + j];
            if (v > m || float.IsNaN(v)) m = v;
        }
        m = GroupReduce.Max(partial, t, m);
        bool finite = !float.IsInfinity(m);
        float s = 0;
        if (finite)
            for (int j = t; j < len; j += Threads) s += MathF.Exp(x[b + j] - m);
        float total = GroupReduce.Sum(partial, t, s);
        if (t == 0) y[row] = finite ? m + MathF.Log(total) : m;
    }

    /// <summary>dx[r, j] = g[r]·exp(x[r, j] − y[r]) (the softmax of the row times its gradient).</summary>
    public static void LogSumExpRowsBackwardKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> g, ArrayView<float> dx, int len)
    {
        int r = i / len;
        dx[i] = g[r] * MathF.Exp(x[i] - y[r]);
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int>? logSumExpRows;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? logSumExpRowsBackward;

    /// <summary>
    /// y[r] = log Σ_j exp(x[r·len + j]) for each of y.Length contiguous rows (len ≥ 1), shifted by the row maximum;
    /// a row of −∞ gives −∞ (not NaN), a row holding +∞ gives +∞, a NaN gives NaN.
    /// </summary>
    public void LogSumExpRows(ArrayView<float> x, ArrayView<float> y, int len)
    {
        if (y.Length == 0) return;
        logSumExpRows ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int>(ReduceExtraGpu.LogSumExpRowsKernel);
        logSumExpRows(Stream, new KernelConfig((int)y.Length, GroupSize), x, y, len);
    }

    /// <summary>dx[r·len + j] = g[r]·exp(x[r·len + j] − y[r]) from the saved y of <see cref="LogSumExpRows"/> (overwrites dx).</summary>
    public void LogSumExpRowsBackward(ArrayView<float> x, ArrayView<float> y, ArrayView<float> g, ArrayView<float> dx, int len)
    {
        long total = y.Length * len;
        if (total == 0) return;
        logSumExpRowsBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ReduceExtraGpu.LogSumExpRowsBackwardKernel);
        logSumExpRowsBackward(Stream, checked((int)total), x, y, g, dx, len);
    }
}
