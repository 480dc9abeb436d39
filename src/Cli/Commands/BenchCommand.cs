using System.Text.Json;
using Cli.Workloads;
using Engine;
using Kernels.Cpu;
using Spectre.Console;

namespace Cli.Commands;

/// <summary><c>engine bench W1..W5 [--threads N] [--json] [--device D]</c>: times each case of a reference workload (kernel workloads include the GPU variants when --device names a GPU; W1 and W2 then run on it).</summary>
public static class BenchCommand
{
    /// <summary>Readable JSON: '+' and 'ᵀ' as themselves, not \u escapes.</summary>
    static readonly JsonSerializerOptions JsonLines = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static int Run(Args args)
    {
        int threads = args.Int("threads", Environment.ProcessorCount, 1, 1024);
        bool json = args.Flag("json");
        var device = DeviceOption.Read(args);
        args.RejectUnknown();
        if (args.Positionals.Count == 0) throw new UsageException($"name a workload: {string.Join(", ", WorkloadRegistry.Names)}");
        Parallelism.MaxThreads = threads;

        var table = new Table().AddColumns("workload", "case", "variant", "ms", "GFLOP/s", "% of peak");
        foreach (var w in args.Positionals)
            foreach (var c in WorkloadRegistry.Cases(w.ToUpperInvariant(), device))
            {
                double ms = Timing.MedianMs(c.Run);
                // Cases without a FLOP count (whole training steps) report time only: null in JSON, "–" in the table.
                double? gflops = c.Flops > 0 ? c.Flops / (ms * 1e6) : null;
                if (json)
                    Console.WriteLine(JsonSerializer.Serialize(new { workload = c.Workload, @case = c.Case, variant = c.Variant, ms = Math.Round(ms, 3), gflops = gflops is double g ? Math.Round(g, 2) : (double?)null }, JsonLines));
                else
                    table.AddRow(c.Workload, c.Case, c.Variant, ms.ToString("F2"), gflops?.ToString("F1") ?? "–", gflops is double g2 ? (g2 / FmaPeak.Gflops(threads) * 100).ToString("F0") + "%" : "–");
            }
        if (!json)
        {
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{threads} thread(s); peak = the FMA loop's {FmaPeak.Gflops(threads):F0} GFLOP/s on {threads} thread(s), measured now[/]");
            AnsiConsole.MarkupLine($"[grey]recycled CPU arrays: {HostPool.Hits:N0} reused, {HostPool.Misses:N0} fresh ({HostPool.MissBytes / 1e9:F2} GB), {HostPool.Collected:N0} found unreachable, {HostPool.InducedCollections} collections run by the pool; {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)} gen0/1/2 collections[/]");
        }
        return 0;
    }
}
