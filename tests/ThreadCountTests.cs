using Engine.Data;
using Engine.Random;
using Kernels.Cpu;
using Models.Diffusion;

namespace Engine.Tests;

/// <summary>
/// CPU training gives the same weights, bit for bit, on any thread count: every kernel that sums across work items
/// (convolution weight gradients, norm weight and bias gradients) cuts them into ranges fixed by the sizes, not by
/// the threads, and adds the partial sums in a fixed order.
/// </summary>
public sealed class ThreadCountTests
{
    static int[] Bits(IEnumerable<KeyValuePair<string, Tensor>> state) =>
        state.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.ToArray()).Select(BitConverter.SingleToInt32Bits).ToArray();

    static T WithThreads<T>(int threads, Func<T> run)
    {
        int saved = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try { return run(); }
        finally { Parallelism.MaxThreads = saved; }
    }

    [Test]
    public void Ddpm_training_gives_bit_identical_weights_on_one_two_and_three_threads()
    {
        // 16×16 images, 16 base channels and batches of 8: the convolutions are above the kernels' threading threshold.
        var config = new DiffusionConfig(BaseChannels: 16, ResBlocks: 1, Timesteps: 50, LearningRate: 2e-3f, WarmupSteps: 2,
            EmaDecay: 0.9f, BatchSize: 8, ImageSize: 16, Seed: 5);
        var g = new Generator(3);
        var pixels = new float[16 * 256];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = g.NextInt(256) / 255f;
        var data = new ImageDataset(Tensor.Wrap(pixels, 16, 1, 16, 16), Enumerable.Range(0, 16).Select(i => i % 10).ToArray());

        int[] Train(int threads) => WithThreads(threads, () =>
        {
            var trainer = new DiffusionTrainer(config);
            var loader = new DataLoader(data, 8, dropLast: true, seed: 5);
            for (int step = 0; step < 3; step++) trainer.TrainStep(loader);
            return Bits(trainer.Model.StateDict());
        });

        var one = Train(1);
        Assert.That(Train(2), Is.EqualTo(one), "2 threads against 1");
        Assert.That(Train(3), Is.EqualTo(one), "3 threads against 1");
    }

    [Test]
    public void Reduction_chunks_depend_on_the_sizes_not_the_thread_count()
    {
        foreach (var (items, cost, length) in new (int, long, long)[] { (1, 1 << 20, 10), (5, 1, 10), (100, 1 << 20, 10), (100, 1 << 20, 1 << 21), (3, 1 << 20, 1 << 30) })
        {
            var counts = new[] { 1, 2, 3, 8 }.Select(t => WithThreads(t, () => ReductionChunks.Count(items, cost, length))).Distinct().ToArray();
            Assert.That(counts, Has.Length.EqualTo(1), $"{items} items");
        }
        Assert.That(ReductionChunks.Count(100, 1 << 20, 10), Is.EqualTo(ReductionChunks.MaxChunks));
        Assert.That(ReductionChunks.Count(100, 1 << 20, 1 << 21), Is.EqualTo(2), "partials bounded in memory");
        Assert.That(ReductionChunks.Count(5, 1, 10), Is.EqualTo(1), "small work stays in one chunk");
    }
}
