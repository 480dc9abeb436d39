using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Per-channel bias of (N, C, S) tensors (S = H·W): adding it in place (a transposed convolution's bias, which its
/// input-gradient GEMM does not add) and its gradient, the sum over N and S per channel (one group per channel,
/// a fixed tree: deterministic, no atomics, no permuted copy).
/// </summary>
static class ChannelGpu
{
    const int Threads = GpuKernels.GroupSize;

    public static void AddBiasKernel(Index1D i, ArrayView<float> bias, ArrayView<float> y, int c, int s) => y[i] += bias[i / s % c];

    public static void SumKernel(ArrayView<float> x, ArrayView<float> y, int n, int c, int s)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, ch = Grid.IdxX, count = n * s;
        float sum = 0;
        for (int e = t; e < count; e += Threads) sum += x[(e / s * c + ch) * s + e % s];
        float total = GroupReduce.Sum(partial, t, sum);
        if (t == 0) y[ch] = total;
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int>? addChannelBias;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>? channelSum;

    /// <summary>y[n, c, j] += bias[c] in place over (N, C, S).</summary>
    public void AddChannelBias(int n, int c, int s, ArrayView<float> bias, ArrayView<float> y)
    {
        long total = (long)n * c * s;
        if (total == 0) return;
        addChannelBias ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(ChannelGpu.AddBiasKernel);
        addChannelBias(Stream, checked((int)total), bias, y, c, s);
    }

    /// <summary>y[c] = Σ_{n, j} x[n, c, j] over (N, C, S): a convolution's bias gradient (overwrites y).</summary>
    public void ChannelSum(int n, int c, int s, ArrayView<float> x, ArrayView<float> y)
    {
        if (c == 0) return;
        channelSum ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int, int, int>(ChannelGpu.SumKernel);
        channelSum(Stream, new KernelConfig(c, GroupSize), x, y, n, c, s);
    }
}
