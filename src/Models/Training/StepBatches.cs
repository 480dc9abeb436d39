using Engine;
using Engine.Data;

namespace Models.Training;

/// <summary>
/// The batch of training step n from a shuffled loader: epoch n / (batches per epoch), position n mod that, full
/// batches only. Depending on n alone, it gives a resumed run the data an uninterrupted one would see.
/// </summary>
public sealed class StepBatches
{
    readonly DataLoader loader;
    int cachedEpoch = -1;
    int[] order = [];

    /// <param name="what">Names the data in the error when it does not fill one batch.</param>
    public StepBatches(DataLoader loader, string what = "training images")
    {
        ArgumentNullException.ThrowIfNull(loader);
        if (loader.Count < loader.BatchSize)
            throw new ArgumentException($"--batch {loader.BatchSize} is larger than the {loader.Count} {what}");
        this.loader = loader;
    }

    public StepBatches(ImageDataset data, int batch, ulong seed) : this(new DataLoader(data, batch, shuffle: true, dropLast: true, seed: seed)) { }

    public int BatchSize => loader.BatchSize;

    public (Tensor X, int[] Y) For(int step)
    {
        int perEpoch = loader.Count / loader.BatchSize, epoch = step / perEpoch;
        if (epoch != cachedEpoch) order = loader.Order(cachedEpoch = epoch);
        return loader.Gather(order.AsSpan(step % perEpoch * loader.BatchSize, loader.BatchSize));
    }
}
