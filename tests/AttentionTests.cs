using Engine.Random;
using Kernels.Cpu;

namespace Engine.Tests;

public sealed class AttentionTests
{
    [TestCase(1, 1, 1, 1, false)]
    [TestCase(3, 7, 7, 5, false)]
    [TestCase(2, 33, 17, 16, false)]
    [TestCase(2, 17, 33, 64, true)]
    [TestCase(4, 49, 49, 8, true)]
    [TestCase(2, 5, 9, 1, true)]        // D = 1, causal with T_q < T_k
    [TestCase(2, 13, 7, 17, false)]     // fewer keys than one vector, D = 17 (a vector plus one)
    [TestCase(3, 21, 30, 17, true)]
    [TestCase(2, 20, 11, 64, false)]    // T_q > T_k
    [TestCase(1, 37, 37, 64, true)]     // query rows not a multiple of the block
    [TestCase(2, 30, 45, 24, true)]
    public void Every_variant_matches_the_reference(int heads, int tq, int tk, int d, bool causal)
    {
        var g = new Generator(11);
        float[] R(int n) { var a = new float[n]; g.FillNormal(a); return a; }
        var q = R(heads * tq * d); var k = R(heads * tk * d); var v = R(heads * tk * d); var dO = R(heads * tq * d);
        float scale = 1f / MathF.Sqrt(d);
        var oRef = new float[q.Length]; var lRef = new float[heads * tq];
        Kernels.Cpu.Attention.ForwardReference(heads, tq, tk, d, scale, causal, q, k, v, oRef, lRef);
        var (dqRef, dkRef, dvRef) = (new float[q.Length], new float[k.Length], new float[v.Length]);
        Kernels.Cpu.Attention.BackwardReference(heads, tq, tk, d, scale, causal, q, k, v, oRef, lRef, dO, dqRef, dkRef, dvRef);

        foreach (var fv in KernelRegistry.AttentionForward)
        {
            var o = new float[q.Length]; var l = new float[heads * tq];
            fv.Run(heads, tq, tk, d, scale, causal, q, k, v, o, l);
            Assert.That(o, Is.EqualTo(oRef).Within(1e-4f), fv.Name);
            Assert.That(l, Is.EqualTo(lRef).Within(1e-4f), fv.Name);
        }
        foreach (var bv in KernelRegistry.AttentionBackward)
        {
            var (dq, dk, dv) = (new float[q.Length], new float[k.Length], new float[v.Length]);
            bv.Run(heads, tq, tk, d, scale, causal, q, k, v, oRef, lRef, dO, dq, dk, dv);
            Assert.That(dq, Is.EqualTo(dqRef).Within(2e-4f), bv.Name + " dQ");
            Assert.That(dk, Is.EqualTo(dkRef).Within(2e-4f), bv.Name + " dK");
            Assert.That(dv, Is.EqualTo(dvRef).Within(2e-4f), bv.Name + " dV");
        }
    }

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
