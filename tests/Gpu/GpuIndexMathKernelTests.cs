using Engine.Random;
using Kernels.Gpu;
using static Engine.Tests.GpuTestDevice;

namespace Engine.Tests;

/// <summary>
/// The indexing, select, scalar-parameter, strided-add, reduction, random and matrix kernels of <see cref="GpuKernels"/>
/// on the ILGPU CPU accelerator, against the CPU ops (and their autograd) on odd sizes.
/// </summary>
public sealed class GpuIndexMathKernelTests
{
    static GpuKernels K => GpuBuffers.K;
    static float[] Down(ILGPU.ArrayView<float> v) => GpuBuffers.Down(v);

    static (int Outer, int Inner) Around(int[] shape, int axis) =>
        (shape.Take(axis).Aggregate(1, (a, b) => a * b), shape.Skip(axis + 1).Aggregate(1, (a, b) => a * b));

    [Test]
    public void IndexSelect_and_its_scatter_add_backward_match_the_cpu_op()
    {
        int[] shape = [3, 7, 5];
        foreach (var (axis, indices) in new[] { (1, new[] { 6, 0, 6, 2, 6 }), (0, new[] { 2 }), (2, new[] { 4, 4, 0, 1, 3, 4, 2 }), (1, Array.Empty<int>()) })
        {
            using var d = new GpuBuffers();
            var xData = Values(105, 70);
            var x = Tensor.FromArray(xData, shape).RequireGrad();
            var y = x.IndexSelect(axis, indices);
            var gData = Values(y.Numel, 71);
            (y * Tensor.FromArray(gData, y.Shape)).Sum().Backward();
            var (outer, inner) = Around(shape, axis);
            int size = shape[axis];
            var y1 = d.Out(y.Numel); var dx1 = d.Out(xData.Length);
            K.IndexSelect(outer, size, inner, d.Up(xData), d.Up(indices), y1);
            var (offsets, positions) = GpuKernels.IndexSegments(indices, size);
            K.IndexSelectBackward(outer, size, indices.Length, inner, d.Up(gData), d.Up(offsets), d.Up(positions), dx1);
            AssertClose(y.ToArray(), Down(y1), $"index select axis {axis} [{string.Join(", ", indices)}]");
            AssertClose(x.Grad!.ToArray(), Down(dx1), $"index select backward axis {axis} [{string.Join(", ", indices)}]");
        }
    }

