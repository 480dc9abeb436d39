using Engine.Random;
using Kernels.Cpu;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// The memory-bound sections of <c>engine kernels</c>: norms, softmax and the AdamW update on workload shapes.
/// Each registered variant is timed per pass and reported in GB/s of compulsory traffic (every input read once,
/// every output written once), with its speed-up over the reference and its largest error against it.
/// </summary>
public static class MemoryBoundKernels
{
    /// <summary>Section names, in the order they run.</summary>
    public static readonly string[] Names = ["groupnorm", "layernorm", "softmax", "adamw"];

    /// <summary>The parameter count of the AdamW section.</summary>
    public const int AdamWParameters = 1_340_000;

    public static void Write(string section)
    {
        switch (section)
        {
            case "groupnorm": RowNorm("GroupNorm (64, 64, 28, 28), 8 groups: 512 rows of 6272", 64 * 8, 8 * 28 * 28, 8, 28 * 28); break;
            case "layernorm": RowNorm("LayerNorm (64·196, 256): 12544 rows of 256", 64 * 196, 256, 1, 1); break;
            case "softmax": SoftmaxSection("Softmax along the last axis of (64·4·196, 196)", 64 * 4 * 196, 196); break;
            case "adamw": AdamWSection($"AdamW update of {AdamWParameters / 1e6:0.00} M parameters", AdamWParameters); break;
            default: throw new ArgumentException($"no memory-bound section '{section}'");
        }
    }

    static Table NewTable(string title) =>
        new Table().Title(title).AddColumns("pass", "variant", "ms", "GB/s", "× reference", "max err");

    /// <summary>
    /// Times each variant (the reference first) and adds a row for it. <paramref name="timed"/> gives the call to time;
    /// <paramref name="check"/> runs a variant once more on the inputs the error is measured on and returns its outputs.
    /// </summary>
    static void Race<TKernel>(Table table, string pass, IReadOnlyList<Variant<TKernel>> variants, double bytes,
        Func<TKernel, Action> timed, Func<TKernel, float[][]> check) where TKernel : Delegate
    {
        float[][]? expected = null;
        double referenceMs = double.NaN;
        foreach (var v in variants.OrderBy(v => !v.IsReference))
        {
            double ms = Timing.MedianMs(timed(v.Run), minRuns: v.IsReference ? 1 : 5);
            var got = check(v.Run);
            string err;
            if (v.IsReference) { expected = got.Select(a => (float[])a.Clone()).ToArray(); referenceMs = ms; err = "—"; }
            else err = MaxError(expected!, got).ToString("0.0E+0");
            table.AddRow(pass, v.Name, ms.ToString("F2"), (bytes / (ms * 1e6)).ToString("F1"),
                v.IsReference ? "1.0" : (referenceMs / ms).ToString("F1"), err);
        }
    }

    /// <summary>A pure kernel (same inputs, same outputs): the error is read from the outputs of one more run.</summary>
    static Func<TKernel, float[][]> Outputs<TKernel>(Func<TKernel, Action> timed, Func<float[][]> outputs) => k =>
    {
        timed(k)();
        return outputs();
    };

    /// <summary>max |got − expected| / (1 + |expected|) over every output.</summary>
    static double MaxError(float[][] expected, float[][] got)
    {
        double worst = 0;
        for (int k = 0; k < expected.Length; k++)
            for (int i = 0; i < expected[k].Length; i++)
                worst = Math.Max(worst, Math.Abs(got[k][i] - (double)expected[k][i]) / (1 + Math.Abs(expected[k][i])));
        return worst;
    }

    static float[] Normal(int n, Generator g, float mean = 0f)
    {
        var a = new float[n];
        g.FillNormal(a, mean);
        return a;
    }

