using BenchmarkDotNet.Running;

namespace Bench;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project bench -- --filter '*Gemm*'</c> (any BenchmarkDotNet switch works).
/// Suites: GemmBench, AttentionBench, ConvBench, NormBench, SoftmaxBench, AdamWBench; each races the registered variants
/// of its kernel on named shapes with a GFLOP/s or GB/s column. <c>--job short</c> gives a quick pass.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
