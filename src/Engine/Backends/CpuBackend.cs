using Engine.Autograd;
using Engine.Random;
using Kernels.Cpu;

namespace Engine.Backends;

/// <summary>
/// The host CPU: storages are float arrays (recycled through <see cref="HostPool"/> inside a <see cref="DeviceScope"/>),
/// and each primitive runs the kernel <see cref="KernelRegistry"/> picks (SIMD, threaded). This file holds memory,
/// elementwise ops and reductions; <c>CpuBackend.Nn.cs</c> the network kernels.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    /// <summary>The one CPU backend.</summary>
    public static CpuBackend Instance { get; } = new();

    CpuBackend() { }

    public Device Device => Device.Cpu;

    public IReadOnlyDictionary<Primitive, bool> Primitives { get; } = Enum.GetValues<Primitive>().ToDictionary(p => p, _ => true);

    // ---------------------------------------------------------------- memory

    public Storage Allocate(int length, bool zeroed) => HostStorage.Rent(length, zeroed);

    public Storage FromHost(float[] values) => new HostStorage(values);

    public void Fill(Tensor t, float value) => t.Span.Fill(value);

    public void FillRandom(Tensor t, Generator g, bool normal, float a, float b)
    {
        if (normal) g.FillNormal(t.Span, a, b);
        else g.FillUniform(t.Span, a, b);
    }

    public void Copy(Tensor dst, Tensor src)
    {
        var shape = dst.Shape;
        if (dst.Numel == 0) return;
        if (src.Rank == 0 && src.Device != dst.Device) src = Tensor.Scalar(src.Item());      // a host scalar joins any device
        var ss = Strided.BroadcastStrides(src, shape);
        var walk = Strided.Coalesce(shape, dst.Strides, ss, ss);
        var d = dst.Storage.Data; var sd = src.Storage.Data;
        int n = walk.Length, so = walk.OutStep, si = walk.AStep;
        if (dst.IsContiguous && src.IsContiguous && Shapes.SameShape(shape, src.Shape))
        {
            Array.Copy(sd, src.Offset, d, dst.Offset, dst.Numel);
            return;
        }
        if (so == 1 && walk.Shape.Length >= 2 && walk.A[^2] == 1 && si >= walk.Shape[^2] && dst.IsContiguous)
        {
            CopyTransposed(walk, sd, src.Offset, d, dst.Offset);
            return;
        }
        Strided.ForEachRow(walk, dst.Offset, src.Offset, src.Offset, (o, a, _) =>
        {
            if (so == 1 && si == 1) Array.Copy(sd, a, d, o, n);
            else for (int i = 0; i < n; i++) d[o + i * so] = sd[a + i * si];
        });
    }

    /// <summary>
    /// The copy of a view whose last two axes are stored transposed (the second-to-last steps by 1 in the source, the
    /// last by at least its length) into a contiguous destination: one <see cref="TransposeCopy"/> per index of the
    /// outer axes, spread over the threads.
    /// </summary>
    static void CopyTransposed(Strided.Layout walk, float[] src, int srcOffset, float[] dst, int dstOffset)
    {
        int rows = walk.Shape[^2], cols = walk.Shape[^1], step = walk.AStep;
        var outer = new Strided.Layout { Shape = [.. walk.Shape[..^2], 1], Out = [.. walk.Out[..^2], 1], A = [.. walk.A[..^2], 1], B = [.. walk.B[..^2], 1] };
        var starts = new List<(int Out, int In)>();
        Strided.ForEachRow(outer, dstOffset, srcOffset, srcOffset, (o, a, _) => starts.Add((o, a)));      // rows of length 1: serial, in order
        Parallelism.For(starts.Count, (long)rows * cols, i => TransposeCopy.Blocked(src, starts[i].In, step, rows, cols, dst, starts[i].Out));
    }

    public void AddInto(Tensor dst, Tensor src)
    {
        var walk = Strided.Coalesce(dst.Shape, dst.Strides, src.Strides, src.Strides);
        var d = dst.Storage.Data; var sd = src.Storage.Data;
        int n = walk.Length, so = walk.OutStep, si = walk.AStep;
        Strided.ForEachRow(walk, dst.Offset, src.Offset, src.Offset, (o, a, _) =>
        {
            if (so == 1 && si == 1) Elementwise.Axpy(1f, sd.AsSpan(a, n), d.AsSpan(o, n));
            else for (int i = 0; i < n; i++) d[o + i * so] += sd[a + i * si];
        });
    }

    public void Axpy(float alpha, Tensor x, Tensor y) => Elementwise.Axpy(alpha, x.Span, y.Span);

    public int CountNonFinite(Tensor t)
    {
        int count = 0;
        foreach (var v in t.Span) if (!float.IsFinite(v)) count++;
        return count;
    }

    // ---------------------------------------------------------------- elementwise

    public Tensor Unary<T>(Tensor x) where T : IUnaryOp
    {
        var y = Tensor.Uninitialized(x.Shape, Device);
        Elementwise.Unary<T>(x.Span, y.Span);
        return y;
    }

    public Tensor UnaryBackward<T>(Tensor x, Tensor y, Tensor g) where T : IUnaryOp
    {
        var dx = Tensor.Uninitialized(x.Shape, Device);
        Elementwise.UnaryBackward<T>(x.Span, y.Span, g.Span, dx.Span);
        return dx;
    }

    public Tensor Map(ScalarMap f, Tensor x)
    {
        var y = Tensor.Uninitialized(x.Shape, Device);
        var xs = x.Span; var ys = y.Span;
        for (int i = 0; i < xs.Length; i++) ys[i] = f.Apply(xs[i]);
        return y;
    }

    public Tensor MapBackward(ScalarMap f, Tensor x, Tensor g)
    {
        var dx = Tensor.Uninitialized(x.Shape, Device);
        var xs = x.Span; var gs = g.Span; var ds = dx.Span;
        for (int i = 0; i < xs.Length; i++) ds[i] = gs[i] * f.Derivative(xs[i]);
        return dx;
    }

    public Tensor Binary<T>(Tensor a, Tensor b, int[] shape) where T : IBinaryOp
    {
        var y = Tensor.Uninitialized(shape, Device);                                  // every path below writes every element
        if (y.Numel == 0) return y;
        var yd = y.Storage.Data;
        bool aFull = a.IsContiguous && Shapes.SameShape(a.Shape, shape);
        bool bFull = b.IsContiguous && Shapes.SameShape(b.Shape, shape);
        if (aFull && bFull) { Elementwise.Binary<T>(a.Span, b.Span, y.Span); return y; }
        if (aFull && b.Numel == 1) { Elementwise.BinaryScalarB<T>(a.Span, b.Storage.Data[b.Offset], y.Span); return y; }
        if (bFull && a.Numel == 1) { Elementwise.BinaryScalarA<T>(a.Storage.Data[a.Offset], b.Span, y.Span); return y; }

        var walk = Strided.Coalesce(shape, y.Strides, Strided.BroadcastStrides(a, shape), Strided.BroadcastStrides(b, shape));
        int n = walk.Length, ia = walk.AStep, ib = walk.BStep;
        var ad = a.Storage.Data; var bd = b.Storage.Data;
        Strided.ForEachRow(walk, 0, a.Offset, b.Offset, (o, ao, bo) =>
        {
            var dst = yd.AsSpan(o, n);
            if (ia == 1 && ib == 1) Elementwise.Binary<T>(ad.AsSpan(ao, n), bd.AsSpan(bo, n), dst);
            else if (ia == 1 && ib == 0) Elementwise.BinaryScalarB<T>(ad.AsSpan(ao, n), bd[bo], dst);
            else if (ia == 0 && ib == 1) Elementwise.BinaryScalarA<T>(ad[ao], bd.AsSpan(bo, n), dst);
            else Elementwise.BinaryStrided<T>(ad.AsSpan(ao), ia, bd.AsSpan(bo), ib, dst, n);
        });
        return y;
    }

    public Tensor Where(Tensor condition, Tensor a, Tensor b, int[] shape)
    {
        using var _ = GradMode.NoGrad();
        var ct = condition.Detach().Expand(shape).Contiguous();
        var at = a.Detach().Expand(shape).Contiguous();
        var bt = b.Detach().Expand(shape).Contiguous();
        var y = Tensor.Uninitialized(shape, Device);
        // Spans only after the last nested op: a memory plan may release a storage after the op that last read it.
        var c = ct.Span; var av = at.Span; var bv = bt.Span; var ys = y.Span;
        for (int i = 0; i < ys.Length; i++) ys[i] = c[i] != 0 ? av[i] : bv[i];
        return y;
    }

    // ---------------------------------------------------------------- reductions

    public void Sum(Tensor x, int[] axes, Tensor y)
    {
        var dst = y.Span;
        dst.Clear();
        if (y.Numel == 0) return;
        bool leading = true;
        for (int i = 0; i < axes.Length; i++) leading &= axes[i] == i;
        if (x.IsContiguous && leading && y.Numel > 1)                            // one output: the vector row sum below (accurate), not n one-value Axpys
        {
            int inner = y.Numel, outer = x.Numel / inner;
            var src = x.Span;
            for (int r = 0; r < outer; r++) Elementwise.Axpy(1f, src.Slice(r * inner, inner), dst);
            return;
        }
        int rowLen = 1;
        foreach (var a in axes) rowLen *= x.Shape[a];
        var rows = ReducedRows(x, axes).Span;
        for (int r = 0; r < dst.Length; r++) dst[r] = Elementwise.Sum(rows.Slice(r * rowLen, rowLen));
    }

    /// <summary>x laid out (kept axes…, reduced axes…) contiguously: one row per output element.</summary>
    static Tensor ReducedRows(Tensor x, int[] axes)
    {
        using var _ = GradMode.NoGrad();
        var perm = Enumerable.Range(0, x.Rank).Where(i => !axes.Contains(i)).Concat(axes).ToArray();
        return x.Detach().Permute(perm).Contiguous();
    }

    public void MaxRows(Tensor rows, int rowLen, Tensor values, Tensor index)
    {
        var src = rows.Span; var vd = values.Span; var id = index.Span;
        for (int r = 0; r < vd.Length; r++)
        {
            var row = src.Slice(r * rowLen, rowLen);
            int best = 0;
            for (int i = 1; i < row.Length; i++) if (row[i] > row[best] || (float.IsNaN(row[i]) && !float.IsNaN(row[best]))) best = i;
            id[r] = best; vd[r] = row[best];
        }
    }

    public void MaxRowsBackward(Tensor g, Tensor index, int rowLen, Tensor dx)
    {
        var gs = g.Span; var id = index.Span; var ds = dx.Span;
        ds.Clear();
        for (int r = 0; r < gs.Length; r++) ds[r * rowLen + (int)id[r]] = gs[r];
    }

    // ---------------------------------------------------------------- linear algebra

    public void BatchedGemm(in GemmOperand a, in GemmOperand b, Tensor y, int count, int m, int n, int k)
    {
        var gemm = KernelRegistry.FastGemm;
        var ad = a.Source.Storage.Data; var bd = b.Source.Storage.Data; var yd = y.Storage.Data;
        for (int i = 0; i < count; i++)
            gemm(a.Transposed, b.Transposed, m, n, k, 1f, ad.AsSpan(a.Offsets[i]), a.Ld, bd.AsSpan(b.Offsets[i]), b.Ld, 0f,
                yd.AsSpan(y.Offset + i * m * n, m * n), n);
    }

    public Tensor Linear(Tensor x, Tensor w, Tensor bias)
    {
        // The bias is written into the output rows first and the GEMM adds the product onto it (β = 1): no extra pass.
        int rows = x.Shape[0], inF = x.Shape[1], outF = w.Shape[0];
        var y = Tensor.Uninitialized([rows, outF], Device);
        var yd = y.Span; var bd = bias.Span;
        for (int r = 0; r < rows; r++) bd.CopyTo(yd.Slice(r * outF, outF));
        KernelRegistry.FastGemm(false, true, rows, outF, inF, 1f, x.Span, inF, w.Span, inF, 1f, yd, outF);
        return y;
    }
}
