using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Kernels.Cpu;

namespace Bench;

/// <summary>
/// Every declared race case (<see cref="KernelCases.Races"/>: the GEMM, convolution, attention, norm, softmax and AdamW
/// shapes of the workloads) with every registered variant that computes it, the reference left out where it would
/// take minutes; a GFLOP/s column (FLOPs of the direct algorithm) or a GB/s one (compulsory traffic). The same cases
/// are checked by the tests and raced by <c>engine kernels</c>; a new variant or shape shows up here with no change.
/// <c>dotnet run -c Release --project bench -- --filter '*KernelBench*' --job short</c>.
/// </summary>
[Config(typeof(KernelConfig))]
public class KernelBench
{
    const string Separator = " :: ";

    /// <summary>"family shape :: variant" for every case and variant timed.</summary>
    public static IEnumerable<string> Kernels =>
        from c in KernelCases.Races
        from v in c.Variants
        where v != c.Variants[0] || c.ErrorCase == c
        select $"{c}{Separator}{v}";

    [ParamsSource(nameof(Kernels))] public string Kernel { get; set; } = "";

    Action run = () => { };

    static KernelCase Case(string kernel)
    {
        string name = kernel[..kernel.IndexOf(Separator)];
        return KernelCases.Races.First(c => c.ToString() == name);
    }

    [GlobalSetup]
    public void Setup() => run = Case(Kernel).Prepare(Kernel[(Kernel.IndexOf(Separator) + Separator.Length)..]).Run;

    [Benchmark]
    public void Run() => run();

    sealed class KernelConfig : ManualConfig
    {
        public KernelConfig()
        {
            AddColumn(new ThroughputColumn("GFLOP/s", "FLOPs of the direct algorithm / mean time (compute-bound cases)", c => Case(ThroughputColumn.Param(c, "Kernel")).Flops));
            AddColumn(new ThroughputColumn("GB/s", "inputs read once and outputs written once / mean time (memory-bound cases)", c => Case(ThroughputColumn.Param(c, "Kernel")).Bytes));
        }
    }
}
