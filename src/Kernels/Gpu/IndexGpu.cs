using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Integer indexing along one axis of x seen as (outer, size, inner): IndexSelect (the same n indices for every
/// outer position: embedding lookup), Gather (k indices per (outer, inner) position, PyTorch's gather) and OneHot.
/// The backwards are gathers too, one thread per element of dx, so they need no atomics and add in the CPU op's
/// order: IndexSelect's walks the positions that picked its row, listed once on the host by
/// <see cref="GpuKernels.IndexSegments"/> (the indices come from the host anyway); Gather's scans its k indices.
/// </summary>
static class IndexGpu
{
    public static void IndexSelectKernel(Index1D e, ArrayView<float> x, ArrayView<int> indices, ArrayView<float> y, int size, int n, int inner)
    {
        int i = e % inner, j = e / inner % n, o = e / (inner * n);
        y[e] = x[(o * size + indices[j]) * inner + i];
    }

    /// <summary>dx[o, s, i] = Σ over the positions j that picked row s (ascending) of dy[o, j, i].</summary>
    public static void IndexSelectBackwardKernel(Index1D e, ArrayView<float> dy, ArrayView<int> offsets, ArrayView<int> positions,
        ArrayView<float> dx, int size, int n, int inner)
    {
        int i = e % inner, s = e / inner % size, o = e / (inner * size);
        float sum = 0;
        for (int q = offsets[s]; q < offsets[s + 1]; q++) sum += dy[(o * n + positions[q]) * inner + i];
        dx[e] = sum;
    }

    public static void GatherKernel(Index1D p, ArrayView<float> x, ArrayView<int> index, ArrayView<float> y, int size, int k, int inner)
    {
        int i = p % inner, o = p / (inner * k);
        y[p] = x[(o * size + index[p]) * inner + i];
    }

    /// <summary>dx[o, s, i] = Σ_j dy[o, j, i] over the j &lt; k with index[o, j, i] = s.</summary>
    public static void GatherBackwardKernel(Index1D e, ArrayView<float> dy, ArrayView<int> index, ArrayView<float> dx, int size, int k, int inner)
    {
        int i = e % inner, s = e / inner % size, o = e / (inner * size);
        float sum = 0;
        for (int j = 0; j < k; j++)
        {
            int p = (o * k + j) * inner + i;
            if (index[p] == s) sum += dy[p];
        }
        dx[e] = sum;
    }

    public static void OneHotKernel(Index1D e, ArrayView<int> labels, ArrayView<float> y, int classes) =>
        y[e] = labels[e / classes] == e % classes ? 1f : 0f;
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>? indexSelect, gather;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, int, int, int>? indexSelectBackward;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>? gatherBackward;
    Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, int>? oneHot;

    /// <summary>y (outer, n, inner) = x (outer, size, inner) at rows indices[j] (n = indices.Length, each in [0, size)).</summary>
    public void IndexSelect(int outer, int size, int inner, ArrayView<float> x, ArrayView<int> indices, ArrayView<float> y)
    {
        long total = (long)outer * indices.Length * inner;
        if (total == 0) return;
        indexSelect ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(IndexGpu.IndexSelectKernel);
        indexSelect(Stream, checked((int)total), x, indices, y, size, (int)indices.Length, inner);
    }

    /// <summary>
    /// The positions that picked each row, for <see cref="IndexSelectBackward"/>: row s was picked at positions
    /// <c>positions[offsets[s] .. offsets[s + 1])</c>, ascending (a counting sort; offsets has size + 1 entries).
    /// </summary>
    public static (int[] Offsets, int[] Positions) IndexSegments(ReadOnlySpan<int> indices, int size)
    {
        var offsets = new int[size + 1];
        foreach (var i in indices)
        {
            if ((uint)i >= (uint)size) throw new ArgumentOutOfRangeException(nameof(indices), $"IndexSegments: index {i} is outside [0, {size})");
            offsets[i + 1]++;
        }
        for (int s = 0; s < size; s++) offsets[s + 1] += offsets[s];
        var next = offsets[..size];
        var positions = new int[indices.Length];
        for (int j = 0; j < indices.Length; j++) positions[next[indices[j]]++] = j;
        return (offsets, positions);
    }

    /// <summary>
    /// dx (outer, size, inner) = the scatter-add of dy (outer, n, inner) into rows indices[j], formed as a gather over
    /// <see cref="IndexSegments"/> (offsets: size + 1 ints, positions: n ints). Overwrites dx; deterministic.
    /// </summary>
    public void IndexSelectBackward(int outer, int size, int n, int inner, ArrayView<float> dy, ArrayView<int> offsets, ArrayView<int> positions, ArrayView<float> dx)
    {
        long total = (long)outer * size * inner;
        if (total == 0) return;
        if (n == 0) { Fill(dx.SubView(0, total), 0f); return; }
        indexSelectBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, int, int, int>(IndexGpu.IndexSelectBackwardKernel);
        indexSelectBackward(Stream, checked((int)total), dy, offsets, positions, dx, size, n, inner);
    }

    /// <summary>y[o, j, i] = x[o, index[o, j, i], i]: x (outer, size, inner), index and y (outer, k, inner).</summary>
    public void Gather(int outer, int size, int k, int inner, ArrayView<float> x, ArrayView<int> index, ArrayView<float> y)
    {
        long total = (long)outer * k * inner;
        if (total == 0) return;
        gather ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(IndexGpu.GatherKernel);
        gather(Stream, checked((int)total), x, index, y, size, k, inner);
    }

    /// <summary>dx (outer, size, inner) = the scatter-add of dy (outer, k, inner) at index, as a gather over the k indices per position. Overwrites dx.</summary>
    public void GatherBackward(int outer, int size, int k, int inner, ArrayView<float> dy, ArrayView<int> index, ArrayView<float> dx)
    {
        long total = (long)outer * size * inner;
        if (total == 0) return;
        if (k == 0) { Fill(dx.SubView(0, total), 0f); return; }
        gatherBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(IndexGpu.GatherBackwardKernel);
        gatherBackward(Stream, checked((int)total), dy, index, dx, size, k, inner);
    }

    /// <summary>y (labels.Length, classes) = 1 at each label, 0 elsewhere (labels in [0, classes)).</summary>
    public void OneHot(ArrayView<int> labels, int classes, ArrayView<float> y)
    {
        long total = labels.Length * classes;
        if (total == 0) return;
        oneHot ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, int>(IndexGpu.OneHotKernel);
        oneHot(Stream, checked((int)total), labels, y, classes);
    }
}
