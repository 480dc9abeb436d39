using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Kernels.Cpu;

/// <summary>
/// How many threads the CPU kernels may use, and the fork-join they split work with. The thread count is a setting of
/// the current <see cref="KernelContext"/> (default: all cores); <see cref="MaxThreads"/> reads it and sets the
/// process-wide default. <see cref="For"/> stays on the calling thread when the work is below a grain size, so small
/// tensors do not pay for thread hand-offs; above it, <see cref="Run"/> hands the items to the calling thread and a team
/// of worker threads.
/// <para>
/// The teams are the engine's own, not the .NET thread pool: a training step opens thousands of short parallel regions,
/// and a pool worker that has gone to sleep between two of them costs a wake-up (two context switches) each time. A team
/// worker instead spins for <see cref="SpinMicroseconds"/> after its last item, watching for the next region, and only
/// then sleeps, as OpenMP runtimes do. Items are claimed one at a time from a shared counter; which thread ran which
/// item never changes a result (kernels that sum across items use fixed ranges). A region takes a team no other region
/// holds, and a new team is formed when all are busy, so callers on several threads at once (two models sampling in one
/// process) each get the threads their context allows.
/// </para>
/// </summary>
public static class Parallelism
{
    /// <summary>The thread count of the current <see cref="KernelContext"/>; setting it sets <see cref="KernelContext.Default"/>'s.</summary>
    public static int MaxThreads
    {
        get => KernelContext.Current.Threads;
        set => KernelContext.Default.Threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), $"MaxThreads must be at least 1, got {value}");
    }

    /// <summary>How long an idle worker keeps watching for the next region before it sleeps.</summary>
    public const int SpinMicroseconds = 100;

    /// <summary>Runs body(i) for i in [0, count), on several threads only when count·costPerItem ≥ <paramref name="grain"/>.</summary>
    public static void For(int count, long costPerItem, Action<int> body, long grain = 1 << 18)
    {
        if (count <= 0) return;
        if (count == 1 || count * costPerItem < grain || MaxThreads == 1) { for (int i = 0; i < count; i++) body(i); return; }
        Run(count, body);
    }

    /// <summary>
    /// Runs body(i) for i in [0, count) on the calling thread and up to <see cref="MaxThreads"/> − 1 workers, and returns
    /// when all are done; the workers run the items under the caller's <see cref="KernelContext"/>. The first exception a
    /// body throws is rethrown here, as itself. Called from inside a body it runs the items on the calling thread.
    /// </summary>
    public static void Run(int count, Action<int> body)
    {
        if (count <= 0) return;
        var context = KernelContext.Current;
        int helpers = Math.Min(context.Threads, count) - 1;
        if (helpers <= 0 || inRegion) { for (int i = 0; i < count; i++) body(i); return; }
        var team = Team.Take();
        Region region;
        try
        {
            region = new Region(body, count, helpers, context);
            team.Start(region, helpers);
            inRegion = true;
            try { region.Work(); }
            finally { inRegion = false; }
            var wait = new SpinWait();
            while (Volatile.Read(ref region.Pending) > 0) wait.SpinOnce(sleep1Threshold: -1);
        }
        finally { Monitor.Exit(team.Gate); }
        if (region.Error is not null) ExceptionDispatchInfo.Capture(region.Error).Throw();
    }

    /// <summary>How many teams of workers exist (one per region that has run at the same time as others).</summary>
    public static int Teams => Team.Count;

    /// <summary>Set on a thread while it runs items of a region: a nested region runs on that thread alone.</summary>
    [ThreadStatic] static bool inRegion;

    /// <summary>One parallel region: its items, the next one to claim, how many are unfinished, and the seats left for workers.</summary>
    sealed class Region(Action<int> body, int items, int helpers, KernelContext context)
    {
        public readonly KernelContext Context = context;
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

    /// <summary>
    /// A set of worker threads, created as <see cref="MaxThreads"/> asks for them, and the region they watch. A region
    /// holds its team's <see cref="Gate"/> while it runs.
    /// </summary>
    sealed class Team
    {
        static volatile Team[] all = [];
        static readonly object formLock = new();

        public readonly object Gate = new();
        readonly List<Thread> workers = [];
        readonly SemaphoreSlim wake = new(0);
        readonly int number;
        Region? current;
        int sleepers;

        Team(int number) => this.number = number;

        public static int Count => all.Length;

        /// <summary>A team no other region holds, its <see cref="Gate"/> entered: the first free one, or a new one.</summary>
        public static Team Take()
        {
            foreach (var t in all)
                if (Monitor.TryEnter(t.Gate)) return t;
            lock (formLock)
            {
                foreach (var t in all)
                    if (Monitor.TryEnter(t.Gate)) return t;
                var team = new Team(all.Length + 1);
                Monitor.Enter(team.Gate);
                all = [.. all, team];
                return team;
            }
        }

        /// <summary>Publishes <paramref name="region"/> to the workers (the caller holds <see cref="Gate"/>).</summary>
        public void Start(Region region, int helpers)
        {
            while (workers.Count < helpers)
            {
                var t = new Thread(Loop) { IsBackground = true, Name = $"engine-worker-{number}.{workers.Count + 1}" };
                workers.Add(t);
                t.UnsafeStart();                                               // no execution context: a worker has no context of its own but its region's
            }
            Interlocked.Exchange(ref current, region);
            int asleep = Volatile.Read(ref sleepers);                        // read after the exchange (a full fence): a worker that missed it is counted
            if (asleep > 0) wake.Release(Math.Min(asleep, helpers));
        }

        void Loop()
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
                if (Interlocked.Decrement(ref region!.Seats) < 0) continue;
                KernelContext.OfRegion = region.Context;                       // the items run under the context that opened the region
                region.Work();                                                 // (Work catches what the items throw)
                KernelContext.OfRegion = null;
            }
        }
    }
}
