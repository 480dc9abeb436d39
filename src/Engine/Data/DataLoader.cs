using System.Collections;
using Engine.Random;

namespace Engine.Data;

/// <summary>
/// Cuts a dataset (a tensor whose first axis indexes samples, plus optional labels) into mini-batches. With
/// shuffling, epoch <c>e</c> visits the samples in the order of a permutation drawn from its own stream of the
/// seeded <see cref="Generator"/>, so the order depends only on (seed, epoch): a run resumed at epoch 7 sees the
/// same batches as one that got there without stopping. Enumerating the loader yields the next epoch each time.
/// </summary>
/// <example><c>foreach (var (x, y) in new DataLoader(ds, batchSize: 64, seed: 1)) { /* x (64, 1, 28, 28), y int[64] */ }</c></example>
public sealed class DataLoader : IEnumerable<(Tensor X, int[] Y)>
{
    readonly Tensor data;                                                            // (N, …), contiguous
    readonly int[] sampleShape;
    readonly int sampleSize;
    readonly int[]? labels;

    /// <summary>Number of samples.</summary>
    public int Count { get; }
    public int BatchSize { get; }
    public bool Shuffle { get; }
    public bool DropLast { get; }
    public ulong Seed { get; }

    /// <summary>The epoch the next enumeration yields; advances by one each time the loader is enumerated. Settable to resume.</summary>
    public int Epoch { get; set; }

    /// <summary>Batches per epoch: ⌊N / B⌋ with <see cref="DropLast"/>, ⌈N / B⌉ otherwise.</summary>
    public int BatchesPerEpoch => DropLast ? Count / BatchSize : (Count + BatchSize - 1) / BatchSize;

    /// <param name="data">Samples along the first axis, (N, …). Shared, not copied, when already contiguous.</param>
    /// <param name="labels">One label per sample, or null for unlabelled data (batches then carry an empty label array).</param>
    public DataLoader(Tensor data, int[]? labels, int batchSize, bool shuffle = true, bool dropLast = false, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Rank < 1) throw new ShapeMismatchException($"DataLoader: data has shape {Shapes.Format(data.Shape)}; expected (N, …) with at least one axis");
        if (labels is not null && labels.Length != data.Shape[0])
            throw new ShapeMismatchException($"DataLoader: data of shape {Shapes.Format(data.Shape)} has {data.Shape[0]} samples but {labels.Length} labels");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), $"DataLoader: batch size must be positive, got {batchSize}");
        Count = data.Shape[0];
        sampleShape = data.Shape[1..];
        sampleSize = Shapes.Numel(sampleShape);
        this.data = data.Contiguous();
        _ = this.data.Span; // fails early for tensors off the CPU
        this.labels = labels is null ? null : (int[])labels.Clone();
        BatchSize = batchSize; Shuffle = shuffle; DropLast = dropLast; Seed = seed;
    }

    /// <summary>A loader over the images and labels of <paramref name="dataset"/>.</summary>
    public DataLoader(ImageDataset dataset, int batchSize, bool shuffle = true, bool dropLast = false, ulong seed = 0)
        : this(dataset.Images, dataset.Labels, batchSize, shuffle, dropLast, seed) { }

    /// <summary>The sample order of epoch <paramref name="epoch"/> (the identity without shuffling).</summary>
    public int[] Order(int epoch)
    {
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), $"DataLoader: epoch must be non-negative, got {epoch}");
        if (!Shuffle) return Enumerable.Range(0, Count).ToArray();
        // Each epoch draws from its own disjoint block of counters: a permutation of N uses N - 1 < 2^32 of them.
        var g = new Generator(Seed) { Offset = (ulong)epoch << 32 };
        return g.Permutation(Count);
    }

    /// <summary>The batches of epoch <paramref name="epoch"/>, without touching <see cref="Epoch"/>.</summary>
    public IEnumerable<(Tensor X, int[] Y)> Batches(int epoch)
    {
        var order = Order(epoch);
        int batches = BatchesPerEpoch;
        for (int b = 0; b < batches; b++)
        {
            int start = b * BatchSize, size = Math.Min(BatchSize, Count - start);
            yield return Gather(order.AsSpan(start, size));
        }
    }

    /// <summary>The samples at <paramref name="indices"/> as one batch: x (B, …) and y (B), or an empty y without labels.</summary>
    public (Tensor X, int[] Y) Gather(ReadOnlySpan<int> indices)
    {
        var src = data.Span;
        var x = new float[indices.Length * sampleSize];
        var y = labels is null ? [] : new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int k = indices[i];
            if ((uint)k >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), $"DataLoader.Gather: index {k} outside [0, {Count})");
            src.Slice(k * sampleSize, sampleSize).CopyTo(x.AsSpan(i * sampleSize));
            if (labels is not null) y[i] = labels[k];
        }
        return (Tensor.Wrap(x, [indices.Length, .. sampleShape]), y);
    }

    /// <summary>Yields the batches of <see cref="Epoch"/> and advances it.</summary>
    public IEnumerator<(Tensor X, int[] Y)> GetEnumerator()
    {
        int epoch = Epoch++;
        return Batches(epoch).GetEnumerator();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
