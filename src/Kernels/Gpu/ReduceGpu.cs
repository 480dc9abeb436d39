using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Reductions. Rows: one group of 256 threads per contiguous row, each thread striding over the row, then a tree in
/// shared memory. Columns (x seen as (rows, cols), reducing the rows, as when a gradient is summed over broadcast
/// leading axes): one thread per column, walking down it, so neighbouring threads read neighbouring addresses.
/// Each thread's running sum is compensated (<see cref="Compensated"/>): a thread may walk tens of thousands of
/// values (a whole tensor summed to one value is one column), and a plain float sum drifts by up to n·ε·Σ|x| there.
/// </summary>
static class ReduceGpu
{
    const int Threads = GpuKernels.GroupSize;

    public static void SumRowsKernel(ArrayView<float> x, ArrayView<float> y, int len)
    {
        var partial = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX, row = Grid.IdxX;
        float s = 0, c = 0;
        for (int j = t; j < len; j += Threads) Compensated(ref s, ref c, x[row * len + j]);
        partial[t] = s;
        Group.Barrier();
        for (int half = Threads / 2; half > 0; half >>= 1)
        {
            if (t < half) partial[t] += partial[t + half];
            Group.Barrier();
        }
        if (t == 0) y[row] = partial[0];
    }

    public static void SumColumnsKernel(Index1D col, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        float s = 0, c = 0;
        for (int r = 0; r < rows; r++) Compensated(ref s, ref c, x[r * cols + col]);
        y[col] = s;
    }

    /// <summary>
    /// s += v with Kahan's compensation c (the low-order bits lost so far, subtracted from the next value): the error
    /// stays about 2ε·Σ|x| whatever the count. Once s is infinite or NaN the compensation is dropped, so ∞ + 1 stays ∞
    /// instead of turning NaN through ∞ − ∞.
    /// </summary>
    public static void Compensated(ref float s, ref float c, float v)
    {
        float y = v - c, t = s + y;
        c = float.IsFinite(t) ? (t - s) - y : 0f;
        s = t;
    }

    /// <summary>Maximum of each row and the first index where it occurs (a NaN wins, as on the CPU).</summary>
    public static void MaxRowsKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> index, int len)
    {
        var best = SharedMemory.Allocate<float>(Threads);
        var at = SharedMemory.Allocate<int>(Threads);
        int t = Group.IdxX, row = Grid.IdxX;
        float bv = 0; int bi = -1;
        for (int j = t; j < len; j += Threads)
        {
            float v = x[row * len + j];
            if (bi < 0 || Better(v, j, bv, bi)) { bv = v; bi = j; }
        }
        best[t] = bv; at[t] = bi;
        Group.Barrier();
        for (int half = Threads / 2; half > 0; half >>= 1)
        {
            if (t < half && at[t + half] >= 0 && (at[t] < 0 || Better(best[t + half], at[t + half], best[t], at[t])))
            {
                best[t] = best[t + half]; at[t] = at[t + half];
            }
            Group.Barrier();
        }
        if (t == 0) { y[row] = best[0]; index[row] = at[0]; }
    }

    static bool Better(float v, int i, float bv, int bi)
    {
        bool vNan = float.IsNaN(v), bNan = float.IsNaN(bv);
        if (vNan != bNan) return vNan;
        if (vNan) return i < bi;
        return v > bv || (v == bv && i < bi);
    }

    /// <summary>dx[r·len + index[r]] = g[r]; every other element of dx is left as it is (zero).</summary>
    public static void ScatterRowsKernel(Index1D r, ArrayView<float> g, ArrayView<float> index, ArrayView<float> dx, int len) =>
        dx[r * len + (int)index[r]] = g[r];
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int>? sumRows;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int>? sumColumns;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? maxRows;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? scatterRows;

    /// <summary>y[r] = Σ_j x[r·len + j] for each of y.Length rows (x contiguous).</summary>
    public void SumRows(ArrayView<float> x, ArrayView<float> y, int len)
    {
        if (y.Length == 0) return;
        if (len == 0) { Fill(y, 0f); return; }
        sumRows ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int>(ReduceGpu.SumRowsKernel);
        sumRows(Stream, new KernelConfig((int)y.Length, GroupSize), x, y, len);
    }

    /// <summary>y[j] = Σ_r x[r·cols + j] over <paramref name="rows"/> rows (x contiguous, y of length cols).</summary>
    public void SumColumns(ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        if (cols == 0) return;
        sumColumns ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(ReduceGpu.SumColumnsKernel);
        sumColumns(Stream, cols, x, y, rows, cols);
    }

    /// <summary>y[r] = max_j x[r·len + j] and index[r] = its first position, for each of y.Length rows (len ≥ 1).</summary>
    public void MaxRows(ArrayView<float> x, ArrayView<float> y, ArrayView<float> index, int len)
    {
        if (y.Length == 0) return;
        maxRows ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ReduceGpu.MaxRowsKernel);
        maxRows(Stream, new KernelConfig((int)y.Length, GroupSize), x, y, index, len);
    }

    /// <summary>dx[r·len + index[r]] = g[r] for each of g.Length rows (the backward of <see cref="MaxRows"/>; dx zeroed first by the caller).</summary>
    public void ScatterRows(ArrayView<float> g, ArrayView<float> index, ArrayView<float> dx, int len)
    {
        if (g.Length == 0) return;
        scatterRows ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ReduceGpu.ScatterRowsKernel);
        scatterRows(Stream, (int)g.Length, g, index, dx, len);
    }
}