    static void RowNorm(string title, int rows, int len, int groups, int spatial)
    {
        int numel = rows * len, channels = groups * (len / spatial);
        var g = new Generator(11);
        var x = Normal(numel, g, 0.5f); var dy = Normal(numel, g); var w = Normal(channels, g); var b = Normal(channels, g);
        var y = new float[numel]; var mean = new float[rows]; var rstd = new float[rows];
        var table = NewTable(title);
        Func<RowNormForwardKernel, Action> forward = k => () => k(rows, len, groups, spatial, 1e-5f, true, x, w, b, y, mean, rstd);
        Race(table, "forward", KernelRegistry.RowNormForward, 4.0 * 2 * numel, forward, Outputs(forward, () => [y, mean, rstd]));
        // Backward from the statistics the last forward left (all variants agree on them to ~1e-7).
        var dx = new float[numel]; var dw = new float[channels]; var db = new float[channels];
        Func<RowNormBackwardKernel, Action> backward = k => () => k(rows, len, groups, spatial, true, x, w, mean, rstd, dy, dx, dw, db);
        Race(table, "backward", KernelRegistry.RowNormBackward, 4.0 * 3 * numel, backward, Outputs(backward, () => [dx, dw, db]));
        if (groups > 1)
        {
            // The fused GroupNorm + SiLU of the UNet's residual blocks: one exp per element each way.
            Func<RowNormForwardKernel, Action> siluForward = k => () => k(rows, len, groups, spatial, 1e-5f, true, x, w, b, y, mean, rstd);
            Race(table, "+SiLU forward", KernelRegistry.RowNormSiluForward, 4.0 * 2 * numel, siluForward, Outputs(siluForward, () => [y, mean, rstd]));
            Func<RowNormSiluBackwardKernel, Action> siluBackward = k => () => k(rows, len, groups, spatial, true, x, w, b, mean, rstd, dy, dx, dw, db);
            Race(table, "+SiLU backward", KernelRegistry.RowNormSiluBackward, 4.0 * 3 * numel, siluBackward, Outputs(siluBackward, () => [dx, dw, db]));
        }
        AnsiConsole.Write(table);
    }

    static void SoftmaxSection(string title, int rows, int len)
    {
        int numel = rows * len;
        var g = new Generator(12);
        var x = Normal(numel, g); var dy = Normal(numel, g);
        var y = new float[numel]; var dx = new float[numel];
        var table = NewTable(title);
        foreach (var (name, forward, backward) in new[]
        {
            ("softmax", KernelRegistry.SoftmaxForward, KernelRegistry.SoftmaxBackward),
            ("log-softmax", KernelRegistry.LogSoftmaxForward, KernelRegistry.LogSoftmaxBackward),
        })
        {
            Func<SoftmaxForwardKernel, Action> fwd = k => () => k(rows, len, 1, x, y);
            Func<SoftmaxBackwardKernel, Action> bwd = k => () => k(rows, len, 1, y, dy, dx);
            Race(table, $"{name} forward", forward, 4.0 * 2 * numel, fwd, Outputs(fwd, () => [y]));
            Race(table, $"{name} backward", backward, 4.0 * 3 * numel, bwd, Outputs(bwd, () => [dx]));
        }
        AnsiConsole.Write(table);
    }

    static void AdamWSection(string title, int n)
    {
        var g = new Generator(13);
        var p0 = Normal(n, g); var grad = Normal(n, g); var m0 = Normal(n, g); var v0 = Normal(n, g);
        for (int i = 0; i < n; i++) { m0[i] *= 0.01f; v0[i] = v0[i] * v0[i] * 1e-4f; }
        var p = (float[])p0.Clone(); var m = (float[])m0.Clone(); var v = (float[])v0.Clone();
        var table = NewTable(title);
        // Timed runs keep updating the same state; the error compares one step (step 10) from the same starting state.
        Race(table, "update", KernelRegistry.AdamW, 4.0 * 7 * n, k => () => k(p, grad, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 10), k =>
        {
            p0.CopyTo(p, 0); m0.CopyTo(m, 0); v0.CopyTo(v, 0);
            k(p, grad, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 10);
            return [p, m, v];
        });
        AnsiConsole.Write(table);
    }
}
