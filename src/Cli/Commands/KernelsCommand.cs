using Cli.Workloads;
using Engine.Random;
using Kernels.Cpu;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine kernels [section...] [--threads N] [--max-n N] [--device D]</c>: races every registered variant (the GPU
/// ones too when --device names a GPU) of each kernel on the workload shapes: time, GFLOP/s and fraction of the FMA
/// peak (GEMM, conv, attention) or GB/s (the memory-bound norms, softmax and AdamW), and the largest difference from
/// the reference. Sections: gemm, conv, attention, groupnorm, layernorm, softmax, adamw (all when none is named).
/// </summary>
public static class KernelsCommand
{
    public static int Run(Args args)
    {
        int threads = args.Int("threads", Environment.ProcessorCount, 1, 1024, shown: "all logical cores");
        int maxN = args.Int("max-n", 2048, 16, 8192);
        DeviceOption.Read(args);
        args.RejectUnknown();
        string[] all = ["gemm", "conv", "attention", .. MemoryBoundKernels.Names];
        var sections = args.Positionals.Count == 0 ? all : args.Positionals.Select(p => p.ToLowerInvariant()).ToArray();
        foreach (var s in sections)
            if (!all.Contains(s)) throw new UsageException($"no kernel section '{s}' (sections: {string.Join(", ", all)})");
        Parallelism.MaxThreads = threads;
        if (sections.Contains("gemm")) Gemm(threads, maxN);
        if (sections.Contains("conv")) ConvKernels.Write(threads);
        if (sections.Contains("attention")) AttentionKernels.Write(threads);
        foreach (var s in MemoryBoundKernels.Names.Where(sections.Contains)) MemoryBoundKernels.Write(s);
        if (sections.Any(MemoryBoundKernels.Names.Contains))
            AnsiConsole.MarkupLine($"[grey]{threads} thread(s); GB/s counts each input read once and each output written once; " +
                "max err = max |x − ref| / (1 + |ref|) over all outputs, against the double-precision reference[/]");
        return 0;
    }

    static void Gemm(int threads, int maxN)
    {
        double peak = FmaPeak.Gflops(threads);

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
        AnsiConsole.MarkupLine($"[grey]{threads} thread(s); peak = {peak:F0} GFLOP/s (the FMA loop on as many threads, measured now); errors measured on 256 sampled entries against the double-precision reference[/]");
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
