using System.Text.Json;
using Cli.Workloads;
using Engine;
using Engine.Autograd;
using Kernels.Cpu;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine bench W1..W5 [--threads N] [--json] [--device D] [--profile]</c>: times each case of a reference workload
/// (kernel workloads include the GPU variants when --device names a GPU; W1 and W2 then run on it). --profile adds,
/// for the cases made of autograd ops (W1, W2), a table of each op's forward and backward time per run.
/// </summary>
public static class BenchCommand
{
    /// <summary>Readable JSON: '+' and 'ᵀ' as themselves, not \u escapes.</summary>
    static readonly JsonSerializerOptions JsonLines = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static int Run(Args args)
    {
        int threads = args.Int("threads", Environment.ProcessorCount, 1, 1024, shown: "all logical cores");
        bool json = args.Flag("json");
        bool profile = args.Flag("profile");
        var device = DeviceOption.Read(args);
        args.RejectUnknown();
        if (args.Positionals.Count == 0) throw new UsageException($"name a workload: {string.Join(", ", WorkloadRegistry.Names)}");
        Parallelism.MaxThreads = threads;

        var profiles = new List<(BenchCase Case, OpProfile Profile)>();
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
                if (profile && c.Flops == 0) profiles.Add((c, Profile(c.Run)));
            }
        if (!json)
        {
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[grey]{threads} thread(s); peak = the FMA loop's {FmaPeak.Gflops(threads):F0} GFLOP/s on {threads} thread(s), measured now[/]");
            AnsiConsole.MarkupLine($"[grey]recycled CPU arrays: {HostPool.Hits:N0} reused, {HostPool.Misses:N0} fresh ({HostPool.MissBytes / 1e9:F2} GB), {HostPool.Collected:N0} found unreachable, {HostPool.InducedCollections} collections run by the pool; {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)} gen0/1/2 collections[/]");
        }
        foreach (var (c, p) in profiles) WriteProfile(c, p);
        return 0;
    }

    const int ProfiledRuns = 5;

    /// <summary>Runs <paramref name="run"/> <see cref="ProfiledRuns"/> times (after timing warmed it up) under one op profile.</summary>
    static OpProfile Profile(Action run)
    {
        using var p = OpProfile.Start();
        for (int i = 0; i < ProfiledRuns; i++) { OpProfile.Skip(); run(); }
        return p;
    }

    /// <summary>The profile as a table, ms per run; the last row is the time no op accounts for (optimizer step, set-up).</summary>
    static void WriteProfile(BenchCase c, OpProfile p)
    {
        const int runs = ProfiledRuns;
        var t = new Table().Title($"{c.Workload} {c.Case}: ms per run, {runs} runs under the op profile").AddColumns("op", "calls", "forward", "backward", "total", "share");
        double all = p.ElapsedMs / runs, shown = 0;
        foreach (var e in p.Entries)
        {
            double f = e.ForwardMs / runs, b = e.BackwardMs / runs;
            if (f + b < 0.005 * all) continue;
            shown += f + b;
            t.AddRow(e.Op, (e.ForwardCalls / runs).ToString(), f.ToString("F1"), e.BackwardCalls > 0 ? b.ToString("F1") : "–", (f + b).ToString("F1"), $"{(f + b) / all:P0}");
        }
        t.AddRow("[grey]ops under 0.5 % and outside ops[/]", "", "", "", (all - shown).ToString("F1"), $"{(all - shown) / all:P0}");
        t.AddRow("[bold]run[/]", "", "", "", all.ToString("F1"), "100%");
        AnsiConsole.Write(t);
    }
}
