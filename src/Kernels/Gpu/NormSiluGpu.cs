using ILGPU;
using ILGPU.Runtime;
using Kernels.Cpu;

namespace Kernels.Gpu;

/// <summary>
/// Row norm followed by SiLU as one op (GroupNorm + SiLU in the UNet's blocks; the contract of
/// <see cref="Norm.RowForwardSiluReference"/>). The forward activates each value as it is normalised; the backward
/// recomputes the activation's input z = x̂·w + b from x and the saved mean and rstd and forms dz = dy·silu′(z) on the
/// fly, so neither z nor dz is ever stored. Same layout as <see cref="NormGpu"/>: one group per row for the
/// forward and dx, one group per channel for dweight and dbias (fixed trees, no atomics).
/// </summary>
static class NormSiluGpu
{
    const int Threads = GpuKernels.GroupSize;

    static int Channel(RowNormArgs p, int r, int j) => r % p.Groups * p.PerRow + j / p.Spatial;

    /// <summary>dz = dy·silu′(z) at element j of row r.</summary>
    static float Dz(RowNormArgs p, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> dy, int r, int j, float m, float rs, out float xhat)
    {
        int c = Channel(p, r, j), i = r * p.Len + j;
        xhat = (x[i] - m) * rs;
        float z = xhat;
        if (p.HasWeight != 0) z *= w[c];
        if (p.HasBias != 0) z += bias[c];
        return dy[i] * SiluOp.Derivative(z, 0f);
    }

    public static void ForwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, RowNormArgs p)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, r = Grid.IdxX, b = r * p.Len;
        float s = 0;
        if (p.Center != 0)
            for (int j = t; j < p.Len; j += Threads) s += x[b + j];
        float m = GroupReduce.Sum(partial, t, s) / p.Len;
        float q = 0;
        for (int j = t; j < p.Len; j += Threads) { float d = x[b + j] - m; q += d * d; }
        float rs = 1f / MathF.Sqrt(GroupReduce.Sum(partial, t, q) / p.Len + p.Eps);
        for (int j = t; j < p.Len; j += Threads)
        {
            int c = Channel(p, r, j);
            float v = (x[b + j] - m) * rs;
            if (p.HasWeight != 0) v *= w[c];
            if (p.HasBias != 0) v += bias[c];
            y[b + j] = SiluOp.Invoke(v);
        }
        if (t == 0) { mean[r] = m; rstd[r] = rs; }
    }

    public static void InputGradKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dy, ArrayView<float> dx, RowNormArgs p)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, r = Grid.IdxX, b = r * p.Len;
        float m = mean[r], rs = rstd[r], sumD = 0, sumDX = 0;
        for (int j = t; j < p.Len; j += Threads)
        {
            float d = Dz(p, x, w, bias, dy, r, j, m, rs, out float xhat) * (p.HasWeight != 0 ? w[Channel(p, r, j)] : 1f);
            sumD += d; sumDX += d * xhat;
        }
        float meanD = p.Center != 0 ? GroupReduce.Sum(partial, t, sumD) / p.Len : 0f;
        float meanDX = GroupReduce.Sum(partial, t, sumDX) / p.Len;
        for (int j = t; j < p.Len; j += Threads)
        {
            float d = Dz(p, x, w, bias, dy, r, j, m, rs, out float xhat) * (p.HasWeight != 0 ? w[Channel(p, r, j)] : 1f);
            dx[b + j] = rs * (d - meanD - xhat * meanDX);
        }
    }

    /// <summary>One group per channel c: dweight[c] = Σ dz·x̂, dbias[c] = Σ dz over the channel's elements in every row of its group.</summary>
    public static void ParamGradKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dy, ArrayView<float> dw, ArrayView<float> db, RowNormArgs p, int wantWeight, int wantBias)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, c = Grid.IdxX;
        int group = c / p.PerRow, local = c % p.PerRow, perGroup = p.Rows / p.Groups, items = perGroup * p.Spatial;
        float sw = 0, sb = 0;
        for (int e = t; e < items; e += Threads)
        {
            int r = e / p.Spatial * p.Groups + group;
            int j = local * p.Spatial + e % p.Spatial;
            float d = Dz(p, x, w, bias, dy, r, j, mean[r], rstd[r], out float xhat);
            sw += d * xhat;
            sb += d;
        }
        float totalW = GroupReduce.Sum(partial, t, sw);
        float totalB = GroupReduce.Sum(partial, t, sb);
        if (t == 0)
        {
            if (wantWeight != 0) dw[c] = totalW;
            if (wantBias != 0) db[c] = totalB;
        }
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs>? normSiluForward;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs>? normSiluInputGrad;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs, int, int>? normSiluParamGrad;

    /// <summary>
    /// Row norm then SiLU (the contract of <see cref="Norm.RowForwardSiluReference"/>): y = silu(x̂·w + b); writes y and
    /// each row's mean and rstd. Empty weight/bias views mean 1 and 0. GroupNorm of (N, C, S) with G groups is
    /// rows = N·G, len = C/G·S, spatial = S.
    /// </summary>
    public void RowNormSiluForward(int rows, int len, int groups, int spatial, float eps, bool center, ArrayView<float> x,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd)
    {
        if (rows == 0) return;
        normSiluForward ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs>(NormSiluGpu.ForwardKernel);
        var p = NormArgs(rows, len, groups, spatial, eps, center, weight.Length > 0, bias.Length > 0);
        normSiluForward(Stream, new KernelConfig(rows, GroupSize), x, Or(weight, x), Or(bias, x), y, mean, rstd, p);
    }

    /// <summary>
    /// Backward of <see cref="RowNormSiluForward"/> from x, weight, bias and the saved mean and rstd: overwrites dx,
    /// dweight and dbias (an empty view is not computed), as <see cref="Norm.RowBackwardSiluReference"/>.
    /// </summary>
    public void RowNormSiluBackward(int rows, int len, int groups, int spatial, bool center, ArrayView<float> x, ArrayView<float> weight,
        ArrayView<float> bias, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dy, ArrayView<float> dx, ArrayView<float> dweight, ArrayView<float> dbias)
    {
        if (rows == 0) return;
        var p = NormArgs(rows, len, groups, spatial, 0f, center, weight.Length > 0, bias.Length > 0);
        if (dx.Length > 0)
        {
            normSiluInputGrad ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs>(NormSiluGpu.InputGradKernel);
            normSiluInputGrad(Stream, new KernelConfig(rows, GroupSize), x, Or(weight, x), Or(bias, x), mean, rstd, dy, dx, p);
        }
        if (dweight.Length > 0 || dbias.Length > 0)
        {
            normSiluParamGrad ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormArgs, int, int>(NormSiluGpu.ParamGradKernel);
            normSiluParamGrad(Stream, new KernelConfig(groups * p.PerRow, GroupSize), x, Or(weight, x), Or(bias, x), mean, rstd, dy, Or(dweight, x), Or(dbias, x), p,
                dweight.Length > 0 ? 1 : 0, dbias.Length > 0 ? 1 : 0);
        }
    }
}
