using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// adaLN conditioning steps (the contract of <see cref="Cpu.Modulation"/>): tokens (B, T, D), conditioning rows (B, D)
/// broadcast over the T tokens. Forwards are one thread per element. Backwards are one thread per conditioning entry
/// (b, c), walking down its T tokens: it writes the per-token gradients of its column and keeps the sums over t in a
/// register, so neighbouring threads read neighbouring addresses and no atomics are needed.
/// </summary>
static class ModulationGpu
{
    /// <summary>y = x·(1 + scale) + shift.</summary>
    public static void ModulateKernel(Index1D i, ArrayView<float> x, ArrayView<float> shift, ArrayView<float> scale, ArrayView<float> y, int tokens, int width)
    {
        int c = i % width, b = i / (width * tokens), k = b * width + c;
        y[i] = x[i] * (1f + scale[k]) + shift[k];
    }

    /// <summary>dx = g·(1 + scale), dshift = Σ_t g, dscale = Σ_t g·x, for conditioning entry k = b·D + c.</summary>
    public static void ModulateBackwardKernel(Index1D k, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> g,
        ArrayView<float> dx, ArrayView<float> dshift, ArrayView<float> dscale, int tokens, int width)
    {
        int c = k % width, b = k / width;
        float s = 1f + scale[k], sumG = 0, sumGx = 0;
        for (int t = 0; t < tokens; t++)
        {
            int i = (b * tokens + t) * width + c;
            float gv = g[i];
            dx[i] = gv * s;
            sumG += gv;
            sumGx += gv * x[i];
        }
        dshift[k] = sumG;
        dscale[k] = sumGx;
    }

    /// <summary>y = x + gate·branch.</summary>
    public static void GatedAddKernel(Index1D i, ArrayView<float> x, ArrayView<float> gate, ArrayView<float> branch, ArrayView<float> y, int tokens, int width)
    {
        int c = i % width, b = i / (width * tokens);
        y[i] = x[i] + gate[b * width + c] * branch[i];
    }

    /// <summary>dbranch = g·gate, dgate = Σ_t g·branch (the residual's gradient is g itself).</summary>
    public static void GatedAddBackwardKernel(Index1D k, ArrayView<float> gate, ArrayView<float> branch, ArrayView<float> g,
        ArrayView<float> dbranch, ArrayView<float> dgate, int tokens, int width, int wantBranch)
    {
        int c = k % width, b = k / width;
        float a = gate[k], sum = 0;
        for (int t = 0; t < tokens; t++)
        {
            int i = (b * tokens + t) * width + c;
            float gv = g[i];
            if (wantBranch != 0) dbranch[i] = gv * a;
            sum += gv * branch[i];
        }
        dgate[k] = sum;
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? modulate, gatedAdd;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? modulateBackward;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? gatedAddBackward;

    /// <summary>y (B, T, D) = x·(1 + scale) + shift, with shift and scale (B, D) broadcast over the tokens.</summary>
    public void Modulate(int batch, int tokens, int width, ArrayView<float> x, ArrayView<float> shift, ArrayView<float> scale, ArrayView<float> y)
    {
        long total = (long)batch * tokens * width;
        if (total == 0) return;
        modulate ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(ModulationGpu.ModulateKernel);
        modulate(Stream, checked((int)total), x, shift, scale, y, tokens, width);
    }

    /// <summary>Overwrites dx (B, T, D) = g·(1 + scale), dshift (B, D) = Σ_t g and dscale (B, D) = Σ_t g·x.</summary>
    public void ModulateBackward(int batch, int tokens, int width, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> g,
        ArrayView<float> dx, ArrayView<float> dshift, ArrayView<float> dscale)
    {
        if (batch * width == 0) return;
        modulateBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(ModulationGpu.ModulateBackwardKernel);
        modulateBackward(Stream, batch * width, x, scale, g, dx, dshift, dscale, tokens, width);
    }

    /// <summary>y (B, T, D) = x + gate·branch, with gate (B, D) broadcast over the tokens.</summary>
    public void GatedAdd(int batch, int tokens, int width, ArrayView<float> x, ArrayView<float> gate, ArrayView<float> branch, ArrayView<float> y)
    {
        long total = (long)batch * tokens * width;
        if (total == 0) return;
        gatedAdd ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(ModulationGpu.GatedAddKernel);
        gatedAdd(Stream, checked((int)total), x, gate, branch, y, tokens, width);
    }

    /// <summary>Overwrites dbranch (B, T, D) = g·gate (skipped when empty) and dgate (B, D) = Σ_t g·branch; dx is g itself.</summary>
    public void GatedAddBackward(int batch, int tokens, int width, ArrayView<float> gate, ArrayView<float> branch, ArrayView<float> g,
        ArrayView<float> dbranch, ArrayView<float> dgate)
    {
        if (batch * width == 0) return;
        gatedAddBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(ModulationGpu.GatedAddBackwardKernel);
        gatedAddBackward(Stream, batch * width, gate, branch, g, Or(dbranch, g), dgate, tokens, width, dbranch.Length > 0 ? 1 : 0);
    }
}
