using System.Collections.Concurrent;
using Engine.Random;
using Kernels.Cpu;
using Models.Diffusion;

namespace Engine.Tests;

/// <summary>
/// Per-caller kernel settings: two models sampling at once in one process each run with their own thread count and
/// kernel choice, and get exactly what they get alone.
/// </summary>
public sealed class KernelContextTests
{
    /// <summary>A small DDPM UNet sampled with DDIM: 28×28 images reach the F(4×4), F(2×2) and blocked convolutions.</summary>
    static float[] Sample(int seed)
    {
        var net = new UNet(new UNetConfig(BaseChannels: 16, ResBlocks: 1), new Generator((ulong)seed));
        var sampler = new Sampler(NoiseSchedule.Linear(1000), Prediction.Epsilon);
        return sampler.Sample(net, [1, 28, 28], [seed % 10, 3], new SamplerOptions(SamplerKind.Ddim, 3, 0f, 2f), new Generator((ulong)seed + 100)).ToArray();
    }

    [Test]
    public void Two_models_sampling_at_once_equal_their_runs_alone_bit_for_bit()
    {
        // The second caller runs other kernels (im2col convolutions on the 4×64 GEMM) on one thread: were a choice to leak
        // from one caller to the other, its rounding would show in the bits.
        var contexts = new[]
        {
            new KernelContext { Threads = 2 },
            new KernelContext { Threads = 1 }.Use(KernelRegistry.Gemm, "simd-4x64").Use(KernelRegistry.Conv2dForward, "im2col"),
        };
        int[] seeds = [11, 12];
        var alone = new float[2][];
        for (int i = 0; i < 2; i++)
            using (contexts[i].Enter()) alone[i] = Sample(seeds[i]);
        Assert.That(alone[0], Is.Not.EqualTo(alone[1]), "different seeds give different images");
        using (contexts[0].Enter())
            Assert.That(Sample(seeds[1]), Is.Not.EqualTo(alone[1]), "the second caller's kernels round differently from the default's");

        for (int round = 0; round < 2; round++)
        {
            var together = new float[2][];
            var start = new Barrier(2);
            var errors = new ConcurrentQueue<Exception>();
            var threads = Enumerable.Range(0, 2).Select(i => new Thread(() =>
            {
                try
                {
                    using (contexts[i].Enter())
                    {
                        start.SignalAndWait();
                        together[i] = Sample(seeds[i]);
                    }
                }
                catch (Exception e) { errors.Enqueue(e); }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Assert.That(errors, Is.Empty);
            for (int i = 0; i < 2; i++)
                Assert.That(together[i], Is.EqualTo(alone[i]), $"round {round}: model {i} sampled beside the other differs from its run alone");
        }
    }

    [Test]
    public void Regions_opened_at_once_on_two_threads_each_run_on_their_own_two_threads()
    {
        var context = new KernelContext { Threads = 2 };
        var bothStarted = new bool[2];
        var start = new Barrier(2);
        var callers = Enumerable.Range(0, 2).Select(c => new Thread(() =>
        {
            using var _ = context.Enter();
            start.SignalAndWait();
            int started = 0, met = 0;
            // Each item waits (up to 5 s) for its region's other item to start: both meet only when two threads run the region at once.
            Parallelism.Run(2, i =>
            {
                Interlocked.Increment(ref started);
                var deadline = DateTime.UtcNow.AddSeconds(5);
                while (Volatile.Read(ref started) < 2 && DateTime.UtcNow < deadline) Thread.Yield();
                if (Volatile.Read(ref started) == 2) Interlocked.Increment(ref met);
            });
            bothStarted[c] = met == 2;
        })).ToList();
        callers.ForEach(t => t.Start());
        callers.ForEach(t => t.Join());
        Assert.That(bothStarted, Is.All.True, "a region that met another one ran its items one after the other");
    }

    [Test]
    public void A_context_choice_is_seen_by_its_callers_and_its_regions_workers_only()
    {
        var reference = new KernelContext().Use(KernelRegistry.Gemm, "reference");
        Assert.That(KernelRegistry.FastGemm, Is.EqualTo(KernelRegistry.Gemm.Default.Run));
        using (reference.Enter())
        {
            Assert.That(KernelRegistry.FastGemm, Is.EqualTo((GemmKernel)Gemm.Reference));
            Assert.That(KernelRegistry.Gemm.DefaultName, Is.EqualTo("reference"));
            var seen = new ConcurrentBag<GemmKernel>();
            var child = new Thread(() => seen.Add(KernelRegistry.FastGemm));   // a thread started here inherits the context (as tasks do)
            child.Start(); child.Join();
            Assert.That(seen.Single(), Is.EqualTo((GemmKernel)Gemm.Reference));
            seen.Clear();
            var apart = new Thread(() => seen.Add(KernelRegistry.FastGemm));   // one started without the execution context runs under the default
            apart.UnsafeStart(); apart.Join();
            Assert.That(seen.Single(), Is.EqualTo(KernelRegistry.Gemm.Default.Run));
            seen.Clear();
            var threads = new KernelContext { Threads = 2 };
            using (threads.Enter())                                           // nested: threads from here, the kernel from Default
            {
                Assert.That(KernelRegistry.FastGemm, Is.EqualTo(KernelRegistry.Gemm.Default.Run));
                Assert.That(Parallelism.MaxThreads, Is.EqualTo(2));
            }
            Parallelism.Run(8, _ => { seen.Add(KernelRegistry.FastGemm); Thread.SpinWait(20_000); });
            Assert.That(seen, Is.All.EqualTo((GemmKernel)Gemm.Reference), "the workers of a region run under the context that opened it");
        }
        Assert.That(KernelRegistry.FastGemm, Is.EqualTo(KernelRegistry.Gemm.Default.Run));
    }

    [Test]
    public void Setting_a_Fast_kernel_sets_the_default_context_and_an_entered_context_keeps_its_own()
    {
        var saved = KernelRegistry.FastSoftmaxForward;
        var own = new KernelContext().Use(KernelRegistry.SoftmaxForward, "reference");
        try
        {
            KernelRegistry.FastSoftmaxForward = KernelRegistry.SoftmaxForward.Variants[^1].Run;
            Assert.That(KernelRegistry.FastSoftmaxForward, Is.EqualTo(KernelRegistry.SoftmaxForward.Variants[^1].Run));
            using (own.Enter()) Assert.That(KernelRegistry.FastSoftmaxForward, Is.EqualTo((SoftmaxForwardKernel)Softmax.ForwardReference));
            using (new KernelContext().Enter()) Assert.That(KernelRegistry.FastSoftmaxForward, Is.EqualTo(KernelRegistry.SoftmaxForward.Variants[^1].Run));
        }
        finally { KernelContext.Default.Reset(KernelRegistry.SoftmaxForward); }
        Assert.That(KernelRegistry.FastSoftmaxForward, Is.EqualTo(saved));
    }

    [Test]
    public void Thread_counts_below_one_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new KernelContext { Threads = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.MaxThreads = 0);
    }
}
