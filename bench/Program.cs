using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

namespace Bench;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project bench -- --filter '*Gemm*'</c> (any BenchmarkDotNet switch works).
/// Suites: KernelBench (every declared race case of <see cref="Kernels.Cpu.KernelCases"/> with every registered variant
/// that computes it, with a GFLOP/s or GB/s column) and DenoisingBench (one guided DDIM step and a 50-step sample of W1);
/// the memory diagnoser adds the bytes allocated per call (the fast paths allocate nothing once warmed up). <c>--job short</c> gives a quick pass.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default));
}
