using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Batch normalisation over (N, C, S) (the contract of <see cref="Cpu.Norm"/>'s batch kernels): channel c is
/// normalised over its N·S values. Statistics and the backward sums use one group of 256 threads per channel with a
/// fixed shared-memory tree (deterministic, no atomics); the forward is one thread per element. All arithmetic is
/// float (the CPU op forms rstd and the running update in double: they agree to an ulp or two), so the kernels also
/// run on devices without double precision.
/// </summary>
static class BatchNormGpu
{
    const int Threads = GpuKernels.GroupSize;

    static int At(int e, int ch, int c, int s) => (e / s * c + ch) * s + e % s;

    /// <summary>mean[c] and the biased variance[c] (two passes: mean, then the squared deviations).</summary>
    public static void StatsKernel(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance, int n, int c, int s)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, ch = Grid.IdxX, count = n * s;
        float sum = 0;
        for (int e = t; e < count; e += Threads) sum += x[At(e, ch, c, s)];
        float m = GroupReduce.Sum(partial, t, sum) / count;
        float q = 0;
        for (int e = t; e < count; e += Threads) { float d = x[At(e, ch, c, s)] - m; q += d * d; }
        float v = GroupReduce.Sum(partial, t, q) / count;
        if (t == 0) { mean[ch] = m; variance[ch] = v; }
    }

    /// <summary>
    /// Turns the variance held in <paramref name="rstd"/> into 1/√(var + eps) and, with <paramref name="hasRunning"/>,
    /// updates the running buffers as the CPU op does: running = (1 − momentum)·running + momentum·batch (variance unbiased).
    /// </summary>
    public static void TrainFinishKernel(Index1D ch, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> runningMean,
        ArrayView<float> runningVar, int hasRunning, float momentum, float eps, int count)
    {
        float variance = rstd[ch];
        if (hasRunning != 0)
        {
            runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mean[ch];
            runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * variance * ((float)count / (count - 1));
        }
        rstd[ch] = 1f / MathF.Sqrt(variance + eps);
    }

    /// <summary>Evaluation statistics: mean = running mean, rstd = 1/√(running var + eps).</summary>
    public static void EvalStatsKernel(Index1D ch, ArrayView<float> runningMean, ArrayView<float> runningVar, ArrayView<float> mean,
        ArrayView<float> rstd, float eps)
    {
        mean[ch] = runningMean[ch];
        rstd[ch] = 1f / MathF.Sqrt(runningVar[ch] + eps);
    }

    public static void ForwardKernel(Index1D i, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> w,
        ArrayView<float> bias, ArrayView<float> y, int c, int s, int hasWeight, int hasBias)
    {
        int ch = i / s % c;
        float v = (x[i] - mean[ch]) * rstd[ch];
        if (hasWeight != 0) v *= w[ch];
        if (hasBias != 0) v += bias[ch];
        y[i] = v;
    }

    /// <summary>
    /// One group per channel: Σg and Σg·x̂ by a tree, then dweight = Σg·x̂, dbias = Σg and, over the channel again,
    /// dx = rstd·w·(g − mean(g) − x̂·mean(g·x̂)) in training or rstd·w·g in evaluation. Flags say which outputs to write.
    /// </summary>
    public static void BackwardKernel(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> w,
        ArrayView<float> dy, ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> db, Int8 args)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int n = args.V0, c = args.V1, s = args.V2, training = args.V3, hasWeight = args.V4, wantDx = args.V5, wantW = args.V6, wantB = args.V7;
        int t = Group.IdxX, ch = Grid.IdxX, count = n * s;
        float m = mean[ch], rs = rstd[ch], sumG = 0, sumGX = 0;
        for (int e = t; e < count; e += Threads)
        {
            int i = At(e, ch, c, s);
            float g = dy[i];
            sumG += g; sumGX += g * (x[i] - m) * rs;
        }
        float totalG = GroupReduce.Sum(partial, t, sumG);
        float totalGX = GroupReduce.Sum(partial, t, sumGX);
        if (t == 0)
        {
            if (wantW != 0) dw[ch] = totalGX;
            if (wantB != 0) db[ch] = totalG;
        }
        if (wantDx == 0) return;
        float meanG = training != 0 ? totalG / count : 0f, meanGX = training != 0 ? totalGX / count : 0f;
        float scale = rs * (hasWeight != 0 ? w[ch] : 1f);
        for (int e = t; e < count; e += Threads)
        {
            int i = At(e, ch, c, s);
            dx[i] = scale * (dy[i] - meanG - (x[i] - m) * rs * meanGX);
        }
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? batchNormStats;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, int>? batchNormTrainFinish;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>? batchNormEvalStats;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>? batchNormForward;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Int8>? batchNormBackward;

    /// <summary>Per channel of x (N, C, S): mean[c] and the biased variance[c] over its N·S values (n·s ≥ 1).</summary>
    public void BatchNormStats(int n, int c, int s, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> variance)
    {
        if (c == 0) return;
        batchNormStats ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BatchNormGpu.StatsKernel);
        batchNormStats(Stream, new KernelConfig(c, GroupSize), x, mean, variance, n, c, s);
    }

    /// <summary>
    /// Training statistics of x (N, C, S) in one call: mean[c], rstd[c] = 1/√(var + eps) and, when the running views
    /// are not empty, running = (1 − momentum)·running + momentum·batch with the unbiased variance (needs n·s ≥ 2).
    /// </summary>
    public void BatchNormTrainStats(int n, int c, int s, float momentum, float eps, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> runningMean, ArrayView<float> runningVar)
    {
        if (c == 0) return;
        BatchNormStats(n, c, s, x, mean, rstd);                            // the variance, turned into rstd below
        batchNormTrainFinish ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float, int>(BatchNormGpu.TrainFinishKernel);
        bool running = runningMean.Length > 0 && runningVar.Length > 0;
        batchNormTrainFinish(Stream, c, mean, rstd, Or(runningMean, mean), Or(runningVar, mean), running ? 1 : 0, momentum, eps, n * s);
    }

    /// <summary>Evaluation statistics: mean[c] = runningMean[c], rstd[c] = 1/√(runningVar[c] + eps).</summary>
    public void BatchNormEvalStats(int c, float eps, ArrayView<float> runningMean, ArrayView<float> runningVar, ArrayView<float> mean, ArrayView<float> rstd)
    {
        if (c == 0) return;
        batchNormEvalStats ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(BatchNormGpu.EvalStatsKernel);
        batchNormEvalStats(Stream, c, runningMean, runningVar, mean, rstd, eps);
    }

    /// <summary>y = (x − mean[c])·rstd[c]·weight[c] + bias[c] over (N, C, S); empty weight/bias views mean 1 and 0.</summary>
    public void BatchNormForward(int n, int c, int s, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y)
    {
        long total = (long)n * c * s;
        if (total == 0) return;
        batchNormForward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(BatchNormGpu.ForwardKernel);
        batchNormForward(Stream, (int)total, x, mean, rstd, Or(weight, x), Or(bias, x), y, c, s, weight.Length > 0 ? 1 : 0, bias.Length > 0 ? 1 : 0);
    }

    /// <summary>
    /// Batch-norm backward (the contract of <see cref="Cpu.BatchNormBackwardKernel"/>): overwrites dx, dweight = Σ g·x̂ and
    /// dbias = Σ g; an empty output view is not computed. <paramref name="training"/> adds the statistics' own gradient.
    /// </summary>
    public void BatchNormBackward(int n, int c, int s, bool training, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> weight, ArrayView<float> dy, ArrayView<float> dx, ArrayView<float> dweight, ArrayView<float> dbias)
    {
        if (c == 0 || (dx.Length == 0 && dweight.Length == 0 && dbias.Length == 0)) return;
        batchNormBackward ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Int8>(BatchNormGpu.BackwardKernel);
        var args = new Int8
        {
            V0 = n, V1 = c, V2 = s, V3 = training ? 1 : 0, V4 = weight.Length > 0 ? 1 : 0,
            V5 = dx.Length > 0 ? 1 : 0, V6 = dweight.Length > 0 ? 1 : 0, V7 = dbias.Length > 0 ? 1 : 0,
        };
        batchNormBackward(Stream, new KernelConfig(c, GroupSize), x, mean, rstd, Or(weight, x), dy, Or(dx, x), Or(dweight, x), Or(dbias, x), args);
    }
}
