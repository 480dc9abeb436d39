using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Kernels.Cpu;

namespace Bench;

/// <summary>
/// Every fast convolution kernel of the registry, by pass and variant name (whatever is registered: the list follows
/// <see cref="KernelRegistry"/>), on named shapes; the direct reference is left out.
/// <c>dotnet run -c Release --project bench -- --filter '*ConvBench*' --job short</c>
/// </summary>
[Config(typeof(ConvConfig))]
public class ConvBench
{
    /// <summary>Named 3×3, stride 1, padding 1 convolutions: W4 and two layers of W1 at batch 64.</summary>
    public static readonly IReadOnlyDictionary<string, Conv2dGeometry> Shapes = new Dictionary<string, Conv2dGeometry>
    {
        ["w4-64x64x28x28"] = Conv2dGeometry.Of(64, 64, 28, 28, 64, 3, 3, padH: 1, padW: 1),
        ["w1-64x32x28x28"] = Conv2dGeometry.Of(64, 32, 28, 28, 32, 3, 3, padH: 1, padW: 1),
        ["w1-64x64x14x14"] = Conv2dGeometry.Of(64, 64, 14, 14, 64, 3, 3, padH: 1, padW: 1),
    };

    /// <summary>"pass:variant" for every registered non-reference kernel of the three passes.</summary>
    public static IEnumerable<string> KernelNames =>
        KernelRegistry.Conv2dForward.Where(v => !v.IsReference).Select(v => "forward:" + v.Name)
            .Concat(KernelRegistry.Conv2dInputGrad.Where(v => !v.IsReference).Select(v => "input-grad:" + v.Name))
            .Concat(KernelRegistry.Conv2dWeightGrad.Where(v => !v.IsReference).Select(v => "weight-grad:" + v.Name));
    public static IEnumerable<string> ShapeNames => Shapes.Keys;

    [ParamsSource(nameof(KernelNames))] public string Kernel { get; set; } = "";
    [ParamsSource(nameof(ShapeNames))] public string Shape { get; set; } = "";

    Action run = () => { };

    [GlobalSetup]
    public void Setup()
    {
        var g = Shapes[Shape];
        var rng = new Random(1);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        var x = R(g.InputLength); var w = R(g.WeightLength); var bias = R(g.OutChannels); var y = R(g.OutputLength);
        string pass = Kernel[..Kernel.IndexOf(':')], name = Kernel[(Kernel.IndexOf(':') + 1)..];
        switch (pass)
        {
            case "forward":
                var f = KernelRegistry.Conv2dForward.Single(v => v.Name == name).Run;
                run = () => f(g, x, w, bias, y);
                break;
            case "input-grad":
                var ig = KernelRegistry.Conv2dInputGrad.Single(v => v.Name == name).Run;
                run = () => ig(g, y, w, x);
                break;
            default:
                var wg = KernelRegistry.Conv2dWeightGrad.Single(v => v.Name == name).Run;
                run = () => wg(g, x, y, w);
                break;
        }
    }

    [Benchmark]
    public void Run() => run();

    sealed class ConvConfig : ManualConfig
    {
        public ConvConfig() => AddColumn(new ThroughputColumn("GFLOP/s", "2 · multiply-adds of the forward (the same for each gradient) / mean time",
            c => 2.0 * Shapes[ThroughputColumn.Param(c, "Shape")].MacCount));
    }
}
