using Engine.Autograd;
using Engine.IO;
using Engine.Nn;
using Engine.Random;
using Models.Flows;

namespace Engine.Tests;

/// <summary>
/// Each flow layer's log|det J| against the determinant of its Jacobian computed by brute force (one backward
/// pass per output, log|det| by LU in double), and inverse(forward(x)) = x, on tiny inputs.
/// </summary>
public sealed class FlowLayerTests
{
    /// <summary>Moves every parameter off its initial value (couplings start as the identity) so the Jacobians are general.</summary>
    static void Perturb(Module m, Generator g, float scale = 0.3f)
    {
        foreach (var p in m.Parameters()) p.AddInPlace(Tensor.Randn(p.Shape, g), scale);
    }

    /// <summary>log|det| of the per-sample blocks of ∂y/∂x, by one backward pass per output element.</summary>
    static double[] BruteForceLogDet(FlowLayer layer, Tensor x)
    {
        var xi = x.Clone().RequireGrad();
        var y = layer.Forward(xi).Y;
        int b = x.Shape[0], d = x.Numel / b;
        Assert.That(y.Numel, Is.EqualTo(x.Numel), "a bijection keeps the number of values");
        var result = new double[b];
        for (int s = 0; s < b; s++)
        {
            var jac = new double[d * d];
            for (int i = 0; i < d; i++)
            {
                xi.Grad = null;
                var e = Tensor.Zeros(y.Shape);
                e.Span[s * d + i] = 1f;
                y.Backward(e);
                var gr = xi.Grad!.ToArray();
                for (int j = 0; j < d; j++) jac[i * d + j] = gr[s * d + j];
                for (int other = 0; other < b; other++)
                    if (other != s)
                        for (int j = 0; j < d; j++) Assert.That(gr[other * d + j], Is.EqualTo(0f), "samples must not interact");
            }
            var perm = new int[d];
            int sign = LinearAlgebra.LuDecompose(jac, d, perm);
            Assert.That(sign, Is.Not.EqualTo(0), "the Jacobian is singular");
            result[s] = LinearAlgebra.LogAbsDetFromLu(jac, d, sign).LogAbsDet;
        }
        return result;
    }

    static void CheckLayer(FlowLayer layer, Tensor x, double tolerance = 2e-3)
    {
        layer.Forward(x);                                                          // data-dependent initialisation, if any
        var (y, logDet) = layer.Forward(x);
        var expected = BruteForceLogDet(layer, x);
        var got = logDet.ToArray();
        Assert.That(got, Has.Length.EqualTo(x.Shape[0]));
        for (int s = 0; s < got.Length; s++)
            Assert.That(got[s], Is.EqualTo(expected[s]).Within(tolerance + 1e-4 * Math.Abs(expected[s])), $"sample {s}: log|det J|");
        Tensor back;
        using (GradMode.NoGrad()) back = layer.Inverse(y);
        var xv = x.ToArray(); var bv = back.ToArray();
        for (int i = 0; i < xv.Length; i++) Assert.That(bv[i], Is.EqualTo(xv[i]).Within(1e-4f + 1e-4f * Math.Abs(xv[i])), $"inverse(forward(x)) at {i}");
    }

