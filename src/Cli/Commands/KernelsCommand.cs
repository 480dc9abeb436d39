using Cli.Workloads;
using Kernels.Cpu;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine kernels [section...] [--threads N] [--max-n N] [--device D] [--rules]</c>: races, on each declared workload case
/// (<see cref="KernelCases.Races"/>), every registered variant that computes it (the GPU ones too when --device names a
/// GPU): time, GFLOP/s and fraction of the FMA peak (GEMM, conv, attention) or GB/s (norms, softmax, AdamW), and the
/// largest difference from the reference. The row marked ◀ is the variant the engine runs for that shape (the table's
/// rule under the current kernel context); a variant is timed only on shapes it computes itself. Sections: gemm, conv,
/// attention, groupnorm, layernorm, softmax, adamw (all when none is named). <c>--rules</c> instead lists the kernel
/// table: each family's variants and the rule that picks the one the engine runs.
/// </summary>
public static class KernelsCommand
{
    /// <summary>Section name → which race cases it holds.</summary>
    static readonly (string Name, string Title, Func<KernelCase, bool> Holds)[] Sections =
    [
        ("gemm", "SGEMM (W5 shapes)", c => c.Family == KernelRegistry.Gemm),
        ("conv", "Conv2d (W4 and W1 shapes, batch 64)", c => c.Family.Name.StartsWith("conv2d")),
        ("attention", "Attention (W3 shape)", c => c.Family.Name.StartsWith("attention")),
        ("groupnorm", "GroupNorm (+ SiLU)", c => c.Name.StartsWith("GroupNorm")),
        ("layernorm", "LayerNorm", c => c.Name.StartsWith("LayerNorm")),
        ("softmax", "Softmax and log-softmax", c => c.Family.Name.Contains("softmax")),
        ("adamw", "AdamW update", c => c.Family == KernelRegistry.AdamW),
    ];

    public static int Run(Args args)
    {
        int threads = args.Int("threads", Environment.ProcessorCount, 1, 1024, shown: "all logical cores");
        int maxN = args.Int("max-n", 2048, 16, 8192);
        bool rules = args.Flag("rules");
        DeviceOption.Read(args);
        args.RejectUnknown();
        if (rules) { WriteRules(); return 0; }
        string[] all = [.. Sections.Select(s => s.Name)];
        var named = args.Positionals.Count == 0 ? all : args.Positionals.Select(p => p.ToLowerInvariant()).ToArray();
        foreach (var s in named)
            if (!all.Contains(s)) throw new UsageException($"no kernel section '{s}' (sections: {string.Join(", ", all)})");
        using var _ = new KernelContext { Threads = threads }.Enter();
        double peak = FmaPeak.Gflops(threads);
        foreach (var (name, title, holds) in Sections.Where(s => named.Contains(s.Name)))
        {
            var cases = KernelCases.Races.Where(holds).Where(c => c.Family != KernelRegistry.Gemm || c.Flops <= 2.0 * maxN * maxN * maxN).ToList();
            Write(title, cases, peak);
        }
        AnsiConsole.MarkupLine($"[grey]{threads} thread(s); peak = {peak:F0} GFLOP/s (the FMA loop on as many threads, measured now); ◀ = the variant the engine runs for the shape; " +
            "FLOPs count the direct algorithm (Winograd does fewer multiplies, so its rate can pass the peak); GB/s counts each input read once and each output written once; " +
            "max err = max |x − ref| / (1 + |ref|) against the double-precision reference, on the case itself or, where the reference would take minutes, a cut of it (batch 2, n = 256, 8 heads)[/]");
        return 0;
    }

    static void WriteRules()
    {
        var table = new Table().Title("Kernel table").AddColumns("family", "variants", "the engine runs");
        foreach (var f in KernelRegistry.All)
            table.AddRow(f.Name, string.Join(", ", f.VariantNames), Markup.Escape(f.Rule));
        AnsiConsole.Write(table);
    }

    static void Write(string title, IReadOnlyList<KernelCase> cases, double peak)
    {
        bool computeBound = cases.Any(c => c.Flops > 0);
        var table = new Table().Title(title).AddColumns(["shape", "kernel", "variant", "ms", .. computeBound ? new[] { "GFLOP/s", "% of peak" } : ["GB/s"], "max err"]);
        foreach (var c in cases)
        {
            string runs = c.Runs;
            bool referenceAffordable = c.ErrorCase == c;
            foreach (var v in c.Variants)
            {
                bool isReference = v == c.Variants[0];
                if (isReference && !referenceAffordable) continue;              // the scalar reference at batch 64 or n = 2048 takes minutes
                var prepared = c.Prepare(v);
                double ms = Timing.MedianMs(prepared.Run, minRuns: isReference ? 1 : 5, minSeconds: isReference ? 0 : 0.5);
                string err = isReference ? "—" : c.ErrorCase.Check(v).MaxError.ToString("0.0E+0");
                double? gflops = c.Flops > 0 ? c.Flops / (ms * 1e6) : null;
                double? gbs = c.Bytes > 0 ? c.Bytes / (ms * 1e6) : null;
                string[] rate = computeBound
                    ? [gflops?.ToString("F1") ?? "–", gflops is double g ? (g / peak * 100).ToString("F0") + "%" : "–"]
                    : [gbs?.ToString("F1") ?? "–"];
                table.AddRow([Markup.Escape(c.Name), c.Family.Name, v == runs ? $"[bold]{v} ◀[/]" : v, ms.ToString("F2"), .. rate, err]);
            }
        }
        AnsiConsole.Write(table);
    }
}