    [Test]
    public void IndexSegments_lists_each_rows_positions_in_order_and_rejects_bad_indices()
    {
        var (offsets, positions) = GpuKernels.IndexSegments([2, 0, 2, 2, 1], 4);
        Assert.That(offsets, Is.EqualTo(new[] { 0, 1, 2, 5, 5 }));
        Assert.That(positions, Is.EqualTo(new[] { 1, 4, 0, 2, 3 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuKernels.IndexSegments([0, 4], 4));
    }

    [Test]
    public void Gather_and_its_backward_match_the_cpu_op()
    {
        var gen = new Generator(72);
        foreach (var (shape, axis, k) in new[] { (new[] { 7, 33 }, 1, 1), (new[] { 3, 7, 5 }, 1, 9), (new[] { 1, 1 }, 0, 1), (new[] { 4, 3, 2 }, 2, 3) })
        {
            using var d = new GpuBuffers();
            var (outer, inner) = Around(shape, axis);
            int size = shape[axis];
            var index = Enumerable.Range(0, outer * k * inner).Select(_ => gen.NextInt(size)).ToArray();
            var xData = Values(shape.Aggregate(1, (a, b) => a * b), 73);
            var x = Tensor.FromArray(xData, shape).RequireGrad();
            var y = x.Gather(axis, index);
            var gData = Values(y.Numel, 74);
            (y * Tensor.FromArray(gData, y.Shape)).Sum().Backward();
            var y1 = d.Out(y.Numel); var dx1 = d.Out(xData.Length); var iv = d.Up(index);
            K.Gather(outer, size, k, inner, d.Up(xData), iv, y1);
            K.GatherBackward(outer, size, k, inner, d.Up(gData), iv, dx1);
            AssertClose(y.ToArray(), Down(y1), $"gather {string.Join("×", shape)} axis {axis} k {k}");
            AssertClose(x.Grad!.ToArray(), Down(dx1), $"gather backward {string.Join("×", shape)} axis {axis} k {k}");
        }
    }

    [Test]
    public void OneHot_matches_the_cpu_op()
    {
        using var d = new GpuBuffers();
        int[] labels = [3, 0, 6, 6, 1, 2, 5];
        var y1 = d.Out(labels.Length * 7);
        K.OneHot(d.Up(labels), 7, y1);
        Assert.That(Down(y1), Is.EqualTo(Tensor.OneHot(labels, 7).ToArray()));
    }

    /// <summary>Strides of a contiguous tensor of <paramref name="shape"/> read at <paramref name="outShape"/> (right-aligned; 0 along broadcast axes).</summary>
    static StridedOperand Broadcast(int[] shape, int[] outShape)
    {
        var strides = new int[outShape.Length];
        int stride = 1;
        for (int i = outShape.Length - 1, j = shape.Length - 1; i >= 0; i--, j--)
        {
            int size = j >= 0 ? shape[j] : 1;
            strides[i] = size == 1 ? 0 : stride;
            stride *= size;
        }
        return StridedOperand.Of(strides, 0);
    }

    [Test]
    public void Where_broadcasts_and_keeps_the_branch_not_taken_out_like_the_cpu_op()
    {
        int[] cs = [3, 1, 5], as_ = [1, 4, 5], bs = [3, 4, 1], shape = [3, 4, 5];
        var cond = Values(15, 75).Select(v => v > 0 ? 1f : 0f).ToArray();
        var a = Values(20, 76); a[3] = float.PositiveInfinity;
        var b = Values(12, 77); b[5] = float.NaN;
        var expected = Tensor.Where(Tensor.FromArray(cond, cs), Tensor.FromArray(a, as_), Tensor.FromArray(b, bs)).ToArray();
        using var d = new GpuBuffers();
        var y1 = d.Out(60);
        K.Where(shape, d.Up(cond), Broadcast(cs, shape), d.Up(a), Broadcast(as_, shape), d.Up(b), Broadcast(bs, shape), y1);
        Assert.That(Down(y1), Is.EqualTo(expected), "where with broadcasting");

        var expectedScalar = Tensor.Where(Tensor.FromArray(cond, cs), Tensor.FromArray(a, as_), Tensor.Scalar(-2f)).ToArray();
        var y2 = d.Out(60);
        K.Where(shape, d.Up(cond), Broadcast(cs, shape), d.Up(a), Broadcast(as_, shape), y2, StridedOperand.Scalar(-2f), y2);
        Assert.That(Down(y2), Is.EqualTo(expectedScalar), "where with a constant branch");
    }

    [Test]
    public void Scalar_parameter_maps_and_their_gradients_match_the_cpu_ops()
    {
        var data = Values(257, 78);
        var positive = data.Select(v => Math.Abs(v) + 0.1f).ToArray();
        var cases = new (string Name, ScalarUnaryCode Code, float A, float B, float[] X, Func<Tensor, Tensor> Op)[]
        {
            ("leaky relu", ScalarUnaryCode.LeakyRelu, 0.2f, 0f, data, t => t.LeakyRelu(0.2f)),
            ("pow 2.5", ScalarUnaryCode.Pow, 2.5f, 0f, positive, t => t.Pow(2.5f)),
            ("pow 3", ScalarUnaryCode.Pow, 3f, 0f, data, t => t.Pow(3f)),
            ("clamp", ScalarUnaryCode.Clamp, -0.5f, 0.7f, data, t => t.Clamp(-0.5f, 0.7f)),
            ("clamp below", ScalarUnaryCode.Clamp, 0f, float.PositiveInfinity, data, t => t.Clamp(0f)),
        };
        foreach (var (name, code, a, b, xs, op) in cases)
            foreach (int n in new[] { 1, 7, 257 })
            {
                using var d = new GpuBuffers();
                var xData = xs[..n]; var gData = Values(n, 79);
                var x = Tensor.FromArray(xData, n).RequireGrad();
                var y = op(x);
                (y * Tensor.FromArray(gData, n)).Sum().Backward();
                var xv = d.Up(xData); var y1 = d.Out(n); var dx1 = d.Out(n);
                K.ScalarUnary(code, a, b, xv, y1);
                K.ScalarUnaryBackward(code, a, b, xv, d.Up(gData), dx1);
                AssertClose(y.ToArray(), Down(y1), $"{name} forward n={n}");
                AssertClose(x.Grad!.ToArray(), Down(dx1), $"{name} backward n={n}");
            }
    }

    [Test]
    public void AddStrided_adds_into_a_slice_of_the_whole()
    {
        using var d = new GpuBuffers();
        // dst (4, 9), columns 2..6 as a (4, 4) view; src (4, 4) read transposed from a (4, 4) buffer.
        var dst = Values(36, 80); var src = Values(16, 81);
        var expected = (float[])dst.Clone();
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) expected[r * 9 + 2 + c] += src[c * 4 + r];
        var dv = d.Up(dst);
        K.AddStrided([4, 4], d.Up(src), StridedOperand.Of([1, 4], 0), dv, StridedOperand.Of([9, 1], 2));
        Assert.That(Down(dv), Is.EqualTo(expected));
        K.AddStrided([4, 4], dv, StridedOperand.Scalar(1.5f), dv, StridedOperand.Of([9, 1], 2));
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) expected[r * 9 + 2 + c] += 1.5f;
        Assert.That(Down(dv), Is.EqualTo(expected), "a constant added into the slice");
    }