    public static IEnumerable<TestCaseData> Layers()
    {
        yield return Case("affine coupling checkerboard", g => new AffineCoupling([2, 4, 3], CouplingMask.Checkerboard, false, new CouplingConvNet(2, 5, g)), [2, 2, 4, 3]);
        yield return Case("affine coupling checkerboard flipped", g => new AffineCoupling([1, 3, 5], CouplingMask.Checkerboard, true, new CouplingConvNet(1, 4, g)), [2, 1, 3, 5]);
        yield return Case("affine coupling channel", g => new AffineCoupling([4, 2, 3], CouplingMask.Channel, false, new CouplingConvNet(4, 6, g)), [2, 4, 2, 3]);
        yield return Case("affine coupling channel flipped odd", g => new AffineCoupling([3, 2, 2], CouplingMask.Channel, true, new CouplingConvNet(3, 4, g)), [2, 3, 2, 2]);
        yield return Case("affine coupling vector", g => new AffineCoupling([5], CouplingMask.Channel, true, new CouplingMlp(5, 8, g)), [3, 5]);
        yield return Case("actnorm image", _ => new ActNorm(3), [4, 3, 2, 3]);
        yield return Case("actnorm vector", _ => new ActNorm(4), [5, 4]);
        yield return Case("invertible 1x1 conv", g => new InvertibleConv1x1(3, g), [2, 3, 3, 2]);
        yield return Case("invertible linear", g => new InvertibleConv1x1(5, g), [3, 5]);
        yield return Case("squeeze", _ => new Squeeze(), [2, 2, 4, 2]);
        yield return Case("logit", _ => new LogitTransform(0.05f), [2, 1, 3, 3], unitInterval: true);
        yield return Case("multi-scale flow", g => new MultiScaleFlow(new MultiScaleFlowConfig(1, 4, 4, Hidden: 4, CheckerboardCouplings: 2, StepsPerScale: 2, Scales: 2), g),
            [2, 1, 4, 4], unitInterval: true);
        yield return Case("realnvp 2d", g => NormalizingFlow.RealNvp2D(g, blocks: 3, hidden: 8).Body, [4, 2]);
    }

    static TestCaseData Case(string name, Func<Generator, FlowLayer> make, int[] shape, bool unitInterval = false) =>
        new TestCaseData(make, shape, unitInterval).SetName(name);

    [TestCaseSource(nameof(Layers))]
    public void Log_det_matches_brute_force_Jacobian_and_inverse_undoes_forward(Func<Generator, FlowLayer> make, int[] shape, bool unitInterval)
    {
        var g = new Generator(3);
        var layer = make(g);
        var x = unitInterval ? Tensor.Rand(shape, g, 0.05f, 0.95f) : Tensor.Randn(shape, g);
        layer.Forward(x);                                                          // ActNorm initialises from this batch
        Perturb(layer, g);
        CheckLayer(layer, x);
    }

    [Test]
    public void ActNorm_initialises_to_zero_mean_unit_variance_once()
    {
        var g = new Generator(1);
        var norm = new ActNorm(3);
        var x = Tensor.Randn([64, 3, 2, 2], g) * 3f + 5f;
        var y = norm.Forward(x).Y;
        var mean = y.Mean([0, 2, 3]).ToArray(); var variance = y.Var([0, 2, 3], correction: 0).ToArray();
        for (int c = 0; c < 3; c++)
        {
            Assert.That(mean[c], Is.EqualTo(0f).Within(1e-4f));
            Assert.That(variance[c], Is.EqualTo(1f).Within(1e-3f));
        }
        Assert.That(norm.IsInitialized);
        var before = norm.StateDict()["bias"].ToArray();
        norm.Forward(x * 2f);
        Assert.That(norm.StateDict()["bias"].ToArray(), Is.EqualTo(before), "only the first batch initialises");
    }

    [Test]
    public void Squeeze_moves_each_two_by_two_block_into_channels()
    {
        var x = Tensor.Arange(16).Reshape(1, 1, 4, 4);
        var y = new Squeeze().Forward(x).Y;
        Assert.That(y.Shape, Is.EqualTo(new[] { 1, 4, 2, 2 }));
        // channel 0: top-left of each block, 1: top-right, 2: bottom-left, 3: bottom-right.
        Assert.That(y.ToArray(), Is.EqualTo(new float[] { 0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15 }));
    }

    [Test]
    public void Checkerboard_and_channel_masks_keep_half()
    {
        var cb = AffineCoupling.MakeMask([1, 2, 3], CouplingMask.Checkerboard, false).ToArray();
        Assert.That(cb, Is.EqualTo(new float[] { 1, 0, 1, 0, 1, 0 }));
        var ch = AffineCoupling.MakeMask([4], CouplingMask.Channel, true).ToArray();
        Assert.That(ch, Is.EqualTo(new float[] { 0, 0, 1, 1 }));
    }

