using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Kernels.Cpu;

namespace Bench;

/// <summary>
/// Every fast AdamW update variant of the registry on named parameter counts, in GB/s of compulsory traffic
/// (reads parameter, gradient and both moments, writes parameter and both moments: 7 floats per parameter).
/// <c>dotnet run -c Release --project bench -- --filter '*AdamWBench*' --job short</c>
/// </summary>
[Config(typeof(AdamWConfig))]
public class AdamWBench
{
    /// <summary>Named parameter counts: one small tensor, the W1 UNet-S, the W2 DiT-T/2.</summary>
    public static readonly IReadOnlyDictionary<string, int> Shapes = new Dictionary<string, int>
    {
        ["tensor-4096"] = 4096,
        ["w1-1.34M"] = 1_340_000,
        ["w2-7.4M"] = 7_400_000,
    };

    public static IEnumerable<string> VariantNames => KernelRegistry.AdamW.Where(v => !v.IsReference).Select(v => v.Name);
    public static IEnumerable<string> ShapeNames => Shapes.Keys;

    [ParamsSource(nameof(VariantNames))] public string Variant { get; set; } = "";
    [ParamsSource(nameof(ShapeNames))] public string Shape { get; set; } = "";

    AdamWKernel kernel = AdamW.Reference;
    float[] p = [], g = [], m = [], v = [];

    [GlobalSetup]
    public void Setup()
    {
        kernel = KernelRegistry.AdamW.Single(x => x.Name == Variant).Run;
        int n = Shapes[Shape];
        var rng = new Random(1);
        float[] R(float scale) => Enumerable.Range(0, n).Select(_ => (rng.NextSingle() - 0.5f) * scale).ToArray();
        p = R(1); g = R(0.1f); m = R(0.01f); v = R(1e-4f).Select(Math.Abs).ToArray();
    }

    /// <summary>Step 10 of the update; repeated calls keep updating the same state (the timing does not depend on the values).</summary>
    [Benchmark]
    public void Run() => kernel(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 10);

    sealed class AdamWConfig : ManualConfig
    {
        public AdamWConfig() => AddColumn(new ThroughputColumn("GB/s", "7 floats × 4 bytes per parameter / mean time",
            c => 28.0 * Shapes[ThroughputColumn.Param(c, "Shape")]));
    }
}