    [Test]
    public void LogSumExp_rows_and_backward_match_the_cpu_op()
    {
        foreach (var (rows, len) in new[] { (1, 1), (7, 33), (3, 257) })
        {
            using var d = new GpuBuffers();
            var xData = Values(rows * len, 82).Select(v => v * 10f).ToArray();
            var x = Tensor.FromArray(xData, rows, len).RequireGrad();
            var y = x.LogSumExp(1);
            var gData = Values(rows, 83);
            (y * Tensor.FromArray(gData, rows)).Sum().Backward();
            var xv = d.Up(xData); var y1 = d.Out(rows); var dx1 = d.Out(xData.Length);
            K.LogSumExpRows(xv, y1, len);
            K.LogSumExpRowsBackward(xv, y1, d.Up(gData), dx1, len);
            AssertClose(y.ToArray(), Down(y1), $"logsumexp {rows}×{len}");
            AssertClose(x.Grad!.ToArray(), Down(dx1), $"logsumexp backward {rows}×{len}");
        }
        using var e = new GpuBuffers();
        var edge = e.Out(2);
        K.LogSumExpRows(e.Up([float.NegativeInfinity, float.NegativeInfinity, 1f, float.PositiveInfinity]), edge, 2);
        Assert.That(Down(edge), Is.EqualTo(new[] { float.NegativeInfinity, float.PositiveInfinity }), "rows of −∞ and with +∞");
    }

    [Test]
    public void Argmax_from_max_rows_matches_the_cpu_op()
    {
        using var d = new GpuBuffers();
        var xData = Values(7 * 33, 84).Select(v => MathF.Round(v)).ToArray();   // ties: the first maximum wins
        var expected = Tensor.FromArray(xData, 7, 33).Argmax(1).ToArray();
        var values = d.Out(7); var index = d.Out(7);
        K.MaxRows(d.Up(xData), values, index, 33);                        // the positions, as floats
        Assert.That(Down(index), Is.EqualTo(expected));
    }

