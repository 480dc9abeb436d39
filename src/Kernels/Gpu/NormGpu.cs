using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>Sizes of a row normalisation (the contract of <see cref="Cpu.Norm"/>): rows of len values, channel of element j of row r = (r mod groups)·perRow + j / spatial.</summary>
public struct RowNormArgs
{
    public int Rows, Len, Groups, Spatial, PerRow, Center, HasWeight, HasBias;
    public float Eps;
}

/// <summary>
/// Group, layer and RMS normalisation forward and backward. One group of 256 threads per row: shared-memory tree
/// sums give the mean, the variance of the deviations (two passes, as the reference) and, in the backward, Σ dx̂ and
/// Σ dx̂·x̂. The weight and bias gradients are a second kernel with one group per channel, summing g·x̂ and g over
/// the channel's elements in every row of its group, so no atomics are needed.
/// </summary>
static class NormGpu
{
    const int Threads = GpuKernels.GroupSize;

    static float GroupSum(ArrayView<float> partial, int t, float v)
    {
        partial[t] = v;
        Group.Barrier();
        for (int half = Threads / 2; half > 0; half >>= 1)
        {
            if (t < half) partial[t] += partial[t + half];
            Group.Barrier();
        }
        float s = partial[0];
        Group.Barrier();
        return s;
    }

    static int Channel(RowNormArgs p, int r, int j) => r % p.Groups * p.PerRow + j / p.Spatial;

    public static void ForwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, RowNormArgs p)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, r = Grid.IdxX, b = r * p.Len;
        float s = 0;
        if (p.Center != 0)
            for (int j = t; j < p.Len; j += Threads) s += x[b + j];
        float m = GroupSum(partial, t, s) / p.Len;
        float q = 0;
        for (int j = t; j < p.Len; j += Threads) { float d = x[b + j] - m; q += d * d; }
        float rs = 1f / MathF.Sqrt(GroupSum(partial, t, q) / p.Len + p.Eps);
        for (int j = t; j < p.Len; j += Threads)
        {
            int c = Channel(p, r, j);
            float v = (x[b + j] - m) * rs;
            if (p.HasWeight != 0) v *= w[c];
            if (p.HasBias != 0) v += bias[c];
            y[b + j] = v;
        }
        if (t == 0) { mean[r] = m; rstd[r] = rs; }
    }

    public static void InputGradKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dy, ArrayView<float> dx, RowNormArgs p)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, r = Grid.IdxX, b = r * p.Len;
        float m = mean[r], rs = rstd[r], sumD = 0, sumDX = 0;
        for (int j = t; j < p.Len; j += Threads)
        {
            float d = dy[b + j] * (p.HasWeight != 0 ? w[Channel(p, r, j)] : 1f);
            sumD += d; sumDX += d * (x[b + j] - m) * rs;
        }
        float meanD = p.Center != 0 ? GroupSum(partial, t, sumD) / p.Len : 0f;
        float meanDX = GroupSum(partial, t, sumDX) / p.Len;
        for (int j = t; j < p.Len; j += Threads)
        {
            float d = dy[b + j] * (p.HasWeight != 0 ? w[Channel(p, r, j)] : 1f);
            dx[b + j] = rs * (d - meanD - (x[b + j] - m) * rs * meanDX);
        }
    }

    /// <summary>One group per channel c: dweight[c] = Σ g·x̂, dbias[c] = Σ g over the rows r ≡ c / perRow (mod groups) and the channel's spatial span.</summary>
    public static void ParamGradKernel(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dy,
        ArrayView<float> dw, ArrayView<float> db, RowNormArgs p, int wantWeight, int wantBias)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, c = Grid.IdxX;
        int group = c / p.PerRow, local = c % p.PerRow, perGroup = p.Rows / p.Groups, items = perGroup * p.Spatial;
        float sw = 0, sb = 0;
        for (int e = t; e < items; e += Threads)
        {
            int r = e / p.Spatial * p.Groups + group;
            int i = r * p.Len + local * p.Spatial + e % p.Spatial;
            float g = dy[i];
            sw += g * (x[i] - mean[r]) * rstd[r];
            sb += g;
        }
        float totalW = GroupSum(partial, t, sw);
        float totalB = GroupSum(partial, t, sb);
        if (t == 0)
        {
            if (wantWeight != 0) dw[c] = totalW;
            if (wantBias != 0) db[c] = totalB;
        }
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs>? normForward;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs>? normInputGrad;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs, int, int>? normParamGrad;

    static RowNormArgs NormArgs(int rows, int len, int groups, int spatial, float eps, bool center, bool hasWeight, bool hasBias) => new()
    {
        Rows = rows, Len = len, Groups = groups, Spatial = spatial, PerRow = len / spatial, Center = center ? 1 : 0,
        HasWeight = hasWeight ? 1 : 0, HasBias = hasBias ? 1 : 0, Eps = eps,
    };

    /// <summary>Row-norm forward (see <see cref="Cpu.Norm"/>); empty weight/bias views mean 1 and 0. Writes y, mean and rstd.</summary>
    public void RowNormForward(int rows, int len, int groups, int spatial, float eps, bool center, ArrayView<float> x,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd)
    {
        if (rows == 0) return;
        normForward ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs>(NormGpu.ForwardKernel);
        var p = NormArgs(rows, len, groups, spatial, eps, center, weight.Length > 0, bias.Length > 0);
        normForward(Stream, new KernelConfig(rows, GroupSize), x, Or(weight, x), Or(bias, x), y, mean, rstd, p);
    }

    /// <summary>Row-norm backward: overwrites dx, dweight and dbias; an empty view is not computed.</summary>
    public void RowNormBackward(int rows, int len, int groups, int spatial, bool center, ArrayView<float> x, ArrayView<float> weight,
        ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dy, ArrayView<float> dx, ArrayView<float> dweight, ArrayView<float> dbias)
    {
        if (rows == 0) return;
        var p = NormArgs(rows, len, groups, spatial, 0f, center, weight.Length > 0, false);
        if (dx.Length > 0)
        {
            normInputGrad ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs>(NormGpu.InputGradKernel);
            normInputGrad(Stream, new KernelConfig(rows, GroupSize), x, Or(weight, x), mean, rstd, dy, dx, p);
        }
        if (dweight.Length > 0 || dbias.Length > 0)
        {
            normParamGrad ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs, int, int>(NormGpu.ParamGradKernel);
            normParamGrad(Stream, new KernelConfig(groups * p.PerRow, GroupSize), x, mean, rstd, dy, Or(dweight, x), Or(dbias, x), p,
                dweight.Length > 0 ? 1 : 0, dbias.Length > 0 ? 1 : 0);
        }
    }

    /// <summary>A stand-in for an absent (empty) view: kernels never read it, but a launch needs a valid view.</summary>
    static ArrayView<float> Or(ArrayView<float> view, ArrayView<float> fallback) => view.Length > 0 ? view : fallback;
}
