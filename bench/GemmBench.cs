using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Kernels.Cpu;

namespace Bench;

/// <summary>
/// Every fast GEMM variant of the registry on named shapes (the reference is left out: it takes minutes at 2048).
/// <c>dotnet run -c Release --project bench -- --filter '*GemmBench*'</c>; add <c>--job short</c> for a quick pass.
/// </summary>
[Config(typeof(GemmConfig))]
public class GemmBench
{
    /// <summary>Named m×n×k shapes: squares, and the skinny products of conv layers (im2col, both orientations).</summary>
    public static readonly IReadOnlyDictionary<string, (int M, int N, int K)> Shapes = new Dictionary<string, (int, int, int)>
    {
        ["sq64"] = (64, 64, 64),
        ["sq256"] = (256, 256, 256),
        ["sq512"] = (512, 512, 512),
        ["sq1024"] = (1024, 1024, 1024),
        ["sq2048"] = (2048, 2048, 2048),
        ["conv-64x3136x576"] = (64, 3136, 576),
        ["conv-3136x64x576"] = (3136, 64, 576),
        ["conv-25088x32x9"] = (25088, 32, 9),
    };

    public static IEnumerable<string> VariantNames => KernelRegistry.Gemm.Where(v => !v.IsReference).Select(v => v.Name);
    public static IEnumerable<string> ShapeNames => Shapes.Keys;

    [ParamsSource(nameof(VariantNames))] public string Variant { get; set; } = "";
    [ParamsSource(nameof(ShapeNames))] public string Shape { get; set; } = "";

    GemmKernel kernel = Gemm.Reference;
    float[] a = [], b = [], c = [];
    int m, n, k;

    [GlobalSetup]
    public void Setup()
    {
        kernel = KernelRegistry.Gemm.Single(v => v.Name == Variant).Run;
        (m, n, k) = Shapes[Shape];
        var rng = new Random(1);
        a = Enumerable.Range(0, m * k).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        b = Enumerable.Range(0, k * n).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        c = new float[m * n];
    }

    [Benchmark]
    public void Run() => kernel(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);

    /// <summary>The default job plus a GFLOP/s column: 2·m·n·k divided by the mean time.</summary>
    sealed class GemmConfig : ManualConfig
    {
        public GemmConfig() => AddColumn(new ThroughputColumn("GFLOP/s", "2·m·n·k / mean time", c =>
        {
            var (m, n, k) = Shapes[ThroughputColumn.Param(c, "Shape")];
            return 2.0 * m * n * k;
        }));
    }
}
