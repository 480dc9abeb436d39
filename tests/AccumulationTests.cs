using Engine.Autograd;
using Engine.Random;

namespace Engine.Tests;

/// <summary>
/// How gradients from several uses of one tensor add up: gradients an op made for itself are summed in place, the
/// ones it passes on (shared with other inputs) are never written into; and the op profile's account of a step.
/// </summary>
public sealed class AccumulationTests
{
    [Test]
    public void A_gradient_passed_to_two_inputs_is_not_changed_by_adding_into_either()
    {
        var x = Tensor.FromArray([1f, 2f, 3f], [3]).RequireGrad();
        var y = Tensor.FromArray([4f, 5f, 6f], [3]).RequireGrad();
        var h = x * 1f;                                                   // non-leaf, used three times
        var k = y * 1f;
        var s = h + k;                                                    // Add hands the same gradient to h and k
        var loss = (s + h * 2f + h.Narrow(0, 1, 2) .Sum() * 0f + (k * 3f)).Sum() + h.Narrow(0, 0, 2).Sum();
        loss.Backward();
        // d/dh: 1 (s) + 2 + 0 + [1, 1, 0] (the narrow); d/dk: 1 (s) + 3.
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 4f, 4f, 3f }));
        Assert.That(y.Grad!.ToArray(), Is.EqualTo(new[] { 4f, 4f, 4f }));
    }

    [Test]
    public void Narrowed_slices_of_one_tensor_sum_into_its_gradient()
    {
        var x = Tensor.Randn([6, 4], new Generator(1)).RequireGrad();
        var h = x * 1f;
        var a = h.Narrow(0, 0, 2);
        var b = h.Narrow(0, 2, 4);
        var c = h.Narrow(0, 1, 3);                                        // overlaps both
        ((a * 1f).Sum() + (b * 3f).Sum() + (c * 10f).Sum() + (h * 100f).Sum()).Backward();
        var g = x.Grad!;
        for (int r = 0; r < 6; r++)
        {
            float expected = 100f + (r < 2 ? 1f : 3f) + (r is >= 1 and < 4 ? 10f : 0f);
            for (int j = 0; j < 4; j++) Assert.That(g[r, j], Is.EqualTo(expected), $"row {r}");
        }
    }

    [Test]
    public void Convolution_gradients_summed_in_place_match_the_sum_of_separate_passes()
    {
        var gen = new Generator(2);
        var w1 = Tensor.Randn([4, 3, 3, 3], gen);
        var w2 = Tensor.Randn([4, 3, 1, 1], gen);
        var x = Tensor.Randn([2, 3, 6, 6], gen);

        Tensor Grad(Func<Tensor, Tensor> f)
        {
            var leaf = x.Detach().RequireGrad();
            f(leaf * 1f).Sum().Backward();
            return leaf.Grad!;
        }
        var both = Grad(h => Tensor.Conv2d(h, w1, null, padding: 1).Sum() + Tensor.Conv2d(h, w2, null).Sum() + h.Sum() * 0.5f);
        var first = Grad(h => Tensor.Conv2d(h, w1, null, padding: 1));
        var second = Grad(h => Tensor.Conv2d(h, w2, null));
        var expected = first.ToArray().Zip(second.ToArray(), (p, q) => p + q + 0.5f).ToArray();
        Assert.That(both.ToArray(), Is.EqualTo(expected).Within(1e-4f));
    }

    [Test]
    public void The_op_profile_counts_forward_and_backward_calls_by_op()
    {
        var x = Tensor.Randn([8, 8], new Generator(3)).RequireGrad();
        OpProfile profile;
        using (profile = OpProfile.Start())
        {
            var y = (x * 2f).Exp();
            y.Sum().Backward();
        }
        var ops = profile.Entries.ToDictionary(e => e.Op);
        Assert.That(ops.Keys, Is.SupersetOf(new[] { "Mul", "Exp", "Sum" }));
        foreach (var op in new[] { "Mul", "Exp", "Sum" })
        {
            Assert.That(ops[op].ForwardCalls, Is.EqualTo(1), op);
            Assert.That(ops[op].BackwardCalls, Is.EqualTo(1), op);
            Assert.That(ops[op].ForwardMs, Is.GreaterThanOrEqualTo(0));
        }
        // Mul's and Exp's gradient functions multiply too: those are part of their backward time, not forward calls.
        Assert.That(profile.Entries.Select(e => e.ForwardMs + e.BackwardMs), Is.Ordered.Descending);

        double elapsed = profile.ElapsedMs;
        Assert.That(elapsed, Is.GreaterThanOrEqualTo(profile.Entries.Sum(e => e.ForwardMs + e.BackwardMs)));
        (x * 3f).Sum();                                                   // after Dispose nothing is recorded, and the clock stands
        Thread.Sleep(5);
        Assert.That(profile.Entries.Single(e => e.Op == "Mul").ForwardCalls, Is.EqualTo(1));
        Assert.That(profile.ElapsedMs, Is.EqualTo(elapsed));
    }
}
