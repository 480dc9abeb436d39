using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Kernels.Cpu;

namespace Bench;

/// <summary>
/// Every fast softmax and log-softmax variant of the registry, forward and backward, along the last axis of named
/// shapes, in GB/s of compulsory traffic (forward reads x, writes y; backward reads y and dy, writes dx).
/// <c>dotnet run -c Release --project bench -- --filter '*SoftmaxBench*' --job short</c>
/// </summary>
[Config(typeof(SoftmaxConfig))]
public class SoftmaxBench
{
    /// <summary>Named (rows, len): W3's attention scores, class logits of a large batch, long rows.</summary>
    public static readonly IReadOnlyDictionary<string, (int Rows, int Len)> Shapes = new Dictionary<string, (int, int)>
    {
        ["scores-50176x196"] = (64 * 4 * 196, 196),
        ["logits-65536x10"] = (65536, 10),
        ["rows-256x4096"] = (256, 4096),
    };

    public static IEnumerable<string> VariantNames => KernelRegistry.SoftmaxForward.Where(v => !v.IsReference).Select(v => v.Name);
    public static IEnumerable<string> ShapeNames => Shapes.Keys;

    [ParamsSource(nameof(VariantNames))] public string Variant { get; set; } = "";
    [ParamsSource(nameof(ShapeNames))] public string Shape { get; set; } = "";
    [Params("softmax-forward", "softmax-backward", "log-softmax-forward", "log-softmax-backward")] public string Pass { get; set; } = "";

    Action run = () => { };

    [GlobalSetup]
    public void Setup()
    {
        var (rows, len) = Shapes[Shape];
        var rng = new Random(1);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => rng.NextSingle() * 4 - 2).ToArray();
        float[] x = R(rows * len), dy = R(rows * len), y = new float[rows * len], dx = new float[rows * len];
        bool log = Pass.StartsWith("log-");
        var forward = (log ? KernelRegistry.LogSoftmaxForward : KernelRegistry.SoftmaxForward).Single(v => v.Name == Variant).Run;
        var backward = (log ? KernelRegistry.LogSoftmaxBackward : KernelRegistry.SoftmaxBackward).Single(v => v.Name == Variant).Run;
        forward(rows, len, 1, x, y);
        run = Pass.EndsWith("forward") ? () => forward(rows, len, 1, x, y) : () => backward(rows, len, 1, y, dy, dx);
    }

    [Benchmark]
    public void Run() => run();

    sealed class SoftmaxConfig : ManualConfig
    {
        public SoftmaxConfig() => AddColumn(new ThroughputColumn("GB/s", "4 bytes × (2 forward, 3 backward) × rows·len / mean time", c =>
        {
            var (rows, len) = Shapes[ThroughputColumn.Param(c, "Shape")];
            return 4.0 * rows * len * (ThroughputColumn.Param(c, "Pass").EndsWith("forward") ? 2 : 3);
        }));
    }
}
