using Engine.Autograd;
using Engine.Random;

namespace Engine.Tests;

public sealed class TensorTests
{
    static Tensor T(float[] v, params int[] s) => Tensor.FromArray(v, s);

    [Test]
    public void Reshape_of_contiguous_is_a_view_and_permute_shares_storage()
    {
        var x = Tensor.Arange(6).Reshape(2, 3);
        var v = x.Reshape(3, 2);
        Assert.That(v.Storage, Is.SameAs(x.Storage));
        var p = x.T;
        Assert.That(p.Storage, Is.SameAs(x.Storage));
        Assert.That(p.IsContiguous, Is.False);
        Assert.That(p.Contiguous().ToArray(), Is.EqualTo(new float[] { 0, 3, 1, 4, 2, 5 }));
    }

    [Test]
    public void Reshape_infers_one_axis_and_rejects_wrong_counts()
    {
        Assert.That(Tensor.Zeros([4, 6]).Reshape(-1, 3).Shape, Is.EqualTo(new[] { 8, 3 }));
        var ex = Assert.Throws<ShapeMismatchException>(() => Tensor.Zeros([4, 6]).Reshape(5, -1));
        Assert.That(ex!.Message, Does.Contain("Reshape").And.Contain("[4, 6]"));
    }

    [Test]
    public void Narrow_expand_and_cat_give_the_expected_values()
    {
        var x = Tensor.Arange(12).Reshape(3, 4);
        Assert.That(x.Narrow(1, 1, 2).ToArray(), Is.EqualTo(new float[] { 1, 2, 5, 6, 9, 10 }));
        Assert.That(T([1, 2], 2, 1).Expand(2, 3).ToArray(), Is.EqualTo(new float[] { 1, 1, 1, 2, 2, 2 }));
        var c = Tensor.Cat([T([1, 2], 1, 2), T([3, 4, 5, 6], 2, 2)], 0);
        Assert.That(c.Shape, Is.EqualTo(new[] { 3, 2 }));
        Assert.That(c.ToArray(), Is.EqualTo(new float[] { 1, 2, 3, 4, 5, 6 }));
        var parts = c.Split([1, 2], 0);
        Assert.That(parts[1].ToArray(), Is.EqualTo(new float[] { 3, 4, 5, 6 }));
    }

    [Test]
    public void Broadcasting_follows_numpy_rules()
    {
        var a = T([1, 2, 3], 3);
        var b = T([10, 20], 2, 1);
        Assert.That((a + b).ToArray(), Is.EqualTo(new float[] { 11, 12, 13, 21, 22, 23 }));
        Assert.That((a.Reshape(1, 3).Expand(2, 3) * 2f).Shape, Is.EqualTo(new[] { 2, 3 }));
        var ex = Assert.Throws<ShapeMismatchException>(() => _ = Tensor.Zeros([2, 3]) + Tensor.Zeros([4]));
        Assert.That(ex!.Message, Does.Contain("Add").And.Contain("[2, 3]").And.Contain("[4]"));
    }

    [Test]
    public void Strided_operands_give_the_same_result_as_contiguous_copies()
    {
        var g = new Generator(3);
        var a = Tensor.Randn([5, 7], g).T;           // (7, 5) strided
        var b = Tensor.Randn([7, 1], g);
        var expected = a.Contiguous().ToArray().Select((v, i) => v * b.ToArray()[i / 5]).ToArray();
        Assert.That((a * b).ToArray(), Is.EqualTo(expected).Within(1e-6f));
    }

    [Test]
    public void Reductions_over_axes_with_keepdim()
    {
        var x = Tensor.Arange(24).Reshape(2, 3, 4);
        var s = x.Sum([0, 2], keepDim: true);
        Assert.That(s.Shape, Is.EqualTo(new[] { 1, 3, 1 }));
        Assert.That(s.ToArray(), Is.EqualTo(new float[] { 0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19, 8 + 9 + 10 + 11 + 20 + 21 + 22 + 23 }));
        Assert.That(x.Mean().Item(), Is.EqualTo(11.5f));
        Assert.That(x.Max(1).ToArray(), Is.EqualTo(new float[] { 8, 9, 10, 11, 20, 21, 22, 23 }));
        Assert.That(x.Argmax(2).ToArray(), Is.EqualTo(new float[] { 3, 3, 3, 3, 3, 3 }));
        Assert.That(T([1, 2, 3, 4], 4).Var().Item(), Is.EqualTo(5f / 3f).Within(1e-6f));
        Assert.That(T([1000, 1000], 2).LogSumExp().Item(), Is.EqualTo(1000f + MathF.Log(2f)).Within(1e-3f));
    }