    [Test]
    public void Flow_log_likelihood_integrates_to_one_on_a_grid()
    {
        // ∫ p(x) dx ≈ 1 for the 2D RealNVP (perturbed), by a Riemann sum over a wide grid.
        var g = new Generator(5);
        var flow = NormalizingFlow.RealNvp2D(g, blocks: 2, hidden: 8);
        flow.Body.Forward(Tensor.Randn([32, 2], g));
        Perturb(flow, g, 0.2f);
        int n = 200; float lo = -8f, step = 16f / n;
        var pts = new float[n * n * 2];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) { pts[(i * n + j) * 2] = lo + (i + 0.5f) * step; pts[(i * n + j) * 2 + 1] = lo + (j + 0.5f) * step; }
        double mass;
        using (GradMode.NoGrad()) mass = flow.LogProb(Tensor.Wrap(pts, n * n, 2)).Exp().ToArray().Sum(v => (double)v) * step * step;
        Assert.That(mass, Is.EqualTo(1.0).Within(0.02));
    }

    [Test]
    public void RealNvp_learns_two_moons_and_reloads_identically()
    {
        var g = new Generator(0);
        var flow = NormalizingFlow.RealNvp2D(g, blocks: 4, hidden: 32);
        var trainer = new FlowTrainer(flow, 5e-3f, 100);
        var test = Data.Toy2D.TwoMoons(512, new Generator(99));
        double Nll() { using var _ = GradMode.NoGrad(); return -flow.LogProb(test).Mean().Item(); }
        trainer.Step(Data.Toy2D.TwoMoons(256, g));
        double start = Nll();
        for (int i = 0; i < 100; i++) trainer.Step(Data.Toy2D.TwoMoons(128, g));
        double end = Nll();
        TestContext.Out.WriteLine($"two moons NLL {start:F3} → {end:F3} nats");
        Assert.That(end, Is.LessThan(start - 0.3));

        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "flow.safetensors");
        SafeTensors.Save(path, flow.StateDict());
        var copy = NormalizingFlow.RealNvp2D(new Generator(42), blocks: 4, hidden: 32);
        copy.LoadStateDict(SafeTensors.Load(path).Tensors);
        using var _ = GradMode.NoGrad();
        Assert.That(copy.LogProb(test).ToArray(), Is.EqualTo(flow.LogProb(test).ToArray()));
    }

    [Test]
    public void Image_flow_gives_finite_bits_per_dim_and_samples_of_the_right_shape()
    {
        var g = new Generator(2);
        var flow = NormalizingFlow.Image(new MultiScaleFlowConfig(1, 8, 8, Hidden: 8, CheckerboardCouplings: 1, StepsPerScale: 1, Scales: 2), g);
        var images = Tensor.Wrap(Enumerable.Range(0, 4 * 64).Select(i => (i * 37 % 256) / 255f).ToArray(), 4, 1, 8, 8);
        double bpd = flow.BitsPerDimension(images, new Generator(1));
        Assert.That(double.IsFinite(bpd) && bpd > 0, $"bits/dim {bpd}");
        var samples = flow.Sample(3, g, 0.7f);
        Assert.That(samples.Shape, Is.EqualTo(new[] { 3, 1, 8, 8 }));
    }

    [Test]
    public void Bad_inputs_are_typed_errors()
    {
        var g = new Generator(0);
        Assert.Throws<ShapeMismatchException>(() => new ActNorm(3).Forward(Tensor.Zeros([2, 4])));
        Assert.Throws<ShapeMismatchException>(() => new InvertibleConv1x1(3, g).Forward(Tensor.Zeros([2, 2, 2, 2])));
        Assert.Throws<ShapeMismatchException>(() => new Squeeze().Forward(Tensor.Zeros([1, 1, 3, 4])));
        Assert.Throws<ShapeMismatchException>(() => AffineCoupling.MakeMask([1, 4, 4], CouplingMask.Channel, false));
        Assert.Throws<ShapeMismatchException>(() => AffineCoupling.MakeMask([4], CouplingMask.Checkerboard, false));
        Assert.Throws<ArgumentException>(() => new MultiScaleFlow(new MultiScaleFlowConfig(1, 6, 6, Scales: 2), g));
        Assert.Throws<ArgumentException>(() => Dequantization.Uniform(Tensor.Full([2], float.NaN), g));
        var flow = NormalizingFlow.Image(new MultiScaleFlowConfig(1, 4, 4, Hidden: 4, StepsPerScale: 1), g);
        Assert.Throws<ShapeMismatchException>(() => flow.LogProb(Tensor.Zeros([1, 1, 4, 5])));
    }
}
