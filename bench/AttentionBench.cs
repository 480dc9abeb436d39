using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Kernels.Cpu;

namespace Bench;

/// <summary>
/// Every fast attention variant of the registry (flash-avx512, flash-avx2, flash-vector where accelerated), forward and
/// backward, on named shapes; the reference is left out (seconds per call).
/// <c>dotnet run -c Release --project bench -- --filter '*AttentionBench*' --job short</c>
/// </summary>
[Config(typeof(AttentionConfig))]
public class AttentionBench
{
    /// <summary>Named (heads = B·H, T_q, T_k, D, causal) shapes: W3, the 7×7 attention of W1 at batch 64, a causal sequence.</summary>
    public static readonly IReadOnlyDictionary<string, (int Heads, int Tq, int Tk, int D, bool Causal)> Shapes =
        new Dictionary<string, (int, int, int, int, bool)>
        {
            ["w3-256x196x64"] = (256, 196, 196, 64, false),
            ["w1-256x49x16"] = (256, 49, 49, 16, false),
            ["causal-16x256x64"] = (16, 256, 256, 64, true),
        };

    public static IEnumerable<string> VariantNames => KernelRegistry.AttentionForward.Where(v => !v.IsReference).Select(v => v.Name);
    public static IEnumerable<string> ShapeNames => Shapes.Keys;

    [ParamsSource(nameof(VariantNames))] public string Variant { get; set; } = "";
    [ParamsSource(nameof(ShapeNames))] public string Shape { get; set; } = "";
    [Params("forward", "backward")] public string Pass { get; set; } = "";

    AttentionForwardKernel forward = Attention.ForwardReference;
    AttentionBackwardKernel backward = Attention.BackwardReference;
    float[] q = [], k = [], v = [], o = [], lse = [], dO = [], dq = [], dk = [], dv = [];
    int heads, tq, tk, d;
    bool causal;
    float scale;

    [GlobalSetup]
    public void Setup()
    {
        forward = KernelRegistry.AttentionForward.Single(x => x.Name == Variant).Run;
        backward = KernelRegistry.AttentionBackward.Single(x => x.Name == Variant).Run;
        (heads, tq, tk, d, causal) = Shapes[Shape];
        scale = 1f / MathF.Sqrt(d);
        var rng = new Random(1);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        q = R(heads * tq * d); k = R(heads * tk * d); v = R(heads * tk * d); dO = R(heads * tq * d);
        o = new float[q.Length]; lse = new float[heads * tq];
        dq = new float[q.Length]; dk = new float[k.Length]; dv = new float[v.Length];
        forward(heads, tq, tk, d, scale, causal, q, k, v, o, lse);
    }

    [Benchmark]
    public void Run()
    {
        if (Pass == "forward") forward(heads, tq, tk, d, scale, causal, q, k, v, o, lse);
        else backward(heads, tq, tk, d, scale, causal, q, k, v, o, lse, dO, dq, dk, dv);
    }

    /// <summary>FLOPs of one call: 4·D per visible (query, key) pair forward, twice that backward (recomputation not counted).</summary>
    public static double Flops(string shape, string pass)
    {
        var (heads, tq, tk, d, causal) = Shapes[shape];
        double pairs = 0;
        for (int i = 0; i < tq; i++) pairs += causal ? Math.Clamp(i + 1 + (tk - tq), 0, tk) : tk;
        return heads * pairs * 4.0 * d * (pass == "forward" ? 1 : 2);
    }

    sealed class AttentionConfig : ManualConfig
    {
        public AttentionConfig() => AddColumn(new ThroughputColumn("GFLOP/s",
            "4·D FLOPs per visible query-key pair forward, 8·D backward, / mean time",
            c => Flops(ThroughputColumn.Param(c, "Shape"), ThroughputColumn.Param(c, "Pass"))));
    }
}
