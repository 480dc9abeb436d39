using Engine.Random;
using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>Every convolution kernel variant against the direct reference, on odd geometries.</summary>
public sealed class ConvKernelTests
{
    public sealed record Geometry(string Name, Conv2dGeometry G)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<Geometry> Geometries() =>
    [
        new("1x1 pixel", Conv2dGeometry.Of(1, 1, 1, 1, 1, 1, 1)),
        new("3x3 pad 1", Conv2dGeometry.Of(2, 3, 7, 5, 4, 3, 3, padH: 1, padW: 1)),
        new("3x2 stride 2 dilation 2 groups 2", Conv2dGeometry.Of(1, 4, 9, 7, 6, 3, 2, 2, 2, 1, 1, 2, 2, groups: 2)),
        new("mixed stride/pad/dilation groups 3", Conv2dGeometry.Of(3, 6, 11, 13, 9, 3, 3, 2, 3, 0, 2, 1, 2, groups: 3)),
        new("pointwise", Conv2dGeometry.Of(2, 5, 7, 7, 3, 1, 1)),
        new("pointwise stride 2", Conv2dGeometry.Of(2, 5, 7, 7, 3, 1, 1, 2, 2)),
        new("kernel wider than input", Conv2dGeometry.Of(1, 2, 3, 3, 2, 5, 5, padH: 2, padW: 2)),
        new("depthwise", Conv2dGeometry.Of(2, 4, 6, 5, 4, 3, 3, 1, 1, 1, 1, groups: 4)),
        new("transposed-style trimmed output", Conv2dGeometry.Of(2, 3, 8, 9, 4, 3, 3, 2, 2, 1, 1) with { OutH = 3, OutW = 4 }),
        new("threaded batch", Conv2dGeometry.Of(3, 8, 19, 19, 16, 3, 3, padH: 1, padW: 1)),
        new("odd channels, several row blocks, ragged tiles", Conv2dGeometry.Of(3, 67, 17, 15, 19, 3, 3, padH: 1, padW: 1)),
        new("stride 2 pad 0 batch 1", Conv2dGeometry.Of(1, 5, 9, 11, 7, 3, 3, 2, 2, 0, 0)),
        new("3x3 pad 0 batch 3", Conv2dGeometry.Of(3, 3, 6, 7, 5, 3, 3)),
        new("pointwise with padding", Conv2dGeometry.Of(2, 3, 5, 4, 4, 1, 1, padH: 1, padW: 1)),
        new("padding wider than the kernel", Conv2dGeometry.Of(1, 2, 4, 4, 3, 3, 3, padH: 3, padW: 3)),
        new("dilation 2 stride 1", Conv2dGeometry.Of(2, 3, 9, 8, 5, 3, 3, 1, 1, 2, 2, 2, 2)),
        new("rows wider than 32", Conv2dGeometry.Of(1, 2, 5, 40, 3, 3, 3, padH: 1, padW: 1)),
        // Stride 1 with rows of at least 3.5·(Kw − 1) columns: the blocked forward (and stride-1 input gradient) shifts taps instead of filling patches.
        new("shifted taps: 5x5 pad 2 groups 2", Conv2dGeometry.Of(2, 6, 14, 24, 10, 5, 5, padH: 2, padW: 2, groups: 2)),
        new("shifted taps: 3x1 kernel, pad 0", Conv2dGeometry.Of(2, 5, 9, 13, 4, 3, 1)),
        new("shifted taps: 3x3 pad 0, several row blocks", Conv2dGeometry.Of(2, 70, 30, 28, 15, 3, 3)),
        new("shifted taps: 2x3 uneven padding", Conv2dGeometry.Of(1, 3, 6, 16, 5, 2, 3, padH: 0, padW: 1)),
        new("shifted taps: 128 channels, the taps summed in two passes", Conv2dGeometry.Of(2, 128, 7, 14, 20, 3, 3, padH: 1, padW: 1)),
        new("shifted taps: 37-column rows, pad 2 (padded rows over two 16-float steps and a part)", Conv2dGeometry.Of(2, 9, 8, 37, 6, 3, 3, padH: 2, padW: 2)),
        // Stride 1 with enough channels a group that the weight gradient, too, reads shifted rows of the input in place.
        new("shifted weight grad: 3x3 pad 0 batch 1, two row blocks", Conv2dGeometry.Of(1, 64, 60, 40, 5, 3, 3)),
        new("shifted weight grad: 3x3 pad 1 groups 2, 70 channels a group, two row blocks", Conv2dGeometry.Of(2, 140, 50, 38, 4, 3, 3, padH: 1, padW: 1, groups: 2)),
        new("shifted weight grad: 5x5 pad 2 groups 3, 12 channels a group", Conv2dGeometry.Of(3, 36, 10, 26, 9, 5, 5, padH: 2, padW: 2, groups: 3)),
        new("shifted weight grad: 5x5 pad 1, 32 channels", Conv2dGeometry.Of(2, 32, 9, 30, 17, 5, 5, padH: 1, padW: 1)),
        new("shifted weight grad: 3x3 pad 2, 32 channels", Conv2dGeometry.Of(2, 32, 11, 14, 7, 3, 3, padH: 2, padW: 2)),
        new("shifted weight grad: wide rows, groups 2, 20 channels a group", Conv2dGeometry.Of(2, 40, 9, 70, 12, 3, 3, padH: 1, padW: 1, groups: 2)),
        new("shifted weight grad: 10 channels batch 1", Conv2dGeometry.Of(1, 10, 13, 17, 6, 3, 3, padH: 1, padW: 1)),
        new("shifted weight grad: narrowest shiftable rows, batch 4", Conv2dGeometry.Of(4, 16, 12, 12, 8, 3, 3, padH: 1, padW: 1)),
        new("shifted weight grad: 3x1 kernel, 32 channels", Conv2dGeometry.Of(2, 32, 9, 13, 5, 3, 1)),
        new("shifted weight grad: 2x3 uneven padding, 24 channels", Conv2dGeometry.Of(1, 24, 6, 16, 5, 2, 3, padH: 0, padW: 1)),
        new("shifted weight grad: 7-column rows, 64 channels", Conv2dGeometry.Of(2, 64, 7, 7, 16, 3, 3, padH: 1, padW: 1)),
        new("shifted weight grad: 4-column rows, groups 2", Conv2dGeometry.Of(2, 64, 6, 4, 6, 3, 3, padH: 1, padW: 1, groups: 2)),
        // 3×3 stride 1, one group, at least 8 channels each way: Winograd F(2×2, 3×3) (its input gradient too, while the padding is at most 2).
        new("winograd: 28x28 pad 1, 32 channels, rows of 14 tiles", Conv2dGeometry.Of(2, 32, 28, 28, 32, 3, 3, padH: 1, padW: 1)),
        new("winograd: 7x7 pad 1, two rows of 4 tiles a vector, odd tile rows", Conv2dGeometry.Of(3, 16, 7, 7, 24, 3, 3, padH: 1, padW: 1)),
        new("winograd: 14x14 pad 1, 9 in 10 out channels", Conv2dGeometry.Of(2, 9, 14, 14, 10, 3, 3, padH: 1, padW: 1)),
        new("winograd: odd sizes, pad 0, rows over 16 tiles", Conv2dGeometry.Of(2, 12, 11, 39, 17, 3, 3)),
        new("winograd: pad 2, one tile a row", Conv2dGeometry.Of(2, 8, 1, 1, 8, 3, 3, padH: 2, padW: 2)),
        new("winograd: uneven padding, 15-tile rows", Conv2dGeometry.Of(1, 20, 6, 29, 9, 3, 3, padH: 0, padW: 1)),
        new("winograd: trimmed output", Conv2dGeometry.Of(2, 10, 9, 12, 11, 3, 3, padH: 1, padW: 1) with { OutH = 6, OutW = 9 }),
        new("winograd: several blocks, 128 in 64 out channels", Conv2dGeometry.Of(5, 128, 14, 14, 64, 3, 3, padH: 1, padW: 1)),
        // Output rows 17 to 28 wide: F(4×4, 3×3), two tile rows a vector (the input gradient too while the padding is at most 2).
        new("winograd4: 28x28 pad 1, 32 channels, rows of 7 tiles, several blocks", Conv2dGeometry.Of(3, 32, 28, 28, 32, 3, 3, padH: 1, padW: 1)),
        new("winograd4: 20x18 output, pad 1, 5-tile rows, odd tile-row count", Conv2dGeometry.Of(1, 9, 18, 20, 12, 3, 3, padH: 1, padW: 1)),
        new("winograd4: pad 0, 22x23 output, ragged last tiles", Conv2dGeometry.Of(2, 16, 24, 25, 8, 3, 3)),
        new("winograd4: uneven padding, 26-wide rows", Conv2dGeometry.Of(2, 12, 13, 26, 10, 3, 3, padH: 0, padW: 1)),
        new("winograd4: pad 2, 24-wide input, 64 in 96 out channels", Conv2dGeometry.Of(2, 64, 9, 24, 96, 3, 3, padH: 2, padW: 2)),
        new("winograd4: trimmed output", Conv2dGeometry.Of(2, 10, 25, 27, 11, 3, 3, padH: 1, padW: 1) with { OutH = 21, OutW = 19 }),
        new("winograd4: one tile row in all, 20 in 24 out channels (16 a vector and 4 alone in the weight transforms)", Conv2dGeometry.Of(1, 20, 3, 24, 24, 3, 3, padH: 1, padW: 1)),
        new("shifted taps: trimmed output, pad 1", Conv2dGeometry.Of(2, 32, 10, 16, 6, 3, 3, padH: 1, padW: 1) with { OutH = 8, OutW = 13 }),
    ];

