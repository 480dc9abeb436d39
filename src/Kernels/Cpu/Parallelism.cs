using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Kernels.Cpu;

/// <summary>
/// How many threads the CPU kernels may use (default: all cores), and the fork-join they split work with.
/// <see cref="For"/> stays on the calling thread when the work is below a grain size, so small tensors do not pay for
/// thread hand-offs; above it, <see cref="Run"/> hands the items to the calling thread and a team of worker threads.
/// <para>
/// The team is the engine's own, not the .NET thread pool: a training step opens thousands of short parallel regions,
/// and a pool worker that has gone to sleep between two of them costs a wake-up (two context switches) each time. A team
/// worker instead spins for <see cref="SpinMicroseconds"/> after its last item, watching for the next region, and only
/// then sleeps, as OpenMP runtimes do. Items are claimed one at a time from a shared counter; which thread ran which
/// item never changes a result (kernels that sum across items use fixed ranges).
/// </para>
/// </summary>
public static class Parallelism
{
    static int maxThreads = Environment.ProcessorCount;

    public static int MaxThreads
    {
        get => maxThreads;
        set => maxThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), $"MaxThreads must be at least 1, got {value}");
    }

    /// <summary>How long an idle worker keeps watching for the next region before it sleeps.</summary>
    public const int SpinMicroseconds = 100;

    /// <summary>Runs body(i) for i in [0, count), on several threads only when count·costPerItem ≥ <paramref name="grain"/>.</summary>
    public static void For(int count, long costPerItem, Action<int> body, long grain = 1 << 18)
    {
        if (count <= 0) return;
        if (maxThreads == 1 || count == 1 || count * costPerItem < grain) { for (int i = 0; i < count; i++) body(i); return; }
        Run(count, body);
    }

    /// <summary>
    /// Runs body(i) for i in [0, count) on the calling thread and up to <see cref="MaxThreads"/> − 1 workers, and returns
    /// when all are done. The first exception a body throws is rethrown here, as itself. Called from inside a body, or
    /// while another thread's region holds the team, it runs the items on the calling thread.
    /// </summary>
    public static void Run(int count, Action<int> body)
    {
        if (count <= 0) return;
        int helpers = Math.Min(maxThreads, count) - 1;
        if (helpers <= 0 || inRegion || !Monitor.TryEnter(Team.Gate)) { for (int i = 0; i < count; i++) body(i); return; }
        Region region;
        try
        {
            region = new Region(body, count, helpers);
            Team.Start(region, helpers);
            inRegion = true;
            try { region.Work(); }
            finally { inRegion = false; }
            var wait = new SpinWait();
            while (Volatile.Read(ref region.Pending) > 0) wait.SpinOnce(sleep1Threshold: -1);
        }
        finally { Monitor.Exit(Team.Gate); }
        if (region.Error is not null) ExceptionDispatchInfo.Capture(region.Error).Throw();
    }

    /// <summary>Set on a thread while it runs items of a region: a nested region runs on that thread alone.</summary>
    [ThreadStatic] static bool inRegion;

    /// <summary>One parallel region: its items, the next one to claim, how many are unfinished, and the seats left for workers.</summary>
    sealed class Region(Action<int> body, int items, int helpers)
    {
        readonly int count = items;
        int next = -1;
        public int Pending = items;
        public int Seats = helpers;
        public Exception? Error;

        /// <summary>Claims and runs items until none is left.</summary>
        public void Work()
        {
            for (int i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                try { body(i); }
                catch (Exception e) { Interlocked.CompareExchange(ref Error, e, null); }
                finally { Interlocked.Decrement(ref Pending); }
            }
        }
    }

    /// <summary>The worker threads, created as <see cref="MaxThreads"/> asks for them, and the region they watch.</summary>
    static class Team
    {
        public static readonly object Gate = new();
        static readonly List<Thread> workers = [];
        static readonly SemaphoreSlim wake = new(0);
        static Region? current;
        static int sleepers;

        /// <summary>Publishes <paramref name="region"/> to the workers (the caller holds <see cref="Gate"/>).</summary>
        public static void Start(Region region, int helpers)
        {
            while (workers.Count < helpers)
            {
                var t = new Thread(Loop) { IsBackground = true, Name = $"engine-worker-{workers.Count + 1}" };
                workers.Add(t);
                t.Start();
            }
            Interlocked.Exchange(ref current, region);
            int asleep = Volatile.Read(ref sleepers);                        // read after the exchange (a full fence): a worker that missed it is counted
            if (asleep > 0) wake.Release(Math.Min(asleep, helpers));
        }

        static void Loop()
        {
            inRegion = true;
            Region? seen = null;
            long spinTicks = Stopwatch.Frequency * SpinMicroseconds / 1_000_000;
            while (true)
            {
                long idleSince = Stopwatch.GetTimestamp();
                Region? region;
                while ((region = Volatile.Read(ref current)) == seen)
                {
                    if (Stopwatch.GetTimestamp() - idleSince < spinTicks) { Thread.SpinWait(16); continue; }
                    Interlocked.Increment(ref sleepers);
                    if (Volatile.Read(ref current) == seen) wake.Wait();         // a release may come early: the loop looks again
                    Interlocked.Decrement(ref sleepers);
                    idleSince = Stopwatch.GetTimestamp();
                }
                seen = region;
                if (Interlocked.Decrement(ref region!.Seats) >= 0) region.Work();
            }
        }
    }
}
