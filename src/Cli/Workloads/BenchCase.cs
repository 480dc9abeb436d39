using Engine;

namespace Cli.Workloads;

/// <summary>One timed case of a reference workload: what runs, and how many floating-point operations it does.</summary>
public sealed record BenchCase(string Workload, string Case, string Variant, Action Run, double Flops);

/// <summary>The reference workloads of the benchmark (W1..W5), each a list of cases.</summary>
public static class WorkloadRegistry
{
    public static readonly string[] Names = ["W1", "W2", "W3", "W4", "W5"];

    public static IReadOnlyList<BenchCase> Cases(string workload, Device device) => workload switch
    {
        "W5" => W5Gemm.Cases(),
        "W1" => DenoiserWorkloads.W1(device),
        "W2" => DenoiserWorkloads.W2(device),
        "W3" => W3Attention.Cases(),
        "W4" => W4Conv.Cases(),
        _ => throw new UsageException($"workload {workload} is not available yet (available: W1, W2, W3, W4, W5)"),
    };
}