    static float[] Random(int n, ulong seed)
    {
        var a = new float[n];
        new Generator(seed).FillNormal(a);
        return a;
    }

    /// <summary>
    /// Each element within 10⁻⁴·(1 + |reference|). Winograd F(4×4, 3×3) (variant winograd4-…) is allowed 5·10⁻⁵ of the
    /// reference's RMS on top: its transforms carry coefficients up to 8 and fractions down to 1/24, so its rounding
    /// grows with the size of the whole sum (about 10⁻⁵ of it here) rather than with each output.
    /// </summary>
    static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        double slack = what.StartsWith("winograd4") ? 5e-5 * Math.Sqrt(expected.Average(e => (double)e * e)) : 0;
        for (int i = 0; i < expected.Length; i++)
            if (Math.Abs(expected[i] - actual[i]) > 1e-4f * (1 + Math.Abs(expected[i])) + slack)
                Assert.Fail($"{what}: element {i} is {actual[i]}, reference {expected[i]}");
    }

    [TestCaseSource(nameof(Geometries))]
    public void Forward_variants_match_reference(Geometry c)
    {
        var g = c.G;
        var x = Random(g.InputLength, 1); var w = Random(g.WeightLength, 2); var b = Random(g.OutChannels, 3);
        var expected = new float[g.OutputLength];
        ConvReference.Forward(g, x, w, b, expected);
        foreach (var v in KernelRegistry.Conv2dForward.Where(v => !v.IsReference && KernelRegistry.Conv2dForward.Applies(v, g)))
        {
            var y = Enumerable.Repeat(float.NaN, g.OutputLength).ToArray();
            v.Run(g, x, w, b, y);
            AssertClose(expected, y, $"{v.Name} forward with bias");
            v.Run(g, x, w, default, y);
            var noBias = new float[g.OutputLength];
            ConvReference.Forward(g, x, w, default, noBias);
            AssertClose(noBias, y, $"{v.Name} forward without bias");
        }
    }

    [TestCaseSource(nameof(Geometries))]
    public void Input_grad_variants_match_reference(Geometry c)
    {
        var g = c.G;
        var dy = Random(g.OutputLength, 4); var w = Random(g.WeightLength, 5);
        var expected = new float[g.InputLength];
        ConvReference.InputGrad(g, dy, w, expected);
        foreach (var v in KernelRegistry.Conv2dInputGrad.Where(v => !v.IsReference && KernelRegistry.Conv2dInputGrad.Applies(v, g)))
        {
            var dx = Enumerable.Repeat(float.NaN, g.InputLength).ToArray();
            v.Run(g, dy, w, dx);
            AssertClose(expected, dx, $"{v.Name} input grad");
        }
    }

    [TestCaseSource(nameof(Geometries))]
    public void Weight_grad_variants_match_reference(Geometry c)
    {
        var g = c.G;
        var x = Random(g.InputLength, 6); var dy = Random(g.OutputLength, 7);
        var expected = new float[g.WeightLength];
        ConvReference.WeightGrad(g, x, dy, expected);
        foreach (var v in KernelRegistry.Conv2dWeightGrad.Where(v => !v.IsReference && KernelRegistry.Conv2dWeightGrad.Applies(v, g)))
        {
            var dw = Enumerable.Repeat(float.NaN, g.WeightLength).ToArray();
            v.Run(g, x, dy, dw);
            AssertClose(expected, dw, $"{v.Name} weight grad");
        }
    }

    /// <summary>Threaded items sum into fixed per-range partials added in order: repeated calls agree bit for bit.</summary>
    [TestCase("blocked-avx512")]
    [TestCase("winograd-avx512")]
    [TestCase("winograd4-avx512")]
    public void Threaded_weight_grad_repeats_bit_for_bit(string variant)
    {
        var kernel = KernelRegistry.Conv2dWeightGrad.FirstOrDefault(v => v.Name == variant);
        if (kernel is null) Assert.Ignore("no AVX-512");
        foreach (var g in new[] { Conv2dGeometry.Of(4, 64, 20, 24, 32, 3, 3, padH: 1, padW: 1), Conv2dGeometry.Of(4, 16, 20, 24, 32, 3, 3, 2, 2, 1, 1),
                     Conv2dGeometry.Of(16, 32, 7, 7, 16, 3, 3, padH: 1, padW: 1) }.Where(g => KernelRegistry.Conv2dWeightGrad.Applies(kernel, g)))
        {
            var x = Random(g.InputLength, 14); var dy = Random(g.OutputLength, 15);
            var first = new float[g.WeightLength];
            kernel.Run(g, x, dy, first);
            for (int run = 0; run < 5; run++)
            {
                var again = Enumerable.Repeat(float.NaN, g.WeightLength).ToArray();
                kernel.Run(g, x, dy, again);
                Assert.That(again, Is.EqualTo(first), $"run {run} of {g}");
            }
        }
    }

    [TestCaseSource(nameof(Geometries))]
    public void Bias_grad_variants_match_reference(Geometry c)
    {
        var g = c.G;
        var dy = Random(g.OutputLength, 13);
        var expected = new float[g.OutChannels];
        ConvReference.BiasGrad(g.Batch, g.OutChannels, g.OutPlane, dy, expected);
        foreach (var v in KernelRegistry.Conv2dBiasGrad.Where(v => !v.IsReference))
        {
            var db = Enumerable.Repeat(float.NaN, g.OutChannels).ToArray();
            v.Run(g.Batch, g.OutChannels, g.OutPlane, dy, db);
            AssertClose(expected, db, $"{v.Name} bias grad");
        }
    }

    [Test]
    public void Bias_grad_sums_hand_computed_values_and_rejects_wrong_sizes()
    {
        // (N=2, C=2, plane=3): channel 0 holds 1..3 and 7..9, channel 1 holds 4..6 and 10..12.
        float[] dy = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        foreach (var v in KernelRegistry.Conv2dBiasGrad)
        {
            var db = new float[2];
            v.Run(2, 2, 3, dy, db);
            Assert.That(db, Is.EqualTo(new[] { 30f, 48f }), v.Name);
            Assert.Throws<ArgumentException>(() => v.Run(2, 2, 4, dy, new float[2]), v.Name);
            Assert.Throws<ArgumentException>(() => v.Run(2, 2, 3, dy, new float[3]), v.Name);
        }
    }

    /// <summary>The reference input gradient is the adjoint of the reference forward: ⟨conv(x), dy⟩ = ⟨x, convᵀ(dy)⟩.</summary>
    [TestCaseSource(nameof(Geometries))]
    public void Reference_gradients_are_adjoint_to_forward(Geometry c)
    {
        var g = c.G;
        var x = Random(g.InputLength, 8); var w = Random(g.WeightLength, 9); var dy = Random(g.OutputLength, 10);
        var y = new float[g.OutputLength]; var dx = new float[g.InputLength]; var dw = new float[g.WeightLength];
        ConvReference.Forward(g, x, w, default, y);
        ConvReference.InputGrad(g, dy, w, dx);
        ConvReference.WeightGrad(g, x, dy, dw);
        double Dot(float[] a, float[] b) => a.Zip(b, (p, q) => (double)p * q).Sum();
        double lhs = Dot(y, dy);
        Assert.That(Dot(x, dx), Is.EqualTo(lhs).Within(1e-3 * (1 + Math.Abs(lhs))));
        Assert.That(Dot(w, dw), Is.EqualTo(lhs).Within(1e-3 * (1 + Math.Abs(lhs))));
    }

    [Test]
    public void Reference_forward_matches_hand_computed_values()
    {
        // x = 1..9 as 3×3, a 2×2 kernel of ones: each output is the sum of a 2×2 block.
        var g = Conv2dGeometry.Of(1, 1, 3, 3, 1, 2, 2);
        var y = new float[4];
        ConvReference.Forward(g, [1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 1, 1], [0.5f], y);
        Assert.That(y, Is.EqualTo(new[] { 12.5f, 16.5f, 24.5f, 28.5f }));
        // Stride 2 with padding 1 picks the corners of a 3×3 kernel centred on (0,0),(0,2),(2,0),(2,2).
        var g2 = Conv2dGeometry.Of(1, 1, 3, 3, 1, 3, 3, 2, 2, 1, 1);
        var y2 = new float[4];
        ConvReference.Forward(g2, [1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 0, 0, 0, 1, 0, 0, 0, 0], default, y2);
        Assert.That(y2, Is.EqualTo(new[] { 1f, 3f, 7f, 9f }));
    }

    [Test]
    public void Im2col_and_col2im_are_adjoint()
    {
        var g = Conv2dGeometry.Of(1, 3, 7, 6, 2, 3, 2, 2, 1, 1, 2, 2, 1);
        var x = Random(g.InPerGroup * g.InPlane, 11);
        var c = Random(g.PatchSize * g.OutPlane, 12);
        var col = new float[c.Length]; var back = new float[x.Length];
        ConvIm2col.Im2Col(g, x, col);
        ConvIm2col.Col2Im(g, c, back);
        double lhs = col.Zip(c, (p, q) => (double)p * q).Sum(), rhs = x.Zip(back, (p, q) => (double)p * q).Sum();
        Assert.That(rhs, Is.EqualTo(lhs).Within(1e-4 * (1 + Math.Abs(lhs))));
    }

    [Test]
    public void Wrong_buffer_sizes_are_rejected()
    {
        var g = Conv2dGeometry.Of(1, 2, 5, 5, 3, 3, 3);
        foreach (var v in KernelRegistry.Conv2dForward)
            Assert.Throws<ArgumentException>(() => v.Run(g, new float[g.InputLength - 1], new float[g.WeightLength], default, new float[g.OutputLength]), v.Name);
        Assert.Throws<ArgumentException>(() => ConvIm2col.Forward(g with { Groups = 2 }, new float[g.InputLength], new float[g.WeightLength], default, new float[g.OutputLength]));
    }
}