    [Test]
    public void Matmul_batched_matches_the_reference_kernel()
    {
        var g = new Generator(1);
        var a = Tensor.Randn([3, 7, 33], g);
        var b = Tensor.Randn([33, 17], g);
        var y = Tensor.MatMul(a, b);
        Assert.That(y.Shape, Is.EqualTo(new[] { 3, 7, 17 }));
        var expected = new float[3 * 7 * 17];
        for (int i = 0; i < 3; i++)
            Kernels.Cpu.Gemm.Reference(false, false, 7, 17, 33, 1f, a.ToArray().AsSpan(i * 7 * 33), 33, b.ToArray(), 17, 0f, expected.AsSpan(i * 7 * 17), 17);
        Assert.That(y.ToArray(), Is.EqualTo(expected).Within(1e-4f));
        Assert.Throws<ShapeMismatchException>(() => Tensor.MatMul(Tensor.Zeros([2, 3]), Tensor.Zeros([4, 2])));
    }

    [Test]
    public void Where_does_not_leak_infinity_from_the_branch_not_taken()
    {
        var x = T([-1, 2], 2).RequireGrad();
        var y = Tensor.Where(x.Gt(0f), x.Log(), Tensor.Zeros([2]));
        Assert.That(y.ToArray(), Is.EqualTo(new float[] { 0, MathF.Log(2) }));
        y.Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new float[] { 0, 0.5f }));
    }

    [Test]
    public void Gather_and_index_select_check_their_indices()
    {
        var x = Tensor.Arange(6).Reshape(2, 3);
        Assert.That(x.Gather(1, [2, 0]).ToArray(), Is.EqualTo(new float[] { 2, 3 }));
        Assert.That(x.IndexSelect(0, [1, 1]).ToArray(), Is.EqualTo(new float[] { 3, 4, 5, 3, 4, 5 }));
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => x.IndexSelect(0, [2]));
        Assert.That(ex!.Message, Does.Contain("IndexSelect").And.Contain("index 2"));
        Assert.That(Tensor.OneHot([2, 0], 3).ToArray(), Is.EqualTo(new float[] { 0, 0, 1, 1, 0, 0 }));
    }

    [Test]
    public void Tensors_on_different_devices_are_a_clear_error()
    {
        var onGpu = Tensor.Zeros([3]).To(GpuTestDevice.Device);
        var ex = Assert.Throws<DeviceMismatchException>(() => _ = Tensor.Zeros([3]) + onGpu);
        Assert.That(ex!.Message, Does.Contain("Add").And.Contain(Device.CpuAcceleratorName));
        Assert.Throws<DeviceUnavailableException>(() => Storage.Create(new float[3], new Device(DeviceKind.Gpu, 0, "no-such-kind")));
    }
}

