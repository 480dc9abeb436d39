using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Philox-4x32-10 on the device, bit for bit the engine's host generator (Engine.Random.Philox and Generator): for
/// a stream (seed, offset), element i is word i mod 4 of the block at counter offset + i/4, with the third counter
/// word 0 for uniforms and 1 for normals, key (seed low, seed high). So a tensor drawn on the device equals the same
/// draw on the host, and the caller advances the generator's offset by ⌈n/4⌉ blocks as the host draw does.
/// One thread per block of four outputs.
/// </summary>
static class RandomGpu
{
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    public static void Block(ulong counter, uint c2, uint k0, uint k1, out uint o0, out uint o1, out uint o2, out uint o3)
    {
        uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c3 = 0;
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            uint n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
            c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
            k0 += W0; k1 += W1;
        }
        o0 = c0; o1 = c1; o2 = c2; o3 = c3;
    }

    /// <summary>A uniform float in [0, 1) from the top 24 bits.</summary>
    static float ToUnit(uint x) => (x >> 8) * (1.0f / 16777216f);

    static float ToUnitOpen(uint x) => ((x >> 8) + 1) * (1.0f / 16777216f);

    static uint Word(int j, uint a, uint b, uint c, uint d) => j == 0 ? a : j == 1 ? b : j == 2 ? c : d;

    public static void UniformKernel(Index1D block, ArrayView<float> y, int n, ulong start, uint k0, uint k1, float low, float scale)
    {
        Block(start + (ulong)(int)block, 0, k0, k1, out uint a, out uint b, out uint c, out uint d);
        for (int j = 0; j < 4; j++)
        {
            int i = block * 4 + j;
            if (i < n) y[i] = low + scale * ToUnit(Word(j, a, b, c, d));
        }
    }

    /// <summary>Box–Muller in double on the words (a, b) and (c, d), as the host generator.</summary>
    public static void NormalKernel(Index1D block, ArrayView<float> y, int n, ulong start, uint k0, uint k1, float mean, float std)
    {
        Block(start + (ulong)(int)block, 1, k0, k1, out uint a, out uint b, out uint c, out uint d);
        double r0 = Math.Sqrt(-2.0 * Math.Log(ToUnitOpen(a))), t0 = 2.0 * Math.PI * ToUnit(b);
        double r1 = Math.Sqrt(-2.0 * Math.Log(ToUnitOpen(c))), t1 = 2.0 * Math.PI * ToUnit(d);
        int i = block * 4;
        if (i < n) y[i] = mean + std * (float)(r0 * Math.Cos(t0));
        if (i + 1 < n) y[i + 1] = mean + std * (float)(r0 * Math.Sin(t0));
        if (i + 2 < n) y[i + 2] = mean + std * (float)(r1 * Math.Cos(t1));
        if (i + 3 < n) y[i + 3] = mean + std * (float)(r1 * Math.Sin(t1));
    }

    /// <summary>Inverted dropout from uniforms u of the stream: mask = u ≥ p ? 1/(1 − p) : 0, y = x·mask.</summary>
    public static void DropoutKernel(Index1D block, ArrayView<float> x, ArrayView<float> y, ArrayView<float> mask, int n, ulong start, uint k0, uint k1, float p, float scale)
    {
        Block(start + (ulong)(int)block, 0, k0, k1, out uint a, out uint b, out uint c, out uint d);
        for (int j = 0; j < 4; j++)
        {
            int i = block * 4 + j;
            if (i >= n) continue;
            float m = ToUnit(Word(j, a, b, c, d)) >= p ? scale : 0f;
            mask[i] = m;
            y[i] = x[i] * m;
        }
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, int, ulong, uint, uint, float, float>? uniform, normal;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ulong, uint, uint, float, float>? dropout;

    /// <summary>Number of Philox blocks a draw of <paramref name="n"/> values uses: advance the generator's offset by this much.</summary>
    public static long RandomBlocks(long n) => (n + 3) / 4;

    /// <summary>
    /// y = uniform values in [low, high) from the stream (seed, offset <paramref name="startBlock"/>), equal to
    /// Generator.FillUniform on the host; the caller then advances the offset by <see cref="RandomBlocks"/>(y.Length).
    /// </summary>
    public void FillUniform(ArrayView<float> y, ulong seed, ulong startBlock, float low = 0f, float high = 1f)
    {
        if (y.Length == 0) return;
        uniform ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, ulong, uint, uint, float, float>(RandomGpu.UniformKernel);
        uniform(Stream, checked((int)RandomBlocks(y.Length)), y, (int)y.Length, startBlock, (uint)seed, (uint)(seed >> 32), low, high - low);
    }

    /// <summary>y = normal values (mean, std) from the stream (seed, offset), equal to Generator.FillNormal on the host (Box–Muller in double).</summary>
    public void FillNormal(ArrayView<float> y, ulong seed, ulong startBlock, float mean = 0f, float std = 1f)
    {
        if (y.Length == 0) return;
        normal ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, ulong, uint, uint, float, float>(RandomGpu.NormalKernel);
        normal(Stream, checked((int)RandomBlocks(y.Length)), y, (int)y.Length, startBlock, (uint)seed, (uint)(seed >> 32), mean, std);
    }

    /// <summary>
    /// Inverted dropout with the mask drawn on the device as Tensor.Dropout draws it on the host (uniforms u of the
    /// stream (seed, offset), mask = u ≥ p ? 1/(1 − p) : 0): writes mask (kept for the backward, dx = dy·mask) and
    /// y = x·mask. The caller advances the offset by <see cref="RandomBlocks"/>(x.Length).
    /// </summary>
    public void Dropout(float p, ArrayView<float> x, ArrayView<float> y, ArrayView<float> mask, ulong seed, ulong startBlock)
    {
        if (x.Length == 0) return;
        dropout ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ulong, uint, uint, float, float>(RandomGpu.DropoutKernel);
        dropout(Stream, checked((int)RandomBlocks(x.Length)), x, y, mask, (int)x.Length, startBlock, (uint)seed, (uint)(seed >> 32), p, 1f / (1f - p));
    }
}
