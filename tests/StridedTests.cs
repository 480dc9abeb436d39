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
        yield return ("transposed plane of a cropped image", Tensor.Randn([4, 3, 100, 70], g).Narrow(2, 1, 96).Narrow(3, 3, 60).Permute(0, 1, 3, 2));
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

    /// <summary>Attention's split of (B, 3, heads, D, HW) into q, k, v of (B, heads, HW, D): the copy is one transpose per head.</summary>
    [TestCase(1)]
    [TestCase(2)]
    public void Contiguous_of_a_head_split_reads_every_element_like_the_indexer(int threads)
    {
        int saved = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try
        {
            var parts = Tensor.Randn([8, 3, 4, 16, 49], new Generator(5)).Permute(1, 0, 2, 4, 3);      // (3, B, heads, HW, D)
            for (int p = 0; p < 3; p++)
            {
                var v = parts.Narrow(0, p, 1);
                var c = v.Contiguous();
                foreach (var i in Indices(v.Shape)) Assert.That(c[i], Is.EqualTo(v[i]), $"part {p} at [{string.Join(", ", i)}]");
            }
        }
        finally { Parallelism.MaxThreads = saved; }
    }

    [TestCase(16, 16, 16, 0)]
    [TestCase(49, 16, 49, 3)]
    [TestCase(37, 50, 40, 7)]
    [TestCase(5, 33, 9, 0)]
    [TestCase(1, 1, 1, 2)]
    public void Blocked_transpose_copy_matches_the_reference(int rows, int cols, int stride, int offset)
    {
        var g = new Generator(6);
        var src = Enumerable.Range(0, offset + (cols - 1) * stride + rows + 5).Select(_ => g.NextFloat()).ToArray();
        var expected = Enumerable.Repeat(float.NaN, rows * cols + 4).ToArray();
        var actual = Enumerable.Repeat(float.NaN, rows * cols + 4).ToArray();
        TransposeCopy.Reference(src, offset, stride, rows, cols, expected, 2);
        TransposeCopy.Blocked(src, offset, stride, rows, cols, actual, 2);
        Assert.That(actual, Is.EqualTo(expected));                                    // NaN outside [2, 2 + rows·cols) on both: nothing written past the block
        Assert.That(expected[2 + (rows - 1) * cols + cols - 1], Is.EqualTo(src[offset + (cols - 1) * stride + rows - 1]));
    }

    [Test]
    public void Transpose_copy_rejects_a_block_outside_its_arrays()
    {
        Assert.Throws<ArgumentException>(() => TransposeCopy.Blocked(new float[10], 0, 4, 4, 3, new float[12], 0));
        Assert.Throws<ArgumentException>(() => TransposeCopy.Blocked(new float[12], 0, 4, 4, 3, new float[11], 0));
        Assert.Throws<ArgumentException>(() => TransposeCopy.Blocked(new float[12], 0, 3, 4, 3, new float[12], 0));
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
