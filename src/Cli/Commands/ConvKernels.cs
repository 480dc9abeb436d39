using Cli.Workloads;
using Engine.Random;
using Kernels.Cpu;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// The <c>conv</c> section of <c>engine kernels</c>: every registered variant of the convolution forward, input
/// gradient and weight gradient on the W4 shape and the convolution shapes of W1's UNet-S (batch 64), in ms,
/// GFLOP/s and fraction of the FMA peak. The error against the direct reference is measured on the same shape
/// cut to batch 2 (the reference is scalar double code; it is not timed).
/// </summary>
public static class ConvKernels
{
    /// <summary>Named shapes: W4, then the UNet-S convolutions by plane, channels, stride.</summary>
    public static readonly (string Name, Conv2dGeometry G)[] Shapes =
    [
        ("W4 64×64×28² 3×3", Conv2dGeometry.Of(64, 64, 28, 28, 64, 3, 3, padH: 1, padW: 1)),
        ("W1 28² 32→32 3×3", Conv2dGeometry.Of(64, 32, 28, 28, 32, 3, 3, padH: 1, padW: 1)),
        ("W1 28² 96→32 3×3", Conv2dGeometry.Of(64, 96, 28, 28, 32, 3, 3, padH: 1, padW: 1)),
        ("W1 28² 64→64 3×3", Conv2dGeometry.Of(64, 64, 28, 28, 64, 3, 3, padH: 1, padW: 1)),
        ("W1 28² 96→32 1×1", Conv2dGeometry.Of(64, 96, 28, 28, 32, 1, 1)),
        ("W1 28² 32→32 3×3 s2", Conv2dGeometry.Of(64, 32, 28, 28, 32, 3, 3, 2, 2, 1, 1)),
        ("W1 14² 64→64 3×3", Conv2dGeometry.Of(64, 64, 14, 14, 64, 3, 3, padH: 1, padW: 1)),
        ("W1 14² 128→64 3×3", Conv2dGeometry.Of(64, 128, 14, 14, 64, 3, 3, padH: 1, padW: 1)),
        ("W1 14² 128→64 1×1", Conv2dGeometry.Of(64, 128, 14, 14, 64, 1, 1)),
        ("W1 7² 64→64 3×3", Conv2dGeometry.Of(64, 64, 7, 7, 64, 3, 3, padH: 1, padW: 1)),
        ("W1 7² 64→192 1×1", Conv2dGeometry.Of(64, 64, 7, 7, 192, 1, 1)),
    ];

    public static void Write(int threads)
    {
        double peak = FmaPeak.Gflops(threads);
        var table = new Table().Title("Conv2d (W4 and W1 shapes, batch 64)")
            .AddColumns("shape", "pass", "variant", "ms", "GFLOP/s", "% of peak", "max err");
        foreach (var (name, g) in Shapes)
        {
            var gen = new Generator(7);
            var x = Normal(g.InputLength, gen); var w = Normal(g.WeightLength, gen); var b = Normal(g.OutChannels, gen); var dy = Normal(g.OutputLength, gen);
            var y = new float[g.OutputLength]; var dx = new float[g.InputLength]; var dw = new float[g.WeightLength];
            var small = g with { Batch = Math.Min(2, g.Batch) };
            double flops = 2.0 * g.MacCount;

            void Row<TKernel>(string pass, IReadOnlyList<Variant<TKernel>> variants, Func<TKernel, Conv2dGeometry, Action> run, Func<float[]> output) where TKernel : Delegate
            {
                var reference = variants.Single(v => v.IsReference);
                run(reference.Run, small)();
                var expected = output()[..Length(pass, small)];
                foreach (var v in variants.Where(v => !v.IsReference))
                {
                    run(v.Run, small)();
                    double err = MaxError(expected, output());
                    double ms = Timing.MedianMs(run(v.Run, g));
                    double gflops = flops / (ms * 1e6);
                    table.AddRow(name, pass, v.Name, ms.ToString("F2"), gflops.ToString("F1"), (gflops / peak * 100).ToString("F0") + "%", err.ToString("0.0E+0"));
                }
            }

            Row("forward", KernelRegistry.Conv2dForward, (k, geo) => () => k(geo, x.AsSpan(0, geo.InputLength), w, b, y.AsSpan(0, geo.OutputLength)), () => y);
            Row("input grad", KernelRegistry.Conv2dInputGrad, (k, geo) => () => k(geo, dy.AsSpan(0, geo.OutputLength), w, dx.AsSpan(0, geo.InputLength)), () => dx);
            Row("weight grad", KernelRegistry.Conv2dWeightGrad, (k, geo) => () => k(geo, x.AsSpan(0, geo.InputLength), dy.AsSpan(0, geo.OutputLength), dw), () => dw);
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[grey]{threads} thread(s); peak = {peak:F0} GFLOP/s (the FMA loop on as many threads, measured now); each pass counts 2·MACs of the direct forward (Winograd does fewer multiplies, so its rate can pass the peak); " +
            "max err = max |x − ref| / (1 + |ref|) at batch 2, against the double-precision direct reference[/]");
    }

    static int Length(string pass, in Conv2dGeometry g) => pass switch
    {
        "forward" => g.OutputLength,
        "input grad" => g.InputLength,
        _ => g.WeightLength,
    };

    static double MaxError(float[] expected, float[] got)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
            worst = Math.Max(worst, Math.Abs(got[i] - (double)expected[i]) / (1 + Math.Abs(expected[i])));
        return worst;
    }

    static float[] Normal(int n, Generator g)
    {
        var a = new float[n];
        g.FillNormal(a);
        return a;
    }
}
