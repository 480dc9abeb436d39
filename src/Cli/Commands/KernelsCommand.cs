using Cli.Workloads;
using Engine.Random;
using Kernels.Cpu;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine kernels [--threads N]</c>: races every registered variant of each kernel on the workload shapes:
/// time, GFLOP/s, fraction of the FMA peak, and the largest difference from the reference.
/// </summary>
public static class KernelsCommand
{
    public static int Run(Args args)
    {
        int threads = args.Int("threads", Environment.ProcessorCount, 1, 1024);
        int maxN = args.Int("max-n", 2048, 16, 8192);
        args.RejectUnknown();
        Parallelism.MaxThreads = threads;
        double peak = WorkloadRegistry.PeakGflopsPerCore * threads;

        var table = new Table().Title("SGEMM (W5 shapes)").AddColumns("shape", "variant", "ms", "GFLOP/s", "% of peak", "max |err| vs reference");
        foreach (var n in W5Gemm.Sizes.Where(n => n <= maxN))
            foreach (var (ta, tb, label) in W5Gemm.Forms)
                foreach (var v in KernelRegistry.Gemm)
                {
                    // The reference is O(n³) scalar double code: time it only where it finishes in seconds.
                    if (v.IsReference && n > 512) continue;
                    var c = W5Gemm.Case(v, n, ta, tb, label);
                    double ms = Timing.MedianMs(c.Run, minRuns: v.IsReference ? 1 : 3);
                    double gflops = c.Flops / (ms * 1e6);
                    table.AddRow($"n={n} {label}", v.Name, ms.ToString("F2"), gflops.ToString("F1"), (gflops / peak * 100).ToString("F0") + "%",
                        v.IsReference ? "—" : MaxError(v, n, ta, tb).ToString("E1"));
                }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[grey]{threads} thread(s); peak = {peak} GFLOP/s; errors measured on 256 sampled entries against the double-precision reference[/]");
        return 0;
    }

    /// <summary>Largest |C − C_ref| over 256 sampled entries (the reference computed for those entries only).</summary>
    static double MaxError(Variant<GemmKernel> v, int n, bool ta, bool tb)
    {
        var g = new Generator(99);
        var a = new float[n * n]; var b = new float[n * n]; var c = new float[n * n];
        g.FillNormal(a); g.FillNormal(b);
        v.Run(ta, tb, n, n, n, 1f, a, n, b, n, 0f, c, n);
        double worst = 0;
        for (int s = 0; s < 256; s++)
        {
            int i = g.NextInt(n), j = g.NextInt(n);
            double r = 0;
            for (int p = 0; p < n; p++) r += (double)(ta ? a[p * n + i] : a[i * n + p]) * (tb ? b[j * n + p] : b[p * n + j]);
            worst = Math.Max(worst, Math.Abs(r - c[i * n + j]));
        }
        return worst;
    }
}
