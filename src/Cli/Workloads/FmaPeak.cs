using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Kernels.Cpu;

namespace Cli.Workloads;

/// <summary>
/// The machine's measured floating-point ceiling: a loop of independent fused multiply-adds on the widest vectors the
/// runtime accelerates (no loads, no dependencies between the 12 accumulators), run on every thread at once. The
/// "% of peak" columns divide by this figure, measured where the benchmark runs rather than assumed.
/// </summary>
public static class FmaPeak
{
    static readonly Dictionary<int, double> measured = [];

    /// <summary>GFLOP/s of <paramref name="threads"/> threads together (best of three 50 ms rounds, measured once per count).</summary>
    public static double Gflops(int threads)
    {
        lock (measured)
        {
            if (measured.TryGetValue(threads, out double g)) return g;
            double best = 0;
            int saved = Parallelism.MaxThreads;
            Parallelism.MaxThreads = threads;                                 // one loop on each of `threads` threads at once
            try
            {
                for (int round = 0; round < 3; round++)
                {
                    const long steps = 1 << 20;
                    var clock = Stopwatch.StartNew();
                    long total = 0;
                    Parallelism.Run(threads, _ =>
                    {
                        long flops = 0;
                        var thread = Stopwatch.StartNew();
                        while (thread.ElapsedMilliseconds < 50) flops += Loop(steps);
                        Interlocked.Add(ref total, flops);
                    });
                    best = Math.Max(best, total / clock.Elapsed.TotalSeconds / 1e9);
                }
            }
            finally { Parallelism.MaxThreads = saved; }
            return measured[threads] = best;
        }
    }

    /// <summary>Runs <paramref name="steps"/> rounds of 12 independent FMAs; returns the FLOPs done.</summary>
    static long Loop(long steps)
    {
        if (Vector512.IsHardwareAccelerated) return Loop<Vector512<float>>(steps, Vector512.Create(0.999999f), Vector512.Create(1e-7f)) * 2 * Vector512<float>.Count;
        if (Vector256.IsHardwareAccelerated) return Loop<Vector256<float>>(steps, Vector256.Create(0.999999f), Vector256.Create(1e-7f)) * 2 * Vector256<float>.Count;
        return Loop<Vector<float>>(steps, new Vector<float>(0.999999f), new Vector<float>(1e-7f)) * 2 * Vector<float>.Count;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static long Loop<T>(long steps, T x, T y) where T : struct
    {
        T a0 = y, a1 = y, a2 = y, a3 = y, a4 = y, a5 = y, a6 = y, a7 = y, a8 = y, a9 = y, a10 = y, a11 = y;
        for (long i = 0; i < steps; i++)
        {
            a0 = Fma(a0, x, y); a1 = Fma(a1, x, y); a2 = Fma(a2, x, y); a3 = Fma(a3, x, y);
            a4 = Fma(a4, x, y); a5 = Fma(a5, x, y); a6 = Fma(a6, x, y); a7 = Fma(a7, x, y);
            a8 = Fma(a8, x, y); a9 = Fma(a9, x, y); a10 = Fma(a10, x, y); a11 = Fma(a11, x, y);
        }
        Sink = Fma(Fma(Fma(a0, a1, a2), Fma(a3, a4, a5), Fma(a6, a7, a8)), Fma(a9, a10, a11), y).GetHashCode();
        return steps * 12;
    }

    static int Sink;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T Fma<T>(T a, T b, T c) where T : struct
    {
        if (typeof(T) == typeof(Vector512<float>)) return (T)(object)Vector512.FusedMultiplyAdd((Vector512<float>)(object)a, (Vector512<float>)(object)b, (Vector512<float>)(object)c);
        if (typeof(T) == typeof(Vector256<float>)) return (T)(object)Vector256.FusedMultiplyAdd((Vector256<float>)(object)a, (Vector256<float>)(object)b, (Vector256<float>)(object)c);
        return (T)(object)Vector.FusedMultiplyAdd((Vector<float>)(object)a, (Vector<float>)(object)b, (Vector<float>)(object)c);
    }
}