public sealed class AutogradTests
{
    [Test]
    public void Gradients_accumulate_across_backward_calls_until_zeroed()
    {
        var x = Tensor.FromArray([1f, 2f], 2).RequireGrad();
        (x * x).Sum().Backward();
        (x * x).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new float[] { 4, 8 }));
        x.ZeroGrad();
        (x * 3f).Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new float[] { 3, 3 }));
    }

    [Test]
    public void A_tensor_used_twice_receives_both_gradients()
    {
        var x = Tensor.FromArray([3f], 1).RequireGrad();
        var y = x * x + x.Exp() * x;   // dy/dx = 2x + e^x (1 + x)
        y.Sum().Backward();
        Assert.That(x.Grad!.Item(), Is.EqualTo(6f + MathF.Exp(3f) * 4f).Within(1e-3f));
    }

    [Test]
    public void Broadcast_input_gradient_is_reduced_to_its_shape()
    {
        var bias = Tensor.Zeros([3]).RequireGrad();
        (Tensor.Ones([4, 3]) + bias).Sum().Backward();
        Assert.That(bias.Grad!.Shape, Is.EqualTo(new[] { 3 }));
        Assert.That(bias.Grad.ToArray(), Is.EqualTo(new float[] { 4, 4, 4 }));
    }

    [Test]
    public void NoGrad_and_Detach_record_nothing()
    {
        var x = Tensor.Ones([2]).RequireGrad();
        using (GradMode.NoGrad())
        {
            var y = x * 2f;
            Assert.That(y.RequiresGrad, Is.False);
            Assert.That(y.Node, Is.Null);
        }
        var d = (x * 2f).Detach();
        Assert.That(d.RequiresGrad, Is.False);
        Assert.That(d.IsLeaf, Is.True);
        Assert.That((x * 2f).RequiresGrad, Is.True);
    }

    [Test]
    public void Backward_without_a_graph_or_on_a_non_scalar_is_an_error()
    {
        Assert.Throws<InvalidOperationException>(() => Tensor.Ones([1]).Backward());
        var x = Tensor.Ones([2]).RequireGrad();
        Assert.Throws<ShapeMismatchException>(() => (x * 2f).Backward());
    }

    [Test]
    public void Retained_intermediate_gradient_is_visible()
    {
        var x = Tensor.FromArray([2f], 1).RequireGrad();
        var h = x * 3f;
        h.RetainGrad = true;
        (h * h).Sum().Backward();
        Assert.That(h.Grad!.Item(), Is.EqualTo(12f));
        Assert.That(x.Grad!.Item(), Is.EqualTo(36f));
    }

    [Test]
    public void Graph_dump_lists_ops_with_shapes_in_text_and_dot()
    {
        var w = Tensor.Ones([2, 4]).RequireGrad(); w.Name = "w";
        var x = Tensor.Ones([3, 2]);
        var loss = Tensor.MatMul(x, w).Relu().Mean();
        var text = GraphDump.ToText(loss);
        Assert.That(text, Does.Contain("leaf w [2, 4]").And.Contain("MatMul").And.Contain("-> [3, 4]").And.Contain("Relu"));
        var dot = GraphDump.ToDot(loss);
        Assert.That(dot, Does.StartWith("digraph autograd").And.Contain("MatMul").And.Contain("->"));
    }

    [Test]
    public void Grad_checker_catches_a_wrong_backward()
    {
        // An op whose backward claims d(x²)/dx = x instead of 2x: the checker must fail on it.
        static Tensor WrongSquare(Tensor x)
        {
            var y = Tensor.Wrap(x.ToArray().Select(v => v * v).ToArray(), x.Shape);
            return Backprop.Record("WrongSquare", y, [x], g => Backprop.Accumulate(x, g * x));
        }
        Assert.Throws<AssertionException>(() =>
            GradCheck.Check(t => WrongSquare(t[0]), [Tensor.Randn([4], new Generator(1))], name: "wrong"));
    }
}

public sealed class RandomTests
{
    [Test]
    public void Same_seed_same_numbers_and_state_resumes_exactly()
    {
        var a = Tensor.Randn([1000], new Generator(42)).ToArray();
        var b = Tensor.Randn([1000], new Generator(42)).ToArray();
        Assert.That(a, Is.EqualTo(b));
        var g = new Generator(7);
        _ = Tensor.Rand([13], g);
        var saved = g.Offset;
        var next = Tensor.Rand([5], g).ToArray();
        var resumed = new Generator(7) { Offset = saved };
        Assert.That(Tensor.Rand([5], resumed).ToArray(), Is.EqualTo(next));
    }

    [Test]
    public void Philox_matches_the_published_known_answer()
    {
        // Random123 kat_vectors: philox4x32_10, counter = key = 0.
        var (a, b, c, d) = Philox.Block(0, 0, 0, 0, 0, 0);
        Assert.That(new[] { a, b, c, d }, Is.EqualTo(new uint[] { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 }));
        (a, b, c, d) = Philox.Block(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff);
        Assert.That(new[] { a, b, c, d }, Is.EqualTo(new uint[] { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd }));
    }

    [Test]
    public void Normal_and_uniform_have_the_right_moments()
    {
        var n = Tensor.Randn([100_000], new Generator(1));
        Assert.That(n.Mean().Item(), Is.EqualTo(0f).Within(0.02f));
        Assert.That(n.Var().Item(), Is.EqualTo(1f).Within(0.02f));
        var u = Tensor.Rand([100_000], new Generator(2), -1f, 3f).ToArray();
        Assert.That(u.Min(), Is.GreaterThanOrEqualTo(-1f));
        Assert.That(u.Max(), Is.LessThan(3f));
        Assert.That(u.Average(), Is.EqualTo(1f).Within(0.02f));
        var perm = new Generator(3).Permutation(50);
        Assert.That(perm.OrderBy(v => v), Is.EqualTo(Enumerable.Range(0, 50)));
    }
}
