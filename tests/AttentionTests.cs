using Engine.Random;
using Kernels.Cpu;

namespace Engine.Tests;

public sealed class AttentionTests
{
    [TestCase(false)]
    [TestCase(true)]
    public void Fused_op_matches_its_composed_twin_in_value_and_gradient(bool causal)
    {
        var g = new Generator(5);
        Tensor[] Make() { var gg = new Generator(5); return [Tensor.Randn([2, 3, 9, 8], gg), Tensor.Randn([2, 3, 9, 8], gg), Tensor.Randn([2, 3, 9, 8], gg)]; }
        var a = Make().Select(t => t.RequireGrad()).ToArray();
        var b = Make().Select(t => t.RequireGrad()).ToArray();
        var w = Tensor.Randn([2, 3, 9, 8], g);
        var fused = Tensor.Attention(a[0], a[1], a[2], causal);
        var composed = Tensor.AttentionComposed(b[0], b[1], b[2], causal);
        Assert.That(fused.ToArray(), Is.EqualTo(composed.ToArray()).Within(1e-5f));
        (fused * w).Sum().Backward();
        (composed * w).Sum().Backward();
        for (int i = 0; i < 3; i++) Assert.That(a[i].Grad!.ToArray(), Is.EqualTo(b[i].Grad!.ToArray()).Within(1e-4f));
    }

    [Test]
    public void Mismatched_shapes_name_the_op_and_the_shapes()
    {
        var ex = Assert.Throws<ShapeMismatchException>(() => Tensor.Attention(Tensor.Zeros([2, 4, 8]), Tensor.Zeros([2, 5, 7]), Tensor.Zeros([2, 5, 7])));
        Assert.That(ex!.Message, Does.Contain("Attention").And.Contain("[2, 4, 8]").And.Contain("[2, 5, 7]"));
    }
}
