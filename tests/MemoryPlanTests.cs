using Engine.Autograd;
using Engine.Random;
using Models.Diffusion;

namespace Engine.Tests;

/// <summary>
/// <see cref="MemoryPlan"/>: a repeated no-grad step learns on its first run when each intermediate is last read and
/// frees it right there on later runs; results never change, and a mistake is loud, never a stale value.
/// </summary>
public sealed class MemoryPlanTests
{
    /// <summary>A chain of ops on (128, 128) values (large enough for pooled arrays); <paramref name="readLate"/> reads an early intermediate at the end.</summary>
    static Tensor Step(Tensor x, bool readLate = false, bool extraOp = false)
    {
        var a = (x * 0.5f).Exp();
        var b = a.Tanh() + x;
        var c = b.Softmax(-1) * 3f;
        if (extraOp) c = c.Sigmoid();
        var d = c - b.Mean(-1, keepDim: true);
        if (readLate) _ = a.ToArray();
        return d;
    }

    static Tensor Run(int steps, MemoryPlan? plan, Func<int, (bool ReadLate, bool ExtraOp)>? options = null)
    {
        using var _ = GradMode.NoGrad();
        var x = Tensor.Randn([128, 128], new Generator(3));
        for (int i = 0; i < steps; i++)
        {
            var (readLate, extraOp) = options?.Invoke(i) ?? (false, false);
            using var scope = plan is null ? new DeviceScope() : new DeviceScope(plan);
            x = scope.Keep(Step(x, readLate, extraOp));
        }
        return x;
    }

    [Test]
    public void Replayed_steps_release_early_and_give_the_same_values()
    {
        var expected = Run(4, plan: null).ToArray();
        var plan = new MemoryPlan();
        var got = Run(4, plan).ToArray();
        Assert.That(got, Is.EqualTo(expected));
        Assert.That(plan.Recordings, Is.EqualTo(1));
        Assert.That(plan.Replays, Is.EqualTo(3));
        Assert.That(plan.ReleasedEarly, Is.GreaterThan(3 * 4), "each replay frees its intermediates after their last reads");
    }

    [Test]
    public void A_read_the_plan_did_not_see_throws_instead_of_reading_freed_memory()
    {
        var plan = new MemoryPlan();
        Run(2, plan);
        Assert.That(plan.IsReady);
        // Same ops, but now an early intermediate is read after its recorded last use: it has been released.
        var e = Assert.Throws<ObjectDisposedException>(() => Run(1, plan, _ => (ReadLate: true, ExtraOp: false)));
        Assert.That(e!.Message, Does.Contain("pool"));
    }

    [Test]
    public void A_step_that_runs_other_ops_stops_releasing_and_the_next_step_records_again()
    {
        var plan = new MemoryPlan();
        var expected = Run(4, plan: null, i => (false, i == 2)).ToArray();
        var got = Run(4, plan, i => (false, i == 2)).ToArray();
        Assert.That(got, Is.EqualTo(expected));
        Assert.That(plan.Recordings, Is.EqualTo(2), "step 0, and step 3 after step 2 left the plan");
        Assert.That(plan.Replays, Is.EqualTo(1), "step 1 only");
    }

    [Test]
    public void A_recorded_step_reads_late_without_trouble()
    {
        // The recording sees the late read, so the replay keeps that intermediate until then.
        var plan = new MemoryPlan();
        var expected = Run(3, plan: null, _ => (true, false)).ToArray();
        Assert.That(Run(3, plan, _ => (true, false)).ToArray(), Is.EqualTo(expected));
        Assert.That(plan.Replays, Is.EqualTo(2));
    }

    [Test]
    public void A_guided_unet_step_replays_its_plan()
    {
        var net = new UNet(new UNetConfig(BaseChannels: 8, ResBlocks: 1), new Generator(1));
        var x = Tensor.Randn([2, 1, 28, 28], new Generator(2));
        int[] t = [500, 500], labels = [1, 2];
        using var _ = GradMode.NoGrad();
        var plan = new MemoryPlan();
        float[]? first = null;
        for (int i = 0; i < 3; i++)
        {
            using var scope = new DeviceScope(plan);
            var y = Guidance.Predict(net, x, t, labels, 3f).ToArray();
            first ??= y;
            Assert.That(y, Is.EqualTo(first), $"step {i}");
        }
        Assert.That((plan.Recordings, plan.Replays), Is.EqualTo((1, 2)));
        Assert.That(plan.ReleasedEarly, Is.GreaterThan(0));
    }
}
