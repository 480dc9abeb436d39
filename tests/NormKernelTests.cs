using Engine.Random;
using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>Norm kernels beyond the declared cases (<see cref="KernelCaseTests"/>): gradients asked for one at a time, the SiLU form, hand-computed values, bad sizes.</summary>
public sealed class NormKernelTests
{
    /// <summary>How the rows map to channels: LayerNorm and RMSNorm (one channel per element), GroupNorm (3 groups).</summary>
    public enum Layout { Layer, LayerPlain, Rms, Group, GroupPlain }

    internal static float[] Normal(int n, ulong seed, float mean = 0f, float std = 1f)
    {
        var a = new float[n];
        new Generator(seed).FillNormal(a, mean, std);
        return a;
    }

    internal static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tol, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i]))))
                Assert.Fail($"{what}: element {i} is {actual[i]}, reference {expected[i]}");
    }

    /// <summary>groups, spatial, centered and affine for a layout; GroupNorm spans several channels per row where len allows.</summary>
    static (int Groups, int Spatial, bool Center, bool Affine) Configure(Layout layout, int len) => layout switch
    {
        Layout.Layer => (1, 1, true, true),
        Layout.LayerPlain => (1, 1, true, false),
        Layout.Rms => (1, 1, false, true),
        _ => (3, len switch { 33 => 11, 784 => 49, 4099 => 4099, _ => len }, true, layout == Layout.Group),
    };

    static void CheckBackward(int rows, int len, Layout layout)
    {
        var (groups, spatial, center, affine) = Configure(layout, len);
        int channels = groups * (len / spatial);
        var x = Normal(rows * len, 4, mean: -2f, std: 1.5f); var dy = Normal(rows * len, 5);
        float[] w = affine ? Normal(channels, 6) : [];
        var mean = new float[rows]; var rstd = new float[rows];
        Norm.RowForwardReference(rows, len, groups, spatial, 1e-5f, center, x, w, [], new float[rows * len], mean, rstd);
        var dx = new float[rows * len]; var dw = new float[channels]; var db = new float[channels];
        Norm.RowBackwardReference(rows, len, groups, spatial, center, x, w, mean, rstd, dy, dx, dw, db);
        foreach (var v in KernelRegistry.RowNormBackward.Where(v => !v.IsReference))
        {
            var dxv = Enumerable.Repeat(float.NaN, rows * len).ToArray();
            var dwv = Enumerable.Repeat(float.NaN, channels).ToArray(); var dbv = Enumerable.Repeat(float.NaN, channels).ToArray();
            v.Run(rows, len, groups, spatial, center, x, w, mean, rstd, dy, dxv, dwv, dbv);
            AssertClose(dx, dxv, 1e-4f, $"{v.Name} dx");
            AssertClose(dw, dwv, 1e-4f, $"{v.Name} dweight");
            AssertClose(db, dbv, 1e-4f, $"{v.Name} dbias");
            // Gradients that are not asked for are not computed, and do not change the others.
            var dxOnly = new float[rows * len];
            v.Run(rows, len, groups, spatial, center, x, w, mean, rstd, dy, dxOnly, default, default);
            AssertClose(dx, dxOnly, 1e-4f, $"{v.Name} dx alone");
            var dwOnly = new float[channels];
            v.Run(rows, len, groups, spatial, center, x, w, mean, rstd, dy, default, dwOnly, default);
            AssertClose(dw, dwOnly, 1e-4f, $"{v.Name} dweight alone");
        }
    }

    /// <summary>Gradients not asked for are not computed and do not change the others (the declared cases check every variant with all three).</summary>
    [TestCase(Layout.Layer), TestCase(Layout.Group)]
    public void Row_norm_backward_computes_only_what_is_asked(Layout layout) => CheckBackward(7, 33, layout);

    /// <summary>Row norm then SiLU: every variant against the double reference, which is itself the row norm followed by SiLU.</summary>
    static void CheckSilu(int rows, int len, Layout layout)
    {
        var (groups, spatial, center, affine) = Configure(layout, len);
        int channels = groups * (len / spatial);
        var x = Normal(rows * len, 11, mean: 1f, std: 2f); var dy = Normal(rows * len, 12);
        float[] w = affine ? Normal(channels, 13) : [], b = affine ? Normal(channels, 14) : [];
        var y = new float[rows * len]; var mean = new float[rows]; var rstd = new float[rows];
        Norm.RowForwardSiluReference(rows, len, groups, spatial, 1e-5f, center, x, w, b, y, mean, rstd);
        var z = new float[rows * len];
        Norm.RowForwardReference(rows, len, groups, spatial, 1e-5f, center, x, w, b, z, new float[rows], new float[rows]);
        for (int i = 0; i < z.Length; i++) Assert.That(y[i], Is.EqualTo(z[i] / (1 + Math.Exp(-z[i]))).Within(1e-5 * (1 + Math.Abs(z[i]))), "reference is the row norm then SiLU");
        var dx = new float[rows * len]; var dw = new float[channels]; var db = new float[channels];
        Norm.RowBackwardSiluReference(rows, len, groups, spatial, center, x, w, b, mean, rstd, dy, dx, dw, db);
        foreach (var v in KernelRegistry.RowNormSiluForward.Where(v => !v.IsReference))
        {
            var yv = Enumerable.Repeat(float.NaN, rows * len).ToArray();
            var mv = new float[rows]; var rv = new float[rows];
            v.Run(rows, len, groups, spatial, 1e-5f, center, x, w, b, yv, mv, rv);
            AssertClose(y, yv, 1e-5f, $"{v.Name} y");
            AssertClose(rstd, rv, 1e-5f, $"{v.Name} rstd");
        }
        foreach (var v in KernelRegistry.RowNormSiluBackward.Where(v => !v.IsReference))
        {
            var dxv = Enumerable.Repeat(float.NaN, rows * len).ToArray();
            var dwv = Enumerable.Repeat(float.NaN, channels).ToArray(); var dbv = Enumerable.Repeat(float.NaN, channels).ToArray();
            v.Run(rows, len, groups, spatial, center, x, w, b, mean, rstd, dy, dxv, dwv, dbv);
            AssertClose(dx, dxv, 1e-4f, $"{v.Name} dx");
            AssertClose(dw, dwv, 1e-4f, $"{v.Name} dweight");
            AssertClose(db, dbv, 1e-4f, $"{v.Name} dbias");
        }
    }

    /// <summary>The reference row norm then SiLU is the row norm followed by SiLU.</summary>
    [Test]
    public void Row_norm_silu_reference_is_the_norm_then_silu() => CheckSilu(7, 33, Layout.Group);

    [Test]
    public void Reference_row_norm_matches_hand_computed_values()
    {
        // Row [1, 2, 3, 6]: mean 3, variance (4 + 1 + 0 + 9)/4 = 3.5.
        var y = new float[4]; var mean = new float[1]; var rstd = new float[1];
        Norm.RowForwardReference(1, 4, 1, 1, 0f, true, [1, 2, 3, 6], [], [], y, mean, rstd);
        double s = Math.Sqrt(3.5);
        Assert.That(mean[0], Is.EqualTo(3f));
        Assert.That(y, Is.EqualTo(new[] { -2 / s, -1 / s, 0, 3 / s }).Within(1e-6));
        // RMS: [3, 4] → rms √12.5; two groups of two channels with weights 2 and bias 1 on the second channel.
        Norm.RowForwardReference(1, 2, 1, 1, 0f, false, [3, 4], [1, 2], [0, 1], y.AsSpan(0, 2), mean, rstd);
        Assert.That(y[..2], Is.EqualTo(new[] { 3 / Math.Sqrt(12.5), 8 / Math.Sqrt(12.5) + 1 }).Within(1e-6));
        Assert.That(mean[0], Is.EqualTo(0f));
    }

    [Test]
    public void Wrong_sizes_are_rejected()
    {
        foreach (var v in KernelRegistry.RowNormForward)
        {
            Assert.Throws<ArgumentException>(() => v.Run(2, 6, 1, 4, 1e-5f, true, new float[12], [], [], new float[12], new float[2], new float[2]), $"{v.Name}: len not a multiple of spatial");
            Assert.Throws<ArgumentException>(() => v.Run(2, 6, 1, 1, 1e-5f, true, new float[11], [], [], new float[12], new float[2], new float[2]), $"{v.Name}: short x");
            Assert.Throws<ArgumentException>(() => v.Run(2, 6, 1, 1, 1e-5f, true, new float[12], new float[5], [], new float[12], new float[2], new float[2]), $"{v.Name}: short weight");
        }
        foreach (var v in KernelRegistry.BatchNormBackward)
            Assert.Throws<ArgumentException>(() => v.Run(2, 3, 4, true, new float[24], new float[3], new float[3], [], new float[24], new float[23], [], []), $"{v.Name}: short dx");
    }
}
