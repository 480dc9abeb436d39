using System.Runtime.CompilerServices;
using Engine.Autograd;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;

namespace Engine.Tests;

/// <summary>DeviceScope on the CPU: large arrays made in a scope are recycled at its end, kept ones survive, stale use throws.</summary>
public sealed class HostPoolTests
{
    const int Large = HostPool.MinLength * 2;

    [Test]
    public void Tensors_made_in_a_scope_are_recycled_zeroed_and_stale_use_throws()
    {
        Tensor inside, kept, small;
        float[] array;
        using (var scope = new DeviceScope())
        {
            inside = Tensor.Full([Large], 3f);
            array = inside.Storage.Data;
            kept = scope.Keep(Tensor.Ones([Large + 1]) * 2f);                    // another length: only `inside` returns arrays of Large
            small = Tensor.Ones([16]);
        }
        Assert.That(inside.Storage.IsDisposed, Is.True);
        Assert.Throws<ObjectDisposedException>(() => _ = inside.Span.ToArray());
        Assert.Throws<ObjectDisposedException>(() => _ = inside.Sum());
        Assert.That(kept.Storage.IsDisposed, Is.False);
        Assert.That(kept.ToArray(), Is.All.EqualTo(2f));
        Assert.That(small.ToArray(), Is.All.EqualTo(1f));                        // below the pooling size: an ordinary array

        using (new DeviceScope())
        {
            var again = Tensor.Zeros([Large]);
            Assert.That(ReferenceEquals(again.Storage.Data, array), Is.True, "the next scope reuses the array of the same length");
            Assert.That(again.ToArray(), Is.All.EqualTo(0f), "and hands it out zeroed");
        }
        var outside = Tensor.Zeros([Large]);                                      // no scope: a fresh array, never recycled
        Assert.That(ReferenceEquals(outside.Storage.Data, array), Is.False);
    }

    [Test]
    public void Nested_scopes_pass_kept_tensors_outward_and_suspend_opts_out()
    {
        Tensor fromInner, suspended;
        using (var outer = new DeviceScope())
        {
            using (var inner = new DeviceScope())
                fromInner = inner.Keep(Tensor.Ones([Large]));
            Assert.That(fromInner.ToArray(), Is.All.EqualTo(1f));
            using (DeviceScope.Suspend())
                suspended = Tensor.Ones([Large]);
        }
        Assert.That(fromInner.Storage.IsDisposed, Is.True, "kept by the inner scope only: the outer one recycles it");
        Assert.That(suspended.ToArray(), Is.All.EqualTo(1f));
    }

    [Test]
    public void Training_steps_in_scopes_match_steps_without_them()
    {
        float[] Train(bool scoped)
        {
            var g = new Generator(7);
            var net = new Linear(256, 128, g);
            var opt = new AdamW(net.Parameters(), 1e-2f);                       // its state is created inside the first scope
            var x = Tensor.Randn([200, 256], g);
            for (int step = 0; step < 3; step++)
            {
                using var scope = scoped ? new DeviceScope() : null;
                opt.ZeroGrad();
                Losses.MseLoss(net.Forward(x).Silu(), Tensor.Zeros([200, 128])).Backward();
                opt.Step();
            }
            return net.StateDict().Values.SelectMany(t => t.ToArray()).ToArray();
        }
        Assert.That(Train(scoped: true), Is.EqualTo(Train(scoped: false)));
    }

    [Test]
    public void A_temporary_that_dies_inside_the_scope_comes_back_after_a_collection_but_an_array_still_held_does_not()
    {
        const int HeldLength = HostPool.MinLength * 3 + 5, DroppedLength = HostPool.MinLength * 3 + 7;
        using (new DeviceScope())
        {
            long collected = HostPool.Collected;
            float[] held = ArrayOfATemporary(HeldLength);                        // its tensor is gone, the array is not
            DropATemporary(DroppedLength);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Assert.That(HostPool.Collected, Is.GreaterThan(collected), "the dead temporary's array came back");

            long hits = HostPool.Hits;
            var reused = Tensor.Zeros([DroppedLength]);
            Assert.That(HostPool.Hits, Is.EqualTo(hits + 1), "and is rented again");
            Assert.That(reused.ToArray(), Is.All.EqualTo(0f));
            var other = Tensor.Zeros([HeldLength]);
            Assert.That(ReferenceEquals(other.Storage.Data, held), Is.False, "an array something still reaches is never handed out");
            Assert.That(held, Is.All.EqualTo(5f));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static float[] ArrayOfATemporary(int n) => Tensor.Full([n], 5f).Storage.Data;

    [MethodImpl(MethodImplOptions.NoInlining)]
    static void DropATemporary(int n) => _ = Tensor.Full([n], 6f).Sum().Item();
}
