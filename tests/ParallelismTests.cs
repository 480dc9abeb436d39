using System.Collections.Concurrent;
using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>The kernels' fork-join: every item once, at most MaxThreads threads, nested and concurrent regions, errors as themselves.</summary>
public sealed class ParallelismTests
{
    static void WithThreads(int threads, Action body)
    {
        int saved = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try { body(); }
        finally { Parallelism.MaxThreads = saved; }
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(4)]
    public void Every_item_runs_once_on_at_most_MaxThreads_threads(int threads) => WithThreads(threads, () =>
    {
        for (int round = 0; round < 200; round++)                             // many short regions: workers spin, sleep and wake
        {
            int count = 1 + round % 37;
            var runs = new int[count];
            var seen = new ConcurrentDictionary<int, bool>();
            Parallelism.Run(count, i => { Interlocked.Increment(ref runs[i]); seen[Environment.CurrentManagedThreadId] = true; Thread.SpinWait(200); });
            Assert.That(runs, Is.All.EqualTo(1), $"round {round}");
            Assert.That(seen.Count, Is.LessThanOrEqualTo(Math.Min(threads, count)), $"round {round}");
            if (round % 50 == 49) Thread.Sleep(2);                            // long enough for the workers to fall asleep
        }
    });

    [Test]
    public void A_region_inside_a_region_runs_on_its_thread() => WithThreads(2, () =>
    {
        var inner = new int[8 * 16];
        Parallelism.Run(8, i =>
        {
            int thread = Environment.CurrentManagedThreadId;
            Parallelism.Run(16, j => { Assert.That(Environment.CurrentManagedThreadId, Is.EqualTo(thread)); Interlocked.Increment(ref inner[i * 16 + j]); });
        });
        Assert.That(inner, Is.All.EqualTo(1));
    });

    [Test]
    public void Regions_from_two_threads_at_once_both_complete() => WithThreads(2, () =>
    {
        var totals = new long[2];
        var callers = Enumerable.Range(0, 2).Select(c => new Thread(() =>
        {
            for (int round = 0; round < 300; round++)
                Parallelism.Run(10, i => Interlocked.Add(ref totals[c], i));
        })).ToList();
        callers.ForEach(t => t.Start());
        callers.ForEach(t => t.Join());
        Assert.That(totals, Is.All.EqualTo(300L * 45));
    });

    [Test]
    public void A_failing_item_rethrows_its_own_exception_after_the_others_finish() => WithThreads(2, () =>
    {
        int finished = 0;
        var ex = Assert.Throws<InvalidOperationException>(() => Parallelism.Run(20, i =>
        {
            if (i == 7) throw new InvalidOperationException("item 7");
            Interlocked.Increment(ref finished);
        }));
        Assert.That(ex!.Message, Is.EqualTo("item 7"));
        Assert.That(finished, Is.EqualTo(19));
        int after = 0;
        Parallelism.Run(5, _ => Interlocked.Increment(ref after));            // the team still works
        Assert.That(after, Is.EqualTo(5));
    });
}