    [Test]
    public void Device_philox_draws_equal_the_host_generator()
    {
        foreach (int n in new[] { 1, 7, 33, 258 })
        {
            using var d = new GpuBuffers();
            var g = new Generator(0x1234_5678_9ABC_DEF0UL) { Offset = 5 };
            ulong start = g.Offset;
            var uniform = new float[n]; g.FillUniform(uniform, -2f, 3f);
            Assert.That(g.Offset - start, Is.EqualTo((ulong)GpuKernels.RandomBlocks(n)), "blocks a draw uses");
            ulong next = g.Offset;
            var normal = new float[n]; g.FillNormal(normal, 0.5f, 2f);
            var u1 = d.Out(n); var n1 = d.Out(n);
            K.FillUniform(u1, g.Seed, start, -2f, 3f);
            K.FillNormal(n1, g.Seed, next, 0.5f, 2f);
            Assert.That(Down(u1), Is.EqualTo(uniform), $"uniform n={n}");
            AssertClose(normal, Down(n1), $"normal n={n}", 1e-6f);
        }
    }

    [Test]
    public void Dropout_mask_and_output_equal_the_cpu_op_from_the_same_generator_state()
    {
        foreach (int n in new[] { 1, 7, 33 })
        {
            using var d = new GpuBuffers();
            var xData = Values(n, 85); var gData = Values(n, 86);
            var g = new Generator(99) { Offset = 3 };
            var x = Tensor.FromArray(xData, n).RequireGrad();
            var y = x.Dropout(0.3f, g, training: true);
            (y * Tensor.FromArray(gData, n)).Sum().Backward();
            var y1 = d.Out(n); var mask = d.Out(n);
            K.Dropout(0.3f, d.Up(xData), y1, mask, 99, 3);
            Assert.That(Down(y1), Is.EqualTo(y.ToArray()), $"dropout output n={n}");
            var dx1 = Down(mask).Zip(gData, (m, gv) => gv * m).ToArray();
            Assert.That(dx1, Is.EqualTo(x.Grad!.ToArray()), $"dropout mask as gradient n={n}");
        }
    }

    [Test]
    public void Eye_and_triangle_masks_match_the_cpu_ops()
    {
        using var d = new GpuBuffers();
        var eye = d.Out(49);
        K.Eye(7, eye);
        Assert.That(Down(eye), Is.EqualTo(Tensor.Eye(7).ToArray()));
        var xData = Values(2 * 5 * 7, 87);
        var x = Tensor.FromArray(xData, 2, 5, 7);
        foreach (int diagonal in new[] { -1, 0, 2 })
            foreach (bool lower in new[] { true, false })
            {
                var y1 = d.Out(xData.Length);
                K.TriangleMask(5, 7, diagonal, lower, d.Up(xData), y1);
                Assert.That(Down(y1), Is.EqualTo((lower ? x.Tril(diagonal) : x.Triu(diagonal)).ToArray()), $"{(lower ? "tril" : "triu")} {diagonal}");
            }
    }

    [Test]
    public void Batched_inverse_and_log_abs_det_match_the_cpu_ops_and_report_singular_matrices()
    {
        foreach (var (count, n) in new[] { (1, 1), (3, 7), (2, 16) })
        {
            using var d = new GpuBuffers();
            var aData = Values(count * n * n, 88);
            for (int b = 0; b < count; b++)
                for (int i = 0; i < n; i++) aData[b * n * n + i * n + i] += 3f;          // well conditioned
            var a = Tensor.FromArray(aData, count, n, n);
            var inv1 = d.Out(aData.Length); var ld1 = d.Out(count);
            Assert.That(K.Inverse(count, n, d.Up(aData), inv1), Is.EqualTo(-1));
            Assert.That(K.LogAbsDet(count, n, d.Up(aData), ld1), Is.EqualTo(-1));
            AssertClose(a.Inverse().ToArray(), Down(inv1), $"inverse {count}×{n}×{n}", 1e-6f);
            AssertClose(a.LogAbsDet().ToArray(), Down(ld1), $"log|det| {count}×{n}×{n}", 1e-6f);
        }
        using var e = new GpuBuffers();
        float[] two = [1f, 0f, 0f, 1f, 1f, 2f, 2f, 4f];                                      // the second is singular
        Assert.That(K.Inverse(2, 2, e.Up(two), e.Out(8)), Is.EqualTo(1));
        Assert.That(K.LogAbsDet(2, 2, e.Up(two), e.Out(2)), Is.EqualTo(1));
    }
}
