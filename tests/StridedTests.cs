using Engine.Random;
using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>
/// The strided walk behind Contiguous, broadcasting binary ops and Cat merges axes and spreads rows over threads:
/// each is checked element by element against the tensor's indexer (offset + Σ index·stride, no walk).
/// </summary>
public sealed class StridedTests
{
    static IEnumerable<int[]> Indices(int[] shape)
    {
        var idx = new int[shape.Length];
        int total = shape.Aggregate(1, (a, b) => a * b);
        for (int n = 0; n < total; n++)
        {
            yield return (int[])idx.Clone();
            for (int d = shape.Length - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
        }
    }

    /// <summary>(4, 3, 60, 96) views (past the size at which rows go to several threads): contiguous, narrowed, transposed, broadcast.</summary>
    static IEnumerable<(string Name, Tensor View)> Views(Generator g)
    {
        var x = Tensor.Randn([4, 3, 60, 96], g);
        yield return ("contiguous", x);
        yield return ("narrowed channels", Tensor.Randn([4, 5, 60, 96], g).Narrow(1, 1, 3));
        yield return ("narrowed rows", Tensor.Randn([4, 3, 65, 96], g).Narrow(2, 2, 60));
        yield return ("transposed plane", Tensor.Randn([4, 3, 96, 60], g).Permute(0, 1, 3, 2));
        yield return ("bias (B, C, 1, 1) expanded", Tensor.Randn([4, 3, 1, 1], g).Expand(4, 3, 60, 96));
        yield return ("row expanded", Tensor.Randn([1, 3, 1, 96], g).Expand(4, 3, 60, 96));
    }

    [TestCase(1)]
    [TestCase(2)]
    public void Contiguous_and_binary_ops_read_every_view_like_the_indexer(int threads)
    {
        int saved = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try
        {
            var g = new Generator(3);
            var views = Views(g).ToList();
            foreach (var (name, v) in views)
            {
                var c = v.Contiguous();
                foreach (var i in Indices(v.Shape)) Assert.That(c[i], Is.EqualTo(v[i]), $"Contiguous of {name} at [{string.Join(", ", i)}]");
                foreach (var (other, w) in views)
                {
                    var sum = v + w;
                    foreach (var i in Indices(v.Shape))
                        Assert.That(sum[i], Is.EqualTo(v[i] + w[i]), $"{name} + {other} at [{string.Join(", ", i)}]");
                }
            }
        }
        finally { Parallelism.MaxThreads = saved; }
    }

    [Test]
    public void Cat_of_strided_and_broadcast_parts_places_every_element()
    {
        var g = new Generator(4);
        var a = Tensor.Randn([4, 96, 60, 3], g).Permute(0, 3, 2, 1);                 // (4, 3, 60, 96), transposed
        var b = Tensor.Randn([4, 1, 1, 96], g).Expand(4, 2, 60, 96);
        var c = Tensor.Cat([a, b], 1);
        foreach (var i in Indices(c.Shape))
        {
            float expected = i[1] < 3 ? a[i] : b[i[0], i[1] - 3, i[2], i[3]];
            Assert.That(c[i], Is.EqualTo(expected), $"Cat at [{string.Join(", ", i)}]");
        }
    }

    [Test]
    public void Coalesce_merges_contiguous_and_broadcast_axes_and_drops_ones()
    {
        // (B, C, H, W) + (B, C, 1, 1): H and W merge for all three operands, so rows are H·W long with the bias at stride 0.
        var walk = Strided.Coalesce([4, 8, 5, 6], [240, 30, 6, 1], [240, 30, 6, 1], [8, 1, 0, 0]);
        Assert.That(walk.Shape, Is.EqualTo(new[] { 32, 30 }));
        Assert.That((walk.OutStep, walk.AStep, walk.BStep), Is.EqualTo((1, 1, 0)));
        // A transposed operand keeps its axes apart.
        var t = Strided.Coalesce([3, 4], [4, 1], [1, 3], [4, 1]);
        Assert.That(t.Shape, Is.EqualTo(new[] { 3, 4 }));
        // Size-1 axes vanish, whatever their stride; rank 0 is one element.
        Assert.That(Strided.Coalesce([1, 7, 1], [99, 1, 5], [0, 1, 3], [7, 1, 1]).Shape, Is.EqualTo(new[] { 7 }));
        Assert.That(Strided.Coalesce([], [], [], []).Shape, Is.EqualTo(new[] { 1 }));
    }
}
