using Engine.Nn;
using Engine.Random;
using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>Fused ops against their composed twins, conv ops against the reference kernels, modules, and bad input.</summary>
public sealed class NnOpsTests
{
    static Tensor R(Generator g, params int[] s) => Tensor.Randn(s, g);

    static void AssertClose(Tensor expected, Tensor actual, float tol, string what)
    {
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), what);
        var e = expected.ToArray(); var a = actual.ToArray();
        for (int i = 0; i < e.Length; i++)
            if (!(Math.Abs(e[i] - a[i]) <= tol * (1 + Math.Abs(e[i]))))
                Assert.Fail($"{what}: element {i} is {a[i]}, expected {e[i]}");
    }

    /// <summary>Same outputs and same gradients (for one random output gradient) from a fused op and its twin.</summary>
    static void AssertTwins(string name, Func<Tensor[], Tensor> fused, Func<Tensor[], Tensor> composed, Tensor[] inputs, float tol = 1e-5f)
    {
        foreach (var t in inputs) { t.RequiresGrad = true; t.Grad = null; }
        var yf = fused(inputs);
        var seed = Tensor.Randn(yf.Shape, new Generator(99));
        yf.Backward(seed);
        var gradsFused = inputs.Select(t => t.Grad!.Clone()).ToArray();
        foreach (var t in inputs) t.Grad = null;
        var yc = composed(inputs);
        yc.Backward(seed);
        AssertClose(yc, yf, tol, $"{name} output");
        for (int i = 0; i < inputs.Length; i++) AssertClose(inputs[i].Grad!, gradsFused[i], tol * 10, $"{name} gradient of input {i}");
    }

    [TestCase(-1)]
    [TestCase(0)]
    [TestCase(1)]
    public void Softmax_and_log_softmax_match_composed_twins(int axis)
    {
        var g = new Generator(1);
        AssertTwins("softmax", x => x[0].Softmax(axis), x => x[0].SoftmaxComposed(axis), [R(g, 3, 5, 4)]);
        AssertTwins("log softmax", x => x[0].LogSoftmax(axis), x => x[0].LogSoftmaxComposed(axis), [R(g, 3, 5, 4)]);
    }

    [Test]
    public void Softmax_is_stable_for_large_logits()
    {
        var x = Tensor.FromArray([1000f, 1001f, 1002f, -1000f], 1, 4);
        var p = x.Softmax().ToArray();
        var lp = x.LogSoftmax().ToArray();
        Assert.That(p.All(float.IsFinite) && lp.All(float.IsFinite), Is.True);
        Assert.That(p.Sum(), Is.EqualTo(1f).Within(1e-6));
        Assert.That(lp[2], Is.EqualTo(-Math.Log(1 + Math.Exp(-1) + Math.Exp(-2))).Within(1e-5));
        Assert.That(p[3], Is.EqualTo(0f));
    }

    [Test]
    public void Norms_match_composed_twins()
    {
        var g = new Generator(2);
        AssertTwins("group norm", x => Tensor.GroupNorm(x[0], 3, x[1], x[2]), x => Tensor.GroupNormComposed(x[0], 3, x[1], x[2]), [R(g, 2, 6, 3, 5), R(g, 6), R(g, 6)], 1e-4f);
        AssertTwins("group norm plain", x => Tensor.GroupNorm(x[0], 1), x => Tensor.GroupNormComposed(x[0], 1), [R(g, 3, 4, 7)], 1e-4f);
        AssertTwins("group norm silu", x => Tensor.GroupNormSilu(x[0], 3, x[1], x[2]), x => Tensor.GroupNorm(x[0], 3, x[1], x[2]).Silu(), [R(g, 2, 6, 3, 5), R(g, 6), R(g, 6)], 1e-4f);
        AssertTwins("layer norm", x => Tensor.LayerNorm(x[0], x[1], x[2]), x => Tensor.LayerNormComposed(x[0], x[1], x[2]), [R(g, 4, 3, 33), R(g, 33), R(g, 33)], 1e-4f);
        AssertTwins("rms norm", x => Tensor.RmsNorm(x[0], x[1]), x => Tensor.RmsNormComposed(x[0], x[1]), [R(g, 5, 17), R(g, 17)], 1e-4f);
        AssertTwins("batch norm train", x => Tensor.BatchNorm2d(x[0], null, null, x[1], x[2], training: true),
            x => Tensor.BatchNorm2dComposed(x[0], null, null, x[1], x[2], training: true), [R(g, 3, 4, 5, 3), R(g, 4), R(g, 4)], 1e-4f);
        var rm = Tensor.FromArray([0.1f, -0.4f, 0.2f], 3); var rv = Tensor.FromArray([0.5f, 2f, 1.2f], 3);
        AssertTwins("batch norm eval", x => Tensor.BatchNorm2d(x[0], rm, rv, x[1], x[2], training: false),
            x => Tensor.BatchNorm2dComposed(x[0], rm, rv, x[1], x[2], training: false), [R(g, 2, 3, 4, 4), R(g, 3), R(g, 3)], 1e-4f);
    }

    [Test]
    public void Conv2d_op_matches_reference_kernel_on_a_strided_view()
    {
        var g = new Generator(3);
        var x = R(g, 2, 7, 6, 4).Permute(0, 3, 1, 2);                 // (2, 4, 7, 6), not contiguous
        var w = R(g, 6, 2, 3, 3); var b = R(g, 6);
        var y = Tensor.Conv2d(x, w, b, stride: 2, padding: 1, dilation: 1, groups: 2);
        var geo = Conv2dGeometry.Of(2, 4, 7, 6, 6, 3, 3, 2, 2, 1, 1, groups: 2);
        var expected = new float[geo.OutputLength];
        ConvReference.Forward(geo, x.ToArray(), w.ToArray(), b.ToArray(), expected);
        AssertClose(Tensor.Wrap(expected, 2, 6, geo.OutH, geo.OutW), y, 1e-4f, "conv2d");
    }

    [TestCase(1, 0, 0, 1, 1)]
    [TestCase(2, 1, 1, 1, 1)]
    [TestCase(3, 0, 2, 1, 2)]
    [TestCase(2, 2, 0, 2, 2)]
    public void ConvTranspose2d_matches_its_scatter_definition(int stride, int padding, int outputPadding, int dilation, int groups)
    {
        var g = new Generator(4);
        int n = 2, cin = 4, h = 3, wd = 4, coutG = 3, k = 3, cout = coutG * groups;
        var x = R(g, n, cin, h, wd); var w = R(g, cin, coutG, k, k); var b = R(g, cout);
        var y = Tensor.ConvTranspose2d(x, w, b, stride, padding, outputPadding, dilation, groups);
        int ho = (h - 1) * stride - 2 * padding + dilation * (k - 1) + outputPadding + 1;
        int wo = (wd - 1) * stride - 2 * padding + dilation * (k - 1) + outputPadding + 1;
        Assert.That(y.Shape, Is.EqualTo(new[] { n, cout, ho, wo }));
        // y[n, co, i·s − p + ki·d, j·s − p + kj·d] += x[n, ci, i, j] · w[ci, co − group·coutG, ki, kj]
        var expected = new double[n * cout * ho * wo];
        for (int i = 0; i < expected.Length; i++) expected[i] = b[i / (ho * wo) % cout];
        int cinG = cin / groups;
        for (int bn = 0; bn < n; bn++)
            for (int ci = 0; ci < cin; ci++)
                for (int cl = 0; cl < coutG; cl++)
                    for (int i = 0; i < h; i++)
                        for (int j = 0; j < wd; j++)
                            for (int ki = 0; ki < k; ki++)
                                for (int kj = 0; kj < k; kj++)
                                {
                                    int oh = i * stride - padding + ki * dilation, ow = j * stride - padding + kj * dilation;
                                    if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                                    int co = ci / cinG * coutG + cl;
                                    expected[((bn * cout + co) * ho + oh) * wo + ow] += x[bn, ci, i, j] * w[ci, cl, ki, kj];
                                }
        AssertClose(Tensor.Wrap(expected.Select(v => (float)v).ToArray(), n, cout, ho, wo), y, 1e-4f, "conv transpose");
    }

    [Test]
    public void Pooling_and_upsampling_give_hand_computed_values()
    {
        var x = Tensor.Arange(16).Reshape(1, 1, 4, 4);
        Assert.That(x.AvgPool2d(2).ToArray(), Is.EqualTo(new[] { 2.5f, 4.5f, 10.5f, 12.5f }));
        Assert.That(x.MaxPool2d(2).ToArray(), Is.EqualTo(new[] { 5f, 7f, 13f, 15f }));
        Assert.That(x.MaxPool2d(3, 1).ToArray(), Is.EqualTo(new[] { 10f, 11f, 14f, 15f }));
        Assert.That(x.AvgPool2d(3, 2, 1).ToArray()[0], Is.EqualTo((0f + 1 + 4 + 5) / 9f).Within(1e-6));
        var u = Tensor.FromArray([1f, 2f, 3f, 4f], 1, 1, 2, 2).UpsampleNearest2d(2);
        Assert.That(u.Shape, Is.EqualTo(new[] { 1, 1, 4, 4 }));
        Assert.That(u.ToArray(), Is.EqualTo(new[] { 1f, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 }));
    }

    [Test]
    public void Conv_modules_have_pytorch_names_shapes_and_init()
    {
        var g = new Generator(5);
        var conv = new Nn.Conv2d(6, 8, 3, g, stride: 2, padding: 1, groups: 2);
        Assert.That(conv.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "weight", "bias" }));
        Assert.That(conv.Weight.Shape, Is.EqualTo(new[] { 8, 3, 3, 3 }));
        Assert.That(conv.Forward(R(g, 2, 6, 9, 8)).Shape, Is.EqualTo(new[] { 2, 8, 5, 4 }));
        AssertUniformInit(conv.Weight, 1 / Math.Sqrt(3 * 9));

        var up = new Nn.ConvTranspose2d(4, 6, 4, g, stride: 2, padding: 1);
        Assert.That(up.Weight.Shape, Is.EqualTo(new[] { 4, 6, 4, 4 }));
        Assert.That(up.Forward(R(g, 1, 4, 5, 3)).Shape, Is.EqualTo(new[] { 1, 6, 10, 6 }));
        AssertUniformInit(up.Weight, 1 / Math.Sqrt(6 * 16));
        Assert.That(new Nn.Conv2d(3, 4, 1, g, bias: false).NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "weight" }));
    }

    static void AssertUniformInit(Tensor w, double bound)
    {
        var v = w.ToArray();
        Assert.That(v.All(e => Math.Abs(e) <= bound), Is.True, "within the bound");
        Assert.That(v.Max(), Is.GreaterThan(bound * 0.5), "spread over the range");
        Assert.That(v.Min(), Is.LessThan(-bound * 0.5), "spread over the range");
    }

    [Test]
    public void Norm_and_upsample_modules_have_pytorch_names_and_shapes()
    {
        var g = new Generator(6);
        var x = R(g, 2, 4, 3, 5);
        var gn = new Nn.GroupNorm(2, 4);
        Assert.That(gn.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "weight", "bias" }));
        Assert.That(gn.Weight!.ToArray(), Is.All.EqualTo(1f));
        Assert.That(gn.Forward(x).Shape, Is.EqualTo(x.Shape));
        Assert.That(new Nn.GroupNorm(2, 4, affine: false).NamedParameters(), Is.Empty);
        var ln = new Nn.LayerNorm(5);
        Assert.That(ln.Bias!.ToArray(), Is.All.EqualTo(0f));
        Assert.That(ln.Forward(x).Shape, Is.EqualTo(x.Shape));
        Assert.That(new Nn.LayerNorm(5, elementwiseAffine: false).NamedParameters(), Is.Empty);
        Assert.That(new Nn.RmsNorm(5).NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "weight" }));
        Assert.That(new Upsample(3).Forward(x).Shape, Is.EqualTo(new[] { 2, 4, 9, 15 }));
        var bn = new Nn.BatchNorm2d(4);
        Assert.That(bn.StateDict().Keys, Is.EquivalentTo(new[] { "weight", "bias", "running_mean", "running_var", "num_batches_tracked" }));
    }

    [Test]
    public void BatchNorm_updates_running_statistics_in_training_and_uses_them_in_eval()
    {
        var g = new Generator(7);
        var bn = new Nn.BatchNorm2d(3, momentum: 0.2f);
        var x = R(g, 4, 3, 2, 5) * 2f + 1f;
        var y = bn.Forward(x);
        // Training output: zero mean and unit (biased) variance per channel.
        var perChannelMean = y.Mean([0, 2, 3]).ToArray();
        Assert.That(perChannelMean, Is.All.EqualTo(0f).Within(1e-5));
        var batchMean = x.Mean([0, 2, 3]).ToArray();
        var batchVar = x.Var([0, 2, 3]).ToArray();                        // unbiased, as the running variance uses
        for (int c = 0; c < 3; c++)
        {
            Assert.That(bn.RunningMean![c], Is.EqualTo(0.2f * batchMean[c]).Within(1e-5));
            Assert.That(bn.RunningVar![c], Is.EqualTo(0.8f + 0.2f * batchVar[c]).Within(1e-4));
        }
        Assert.That(bn.NumBatchesTracked!.Item(), Is.EqualTo(1f));

        bn.Eval();
        var before = bn.RunningMean!.ToArray();
        var ye = bn.Forward(x);
        Assert.That(bn.RunningMean.ToArray(), Is.EqualTo(before), "eval leaves the buffers alone");
        var expected = (x - bn.RunningMean.Reshape(1, 3, 1, 1)) / (bn.RunningVar!.Reshape(1, 3, 1, 1) + 1e-5f).Sqrt();
        AssertClose(expected, ye, 1e-5f, "eval output");
        Assert.That(bn.NumBatchesTracked.Item(), Is.EqualTo(1f));
    }

    static void AssertShapeError(TestDelegate call, params string[] fragments)
    {
        var e = Assert.Throws<ShapeMismatchException>(call)!;
        foreach (var f in fragments) Assert.That(e.Message, Does.Contain(f));
    }

    [Test]
    public void Bad_shapes_raise_typed_errors_that_name_op_and_shapes()
    {
        var g = new Generator(8);
        var x = R(g, 2, 4, 5, 5);
        AssertShapeError(() => Tensor.Conv2d(x, R(g, 3, 3, 3, 3), null), "Conv2d", "[2, 4, 5, 5]", "[3, 3, 3, 3]");
        AssertShapeError(() => Tensor.Conv2d(x, R(g, 3, 4, 3, 3), null, groups: 3), "Conv2d", "groups=3", "[2, 4, 5, 5]");
        AssertShapeError(() => Tensor.Conv2d(x, R(g, 3, 2, 3, 3), null, groups: 2), "Conv2d", "groups=2", "3 output channels");
        AssertShapeError(() => Tensor.Conv2d(x, R(g, 6, 4, 3, 3), R(g, 5)), "Conv2d", "bias [5]", "[6]");
        AssertShapeError(() => Tensor.Conv2d(R(g, 4, 5, 5), R(g, 6, 4, 3, 3), null), "Conv2d", "[4, 5, 5]");
        AssertShapeError(() => Tensor.Conv2d(x, R(g, 6, 4, 7, 7), null), "Conv2d", "smaller than the dilated kernel");
        AssertShapeError(() => Tensor.ConvTranspose2d(x, R(g, 3, 2, 3, 3), null), "ConvTranspose2d", "[2, 4, 5, 5]", "[3, 2, 3, 3]");
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.ConvTranspose2d(x, R(g, 4, 2, 3, 3), null, stride: 2, outputPadding: 2));
        AssertShapeError(() => Tensor.GroupNorm(x, 3), "GroupNorm", "3 groups", "[2, 4, 5, 5]");
        AssertShapeError(() => Tensor.GroupNorm(x, 2, R(g, 5)), "GroupNorm", "weight [5]", "[4]");
        AssertShapeError(() => Tensor.GroupNormSilu(x, 3), "GroupNormSilu", "3 groups", "[2, 4, 5, 5]");
        AssertShapeError(() => Tensor.GroupNormSilu(x, 2, null, R(g, 3)), "GroupNormSilu", "bias [3]", "[4]");
        AssertShapeError(() => Tensor.LayerNorm(x, R(g, 4)), "LayerNorm", "weight [4]", "[2, 4, 5, 5]", "[5]");
        AssertShapeError(() => Tensor.RmsNorm(x, R(g, 2)), "RmsNorm", "[2]");
        AssertShapeError(() => Tensor.BatchNorm2d(R(g, 2, 4, 5), null, null, null, null, true), "BatchNorm2d", "[2, 4, 5]");
        AssertShapeError(() => Tensor.BatchNorm2d(x, Tensor.Zeros([3]), Tensor.Ones([3]), null, null, true), "BatchNorm2d", "running mean [3]");
        AssertShapeError(() => Tensor.BatchNorm2d(R(g, 1, 4, 1, 1), null, null, null, null, true), "BatchNorm2d", "more than one value");
        AssertShapeError(() => Tensor.Scalar(1f).Softmax(), "Softmax");
        AssertShapeError(() => x.Softmax(4), "Softmax", "axis 4");
        AssertShapeError(() => x.MaxPool2d(6), "MaxPool2d", "[2, 4, 5, 5]");
        AssertShapeError(() => R(g, 4, 5).AvgPool2d(2), "AvgPool2d", "[4, 5]");
        AssertShapeError(() => R(g, 4, 5).UpsampleNearest2d(2), "UpsampleNearest2d", "[4, 5]");
        AssertShapeError(() => new Nn.Conv2d(4, 6, 3, g, groups: 4), "Conv2d", "groups 4");
        AssertShapeError(() => new Nn.Conv2d(4, 8, 3, g).Forward(R(g, 1, 3, 8, 8)), "Conv2d", "[1, 3, 8, 8]", "[8, 4, 3, 3]");
    }
}
