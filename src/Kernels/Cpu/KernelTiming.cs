using System.Diagnostics;

namespace Kernels.Cpu;

/// <summary>Quick wall-clock timing of registry variants, for the CLI and for tuning (BenchmarkDotNet lives in bench/).</summary>
public static class KernelTiming
{
    /// <summary>
    /// Best-of-<paramref name="repeats"/> milliseconds of one C = A·B call (m×k times k×n, β = 0) with the GEMM
    /// variant named <paramref name="variant"/>, after one warm-up call. <paramref name="threads"/> caps
    /// <see cref="Parallelism.MaxThreads"/> for the duration (null: leave it).
    /// </summary>
    /// <example><c>double ms = KernelTiming.TimeGemm("blocked-avx512", 1024, 1024, 1024); double gflops = KernelTiming.GemmGflops(1024, 1024, 1024, ms);</c></example>
    public static double TimeGemm(string variant, int m, int n, int k, int? threads = null, int repeats = 7)
    {
        var kernel = KernelRegistry.Gemm.FirstOrDefault(v => v.Name == variant)?.Run
            ?? throw new ArgumentException($"TimeGemm: unknown GEMM variant '{variant}', expected one of {string.Join(", ", KernelRegistry.Gemm.Select(v => v.Name))}");
        if (m < 1 || n < 1 || k < 1) throw new ArgumentException($"TimeGemm: sizes must be positive, got m={m}, n={n}, k={k}");
        if (repeats < 1) throw new ArgumentException($"TimeGemm: repeats must be positive, got {repeats}");
        var rng = new System.Random(1);
        var a = new float[(long)m * k];
        var b = new float[(long)k * n];
        var c = new float[(long)m * n];
        for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble() - 0.5f;
        for (int i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble() - 0.5f;

        int saved = Parallelism.MaxThreads;
        if (threads is int t) Parallelism.MaxThreads = t;
        try
        {
            kernel(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            double best = double.MaxValue;
            var total = Stopwatch.StartNew();
            for (int r = 0; r < repeats || (total.ElapsedMilliseconds < 200 && r < 100 * repeats); r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                kernel(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            return best;
        }
        finally { Parallelism.MaxThreads = saved; }
    }

    /// <summary>Throughput of an m×n×k GEMM that took <paramref name="ms"/> milliseconds: 2·m·n·k / time, in GFLOP/s.</summary>
    public static double GemmGflops(int m, int n, int k, double ms) => 2.0 * m * n * k / (ms * 1e6);
}