/// <summary>The table's rule for convolutions: which variant runs for which geometry, and variants refusing the others.</summary>
public sealed class ConvRuleTests
{
    static string Forward(Conv2dGeometry g) => KernelRegistry.Conv2dForward.Choose(g).Name;

    [Test]
    public void Winograd_F4_for_3x3_stride_1_rows_17_to_28_wide_F2_for_other_3x3_stride_1_blocked_otherwise()
    {
        if (!KernelRegistry.Conv2dForward.VariantNames.Contains("blocked-avx512"))
        {
            Assert.That(Forward(Conv2dGeometry.Of(2, 32, 28, 28, 32, 3, 3, padH: 1, padW: 1)), Is.EqualTo("im2col"));
            return;
        }
        Assert.That(Forward(Conv2dGeometry.Of(2, 32, 28, 28, 32, 3, 3, padH: 1, padW: 1)), Is.EqualTo("winograd4-avx512"));
        Assert.That(Forward(Conv2dGeometry.Of(2, 32, 17, 17, 32, 3, 3, padH: 1, padW: 1)), Is.EqualTo("winograd4-avx512"));
        Assert.That(Forward(Conv2dGeometry.Of(2, 32, 14, 14, 32, 3, 3, padH: 1, padW: 1)), Is.EqualTo("winograd-avx512"));
        Assert.That(Forward(Conv2dGeometry.Of(2, 32, 40, 40, 32, 3, 3, padH: 1, padW: 1)), Is.EqualTo("winograd-avx512"));
        Assert.That(Forward(Conv2dGeometry.Of(2, 3, 28, 28, 32, 3, 3, padH: 1, padW: 1)), Is.EqualTo("blocked-avx512"), "fewer than 8 input channels");
        Assert.That(Forward(Conv2dGeometry.Of(2, 32, 28, 28, 32, 3, 3, 2, 2, 1, 1)), Is.EqualTo("blocked-avx512"), "stride 2");
        Assert.That(Forward(Conv2dGeometry.Of(2, 32, 28, 28, 32, 1, 1)), Is.EqualTo("blocked-avx512"), "1×1");
        // Stride 2: the input gradient has no Winograd form, the weight gradient neither.
        var s2 = Conv2dGeometry.Of(2, 32, 28, 28, 32, 3, 3, 2, 2, 1, 1);
        Assert.That(KernelRegistry.Conv2dInputGrad.Choose(s2).Name, Is.EqualTo("blocked-avx512"));
        Assert.That(KernelRegistry.Conv2dWeightGrad.Choose(s2).Name, Is.EqualTo("blocked-avx512"));
        // Padding 3 on a 3×3 kernel: the input gradient's forward would pad by −1.
        var p3 = Conv2dGeometry.Of(2, 32, 22, 22, 32, 3, 3, padH: 3, padW: 3);
        Assert.That(Forward(p3), Is.EqualTo("winograd4-avx512"));
        Assert.That(KernelRegistry.Conv2dInputGrad.Choose(p3).Name, Is.EqualTo("blocked-avx512"));
    }

