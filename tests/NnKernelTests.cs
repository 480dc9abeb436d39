using Engine.Random;
using Kernels.Cpu;

namespace Engine.Tests;

public sealed class NnKernelTests
{
    static float[] R(Generator g, int n) { var a = new float[n]; g.FillNormal(a); return a; }

    static IEnumerable<ConvShape> Shapes() =>
    [
        new(1, 1, 1, 1, 1, 1, 1),
        new(2, 3, 7, 5, 4, 3, 3, PadH: 1, PadW: 1),
        new(3, 4, 9, 8, 6, 3, 2, StrideH: 2, StrideW: 3, PadH: 1, PadW: 0, DilH: 2, DilW: 1, Groups: 2),
        new(2, 6, 5, 5, 3, 1, 1, Groups: 3),
        new(2, 8, 33, 7, 5, 5, 5, PadH: 2, PadW: 2),
        new(2, 16, 7, 7, 32, 1, 1),
    ];

    [TestCaseSource(nameof(Shapes))]
    public void Conv_variants_match_the_reference_in_all_three_passes(ConvShape s)
    {
        var g = new Generator(3);
        var x = R(g, s.InputSize); var w = R(g, s.WeightSize); var b = R(g, s.K); var dy = R(g, s.OutputSize);
        var yRef = new float[s.OutputSize];
        Conv.ForwardReference(s, x, w, b, yRef);
        foreach (var v in KernelRegistry.ConvForward)
        {
            var y = new float[s.OutputSize];
            v.Run(s, x, w, b, y);
            Assert.That(y, Is.EqualTo(yRef).Within(1e-4f), v.Name);
        }
        var dxRef = new float[s.InputSize]; var dx = new float[s.InputSize];
        Conv.BackwardDataReference(s, dy, w, dxRef);
        Conv.BackwardData(s, dy, w, dx);
        Assert.That(dx, Is.EqualTo(dxRef).Within(1e-4f));
        var dwRef = new float[s.WeightSize]; var dw = new float[s.WeightSize];
        Conv.BackwardWeightReference(s, x, dy, dwRef);
        Conv.BackwardWeight(s, x, dy, dw);
        Assert.That(dw, Is.EqualTo(dwRef).Within(1e-3f));
    }

    [Test]
    public void Bad_conv_geometry_is_rejected_with_the_shapes_in_the_message()
    {
        var ex = Assert.Throws<ShapeMismatchException>(() => Tensor.Conv2d(Tensor.Zeros([1, 3, 8, 8]), Tensor.Zeros([4, 2, 3, 3])));
        Assert.That(ex!.Message, Does.Contain("Conv2d").And.Contain("3 channels").And.Contain("[4, 2, 3, 3]"));
        Assert.Throws<ShapeMismatchException>(() => Tensor.Conv2d(Tensor.Zeros([1, 4, 2, 2]), Tensor.Zeros([4, 4, 5, 5])));
        Assert.Throws<ShapeMismatchException>(() => Tensor.Conv2d(Tensor.Zeros([1, 4, 8, 8]), Tensor.Zeros([6, 2, 3, 3]), groups: 3));
        Assert.Throws<ShapeMismatchException>(() => Tensor.GroupNorm(Tensor.Zeros([2, 6, 4, 4]), 4));
    }

    [Test]
    public void Conv_transpose_output_size_follows_pytorch()
    {
        var y = Tensor.ConvTranspose2d(Tensor.Zeros([2, 8, 7, 7]), Tensor.Zeros([8, 4, 4, 4]), null, stride: 2, padding: 1);
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 4, 14, 14 }));
        var z = Tensor.ConvTranspose2d(Tensor.Zeros([1, 3, 5, 5]), Tensor.Zeros([3, 2, 3, 3]), null, stride: 2, padding: 1, outputPadding: 1);
        Assert.That(z.Shape, Is.EqualTo(new[] { 1, 2, 10, 10 }));
    }

    [Test]
    public void Fused_softmax_matches_its_composed_twin()
    {
        var x = Tensor.Randn([5, 33], new Generator(2)) * 10f;
        Assert.That(x.Softmax(-1).ToArray(), Is.EqualTo(x.SoftmaxComposed(-1).ToArray()).Within(1e-6f));
        Assert.That(x.LogSoftmax(0).ToArray(), Is.EqualTo((x - x.LogSumExp(0, keepDim: true)).ToArray()).Within(1e-4f));
        var big = Tensor.FromArray([1000f, 0f, -1000f], 1, 3);
        Assert.That(big.Softmax().ToArray(), Is.EqualTo(new float[] { 1, 0, 0 }));
    }

    [Test]
    public void Norms_normalise_rows_to_zero_mean_unit_variance()
    {
        var x = Tensor.Randn([4, 6, 5, 5], new Generator(4)) * 3f + 2f;
        var y = Tensor.GroupNorm(x, 3);
        var groups = y.Reshape(4, 3, -1);
        Assert.That(groups.Mean([2]).ToArray(), Is.All.EqualTo(0f).Within(1e-5f));
        Assert.That(groups.Var([2], correction: 0).ToArray(), Is.All.EqualTo(1f).Within(1e-3f));
        var ln = Tensor.LayerNorm(Tensor.Randn([3, 64], new Generator(1)) * 5f);
        Assert.That(ln.Var([1], correction: 0).ToArray(), Is.All.EqualTo(1f).Within(1e-3f));
        var rms = Tensor.RmsNorm(Tensor.Randn([3, 64], new Generator(1)) * 5f);
        Assert.That(rms.Square().Mean([1]).ToArray(), Is.All.EqualTo(1f).Within(1e-3f));
    }
}
