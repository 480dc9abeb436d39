using Engine.Random;
using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>Convolution kernels beyond the declared cases (<see cref="KernelCaseTests"/>): determinism, hand-computed values, adjointness, bad sizes.</summary>
public sealed class ConvKernelTests
{
    public sealed record Geometry(string Name, Conv2dGeometry G)
    {
        public override string ToString() => Name;
    }

    /// <summary>The convolution geometries of the declared checks (<see cref="KernelCases.ConvChecks"/>, where every variant is checked against the reference).</summary>
    public static IEnumerable<Geometry> Geometries() => KernelCases.ConvChecks.Select(c => new Geometry(c.Name, c.G));

    static float[] Random(int n, ulong seed)
    {
        var a = new float[n];
        new Generator(seed).FillNormal(a);
        return a;
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
    public void Setting_the_process_wide_kernel_to_a_variant_keeps_the_rule_where_it_does_not_apply()
    {
        if (!KernelRegistry.Conv2dForward.VariantNames.Contains("winograd-avx512")) Assert.Ignore("no AVX-512");
        var pointwise = Conv2dGeometry.Of(1, 16, 9, 9, 16, 1, 1);
        var x = new float[pointwise.InputLength]; var w = new float[pointwise.WeightLength]; var y = new float[pointwise.OutputLength];
        new Generator(3).FillNormal(x); new Generator(4).FillNormal(w);
        try
        {
            KernelRegistry.FastConv2dForward = ConvWinograd.Forward;
            Assert.That(KernelRegistry.Conv2dForward.DefaultName, Is.EqualTo("winograd-avx512"));
            Assert.That(KernelRegistry.Conv2dForward.Resolve(pointwise).Name, Is.EqualTo("blocked-avx512"));
            KernelRegistry.FastConv2dForward(pointwise, x, w, default, y);                // F(2×2) does not compute 1×1: blocked does
            var expected = new float[y.Length];
            ConvReference.Forward(pointwise, x, w, default, expected);
            Assert.That(y, Is.EqualTo(expected).Within(1e-4f));
        }
        finally { KernelContext.Default.Reset(KernelRegistry.Conv2dForward); }
        Assert.That(KernelRegistry.Conv2dForward.Resolve(Conv2dGeometry.Of(1, 16, 28, 28, 16, 3, 3, padH: 1, padW: 1)).Name, Is.EqualTo("winograd4-avx512"));
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