    [Test]
    public void A_variant_called_outside_its_rule_throws_instead_of_running_another()
    {
        var g = Conv2dGeometry.Of(1, 8, 6, 6, 8, 1, 1);
        foreach (var v in KernelRegistry.Conv2dForward.Where(v => !KernelRegistry.Conv2dForward.Applies(v, g)))
            Assert.Throws<ArgumentException>(() => v.Run(g, new float[g.InputLength], new float[g.WeightLength], default, new float[g.OutputLength]), v.Name);
        foreach (var v in KernelRegistry.Conv2dWeightGrad.Where(v => !KernelRegistry.Conv2dWeightGrad.Applies(v, g)))
            Assert.Throws<ArgumentException>(() => v.Run(g, new float[g.InputLength], new float[g.OutputLength], new float[g.WeightLength]), v.Name);
    }

    [Test]
    public void A_context_that_prefers_a_variant_runs_it_where_it_applies_and_the_rule_elsewhere()
    {
        if (!KernelRegistry.Conv2dForward.VariantNames.Contains("winograd-avx512")) Assert.Ignore("no AVX-512");
        var ctx = new KernelContext().Use(KernelRegistry.Conv2dForward, "winograd-avx512");
        var wide = Conv2dGeometry.Of(1, 16, 28, 28, 16, 3, 3, padH: 1, padW: 1);
        var pointwise = Conv2dGeometry.Of(1, 16, 28, 28, 16, 1, 1);
        using (ctx.Enter())
        {
            Assert.That(KernelRegistry.Conv2dForward.Resolve(wide).Name, Is.EqualTo("winograd-avx512"));
            Assert.That(KernelRegistry.Conv2dForward.Resolve(pointwise).Name, Is.EqualTo("blocked-avx512"));
            var x = new float[wide.InputLength]; var w = new float[wide.WeightLength]; var y = new float[wide.OutputLength];
            new Generator(1).FillNormal(x); new Generator(2).FillNormal(w);
            KernelRegistry.FastConv2dForward(wide, x, w, default, y);
            var expected = new float[y.Length];
            KernelRegistry.Conv2dForward["winograd-avx512"].Run(wide, x, w, default, expected);
            Assert.That(y, Is.EqualTo(expected), "the fast kernel under the context is F(2×2) itself");
        }
        Assert.That(KernelRegistry.Conv2dForward.Resolve(wide).Name, Is.EqualTo("winograd4-avx512"));
    }
}
