using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Small dense matrix functions over the last two axes, for flows (Glow's LU-parameterised 1×1 convolution):
/// identity, triangular masks, and the batched inverse and log|det| of n×n matrices by LU with partial pivoting in
/// double, one thread per matrix, the same arithmetic as the engine's host LinearAlgebra (so the results match it).
/// The factorisation works in a scratch buffer of doubles; these matrices are small (n = channels, tens), so one
/// thread per matrix is enough and keeps the pivoting sequential as on the host.
/// </summary>
static class LinAlgGpu
{
    public static void EyeKernel(Index1D i, ArrayView<float> y, int n) => y[i] = i / n == i % n ? 1f : 0f;

    /// <summary>y = x·1 inside the triangle (column − row ≤ diagonal for lower, ≥ for upper), x·0 outside, as the host's mask product.</summary>
    public static void TriangleKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, int rows, int cols, int diagonal, int lower)
    {
        int c = i % cols, r = i / cols % rows, d = c - r;
        bool keep = lower != 0 ? d <= diagonal : d >= diagonal;
        y[i] = x[i] * (keep ? 1f : 0f);
    }

    /// <summary>LU of matrix b (copied from a into lu) with pivots in perm; returns the permutation sign, or 0 if singular.</summary>
    static int Lu(ArrayView<float> a, ArrayView<double> lu, ArrayView<int> perm, int b, int n)
    {
        int o = b * n * n, po = b * n;
        for (int i = 0; i < n * n; i++) lu[o + i] = a[o + i];
        for (int i = 0; i < n; i++) perm[po + i] = i;
        int sign = 1;
        for (int k = 0; k < n; k++)
        {
            int p = k;
            double best = Math.Abs(lu[o + k * n + k]);
            for (int i = k + 1; i < n; i++)
                if (Math.Abs(lu[o + i * n + k]) > best) { best = Math.Abs(lu[o + i * n + k]); p = i; }
            if (best == 0) return 0;
            if (p != k)
            {
                for (int j = 0; j < n; j++)
                {
                    double tmp = lu[o + k * n + j];
                    lu[o + k * n + j] = lu[o + p * n + j];
                    lu[o + p * n + j] = tmp;
                }
                int tp = perm[po + k]; perm[po + k] = perm[po + p]; perm[po + p] = tp;
                sign = -sign;
            }
            double pivot = lu[o + k * n + k];
            for (int i = k + 1; i < n; i++)
            {
                double f = lu[o + i * n + k] / pivot;
                lu[o + i * n + k] = f;
                if (f == 0) continue;
                for (int j = k + 1; j < n; j++) lu[o + i * n + j] -= f * lu[o + k * n + j];
            }
        }
        return sign;
    }

    /// <summary>inv = a⁻¹ for matrix b (columns solved one at a time: L y = P e_c, then U x = y); singular[b] = 1 when it has none.</summary>
    public static void InverseKernel(Index1D b, ArrayView<float> a, ArrayView<float> inv, ArrayView<double> lu, ArrayView<double> col,
        ArrayView<int> perm, ArrayView<int> singular, int n)
    {
        if (Lu(a, lu, perm, b, n) == 0) { singular[b] = 1; return; }
        singular[b] = 0;
        int o = b * n * n, po = b * n;
        for (int c = 0; c < n; c++)
        {
            for (int i = 0; i < n; i++)
            {
                double s = perm[po + i] == c ? 1 : 0;
                for (int j = 0; j < i; j++) s -= lu[o + i * n + j] * col[po + j];
                col[po + i] = s;
            }
            for (int i = n - 1; i >= 0; i--)
            {
                double s = col[po + i];
                for (int j = i + 1; j < n; j++) s -= lu[o + i * n + j] * col[po + j];
                col[po + i] = s / lu[o + i * n + i];
            }
            for (int i = 0; i < n; i++) inv[o + i * n + c] = (float)col[po + i];
        }
    }

    /// <summary>y[b] = log|det a_b| = Σ log|U_ii|; singular[b] = 1 when a pivot is zero.</summary>
    public static void LogAbsDetKernel(Index1D b, ArrayView<float> a, ArrayView<float> y, ArrayView<double> lu, ArrayView<int> perm,
        ArrayView<int> singular, int n)
    {
        if (Lu(a, lu, perm, b, n) == 0) { singular[b] = 1; return; }
        singular[b] = 0;
        int o = b * n * n;
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.Log(Math.Abs(lu[o + i * n + i]));
        y[b] = (float)s;
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, int>? eye;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>? triangle;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<int>, ArrayView<int>, int>? inverse;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<int>, ArrayView<int>, int>? logAbsDet;

    /// <summary>y (n, n) = the identity.</summary>
    public void Eye(int n, ArrayView<float> y)
    {
        if (n == 0) return;
        eye ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int>(LinAlgGpu.EyeKernel);
        eye(Stream, n * n, y, n);
    }

    /// <summary>
    /// y = x with the entries outside the triangle multiplied by 0, for x.Length / (rows·cols) matrices (rows, cols):
    /// lower keeps column − row ≤ diagonal (Tril), upper keeps column − row ≥ diagonal (Triu).
    /// </summary>
    public void TriangleMask(int rows, int cols, int diagonal, bool lower, ArrayView<float> x, ArrayView<float> y)
    {
        if (x.Length == 0) return;
        triangle ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(LinAlgGpu.TriangleKernel);
        triangle(Stream, (int)x.Length, x, y, rows, cols, diagonal, lower ? 1 : 0);
    }

    /// <summary>
    /// inv = a⁻¹ for each of <paramref name="count"/> row-major n×n matrices, in double as the host's LinearAlgebra.Invert.
    /// Waits for the result and returns the index of the first singular matrix (its inverse is left unwritten), or −1.
    /// </summary>
    public int Inverse(int count, int n, ArrayView<float> a, ArrayView<float> inv)
    {
        if (count == 0 || n == 0) return -1;
        inverse ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<int>, ArrayView<int>, int>(LinAlgGpu.InverseKernel);
        using var lu = Accelerator.Allocate1D<double>((long)count * n * n);
        using var col = Accelerator.Allocate1D<double>((long)count * n);
        using var perm = Accelerator.Allocate1D<int>((long)count * n);
        using var singular = Accelerator.Allocate1D<int>(count);
        inverse(Stream, count, a, inv, lu.View, col.View, perm.View, singular.View, n);
        return FirstSingular(singular);
    }

    /// <summary>y[b] = log|det a_b| for each of <paramref name="count"/> n×n matrices (LU in double). Waits; returns the first singular matrix's index, or −1.</summary>
    public int LogAbsDet(int count, int n, ArrayView<float> a, ArrayView<float> y)
    {
        if (count == 0 || n == 0) return -1;
        logAbsDet ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<int>, ArrayView<int>, int>(LinAlgGpu.LogAbsDetKernel);
        using var lu = Accelerator.Allocate1D<double>((long)count * n * n);
        using var perm = Accelerator.Allocate1D<int>((long)count * n);
        using var singular = Accelerator.Allocate1D<int>(count);
        logAbsDet(Stream, count, a, y, lu.View, perm.View, singular.View, n);
        return FirstSingular(singular);
    }

    int FirstSingular(MemoryBuffer1D<int, Stride1D.Dense> singular)
    {
        var flags = new int[singular.Length];
        singular.View.CopyToCPU(Stream, flags);
        Stream.Synchronize();
        return Array.IndexOf(flags, 1);
    }
}
