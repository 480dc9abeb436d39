using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Kernels.Cpu;

namespace Bench;

/// <summary>
/// Every fast row-norm variant of the registry (GroupNorm and LayerNorm, forward and backward) on named shapes,
/// in GB/s of compulsory traffic (forward reads x and writes y; backward reads x and dy and writes dx).
/// <c>dotnet run -c Release --project bench -- --filter '*NormBench*' --job short</c>
/// </summary>
[Config(typeof(NormConfig))]
public class NormBench
{
    /// <summary>Named (rows, len, groups, spatial): GroupNorm(8) of W4's activations and of W1's first level, LayerNorm of W2's tokens.</summary>
    public static readonly IReadOnlyDictionary<string, (int Rows, int Len, int Groups, int Spatial)> Shapes =
        new Dictionary<string, (int, int, int, int)>
        {
            ["groupnorm-64x64x28x28"] = (64 * 8, 8 * 28 * 28, 8, 28 * 28),
            ["groupnorm-64x32x28x28"] = (64 * 8, 4 * 28 * 28, 8, 28 * 28),
            ["layernorm-12544x256"] = (64 * 196, 256, 1, 1),
        };

    public static IEnumerable<string> VariantNames => KernelRegistry.RowNormForward.Where(v => !v.IsReference).Select(v => v.Name);
    public static IEnumerable<string> ShapeNames => Shapes.Keys;

    [ParamsSource(nameof(VariantNames))] public string Variant { get; set; } = "";
    [ParamsSource(nameof(ShapeNames))] public string Shape { get; set; } = "";
    [Params("forward", "backward")] public string Pass { get; set; } = "";

    RowNormForwardKernel forward = Norm.RowForwardReference;
    RowNormBackwardKernel backward = Norm.RowBackwardReference;
    float[] x = [], y = [], dy = [], dx = [], w = [], b = [], dw = [], db = [], mean = [], rstd = [];
    int rows, len, groups, spatial;

    [GlobalSetup]
    public void Setup()
    {
        forward = KernelRegistry.RowNormForward.Single(v => v.Name == Variant).Run;
        backward = KernelRegistry.RowNormBackward.Single(v => v.Name == Variant).Run;
        (rows, len, groups, spatial) = Shapes[Shape];
        int numel = rows * len, channels = groups * (len / spatial);
        var rng = new Random(1);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        x = R(numel); dy = R(numel); w = R(channels); b = R(channels);
        y = new float[numel]; dx = new float[numel]; dw = new float[channels]; db = new float[channels];
        mean = new float[rows]; rstd = new float[rows];
        forward(rows, len, groups, spatial, 1e-5f, true, x, w, b, y, mean, rstd);
    }

    [Benchmark]
    public void Run()
    {
        if (Pass == "forward") forward(rows, len, groups, spatial, 1e-5f, true, x, w, b, y, mean, rstd);
        else backward(rows, len, groups, spatial, true, x, w, mean, rstd, dy, dx, dw, db);
    }

    sealed class NormConfig : ManualConfig
    {
        public NormConfig() => AddColumn(new ThroughputColumn("GB/s", "4 bytes × (2 forward, 3 backward) × rows·len / mean time", c =>
        {
            var (rows, len, _, _) = Shapes[ThroughputColumn.Param(c, "Shape")];
            return 4.0 * rows * len * (ThroughputColumn.Param(c, "Pass") == "forward" ? 2 : 3);
        }));
    }
}
