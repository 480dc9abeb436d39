using ILGPU;
using ILGPU.Runtime;
using Kernels.Cpu;

namespace Kernels.Gpu;

/// <summary>
/// The GPU kernels behind the CPU kernels' span signatures, so that <see cref="KernelRegistry"/> can list them
/// beside the CPU variants and the tests and <c>engine kernels</c> can check and time them the same way: each call
/// copies its inputs to the device, runs the ILGPU kernel and copies the outputs back (the copies are part of
/// what such a call costs; the engine's GPU tensors stay on the device and skip them).
/// <see cref="Registered"/> is the instance the registry lists; it is null (no GPU variants) until a GPU is opened.
/// </summary>
/// <example><c>var v = new GpuVariants(accelerator); v.Gemm.Run(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);</c></example>
public sealed partial class GpuVariants
{
    /// <summary>The name of every GPU variant in the registry.</summary>
    public const string Name = "gpu-ilgpu";

    /// <summary>The variants <see cref="KernelRegistry"/> lists; set when a GPU device is opened (null: none listed).</summary>
    public static GpuVariants? Registered { get; set; }

    public GpuKernels Kernels { get; }
    Accelerator Acc => Kernels.Accelerator;

    public GpuVariants(Accelerator accelerator)
    {
        Kernels = GpuKernels.For(accelerator);
        Gemm = new(Name, RunGemm);
        AttentionForward = new(Name, RunAttentionForward);
        AttentionBackward = new(Name, RunAttentionBackward);
        Conv2dForward = new(Name, RunConvForward);
        Conv2dInputGrad = new(Name, RunConvInputGrad);
        Conv2dWeightGrad = new(Name, RunConvWeightGrad);
        RowNormForward = new(Name, RunRowNormForward);
        RowNormBackward = new(Name, RunRowNormBackward);
        SoftmaxForward = new(Name, (o, l, i, x, y) => RunSoftmaxForward(false, o, l, i, x, y));
        SoftmaxBackward = new(Name, (o, l, i, y, dy, dx) => RunSoftmaxBackward(false, o, l, i, y, dy, dx));
        LogSoftmaxForward = new(Name, (o, l, i, x, y) => RunSoftmaxForward(true, o, l, i, x, y));
        LogSoftmaxBackward = new(Name, (o, l, i, y, dy, dx) => RunSoftmaxBackward(true, o, l, i, y, dy, dx));
        AdamW = new(Name, RunAdamW);
    }

    public Variant<GemmKernel> Gemm { get; }
    public Variant<AttentionForwardKernel> AttentionForward { get; }
    public Variant<AttentionBackwardKernel> AttentionBackward { get; }
    public Variant<Conv2dForwardKernel> Conv2dForward { get; }
    public Variant<Conv2dInputGradKernel> Conv2dInputGrad { get; }
    public Variant<Conv2dWeightGradKernel> Conv2dWeightGrad { get; }
    public Variant<RowNormForwardKernel> RowNormForward { get; }
    public Variant<RowNormBackwardKernel> RowNormBackward { get; }
    public Variant<SoftmaxForwardKernel> SoftmaxForward { get; }
    public Variant<SoftmaxBackwardKernel> SoftmaxBackward { get; }
    public Variant<SoftmaxForwardKernel> LogSoftmaxForward { get; }
    public Variant<SoftmaxBackwardKernel> LogSoftmaxBackward { get; }
    public Variant<AdamWKernel> AdamW { get; }

    // ---------------------------------------------------------------- host ↔ device

    /// <summary>A device copy of <paramref name="data"/> (at least one element, so empty inputs still give a valid view).</summary>
    MemoryBuffer1D<float, Stride1D.Dense> Upload(ReadOnlySpan<float> data)
    {
        var buffer = Acc.Allocate1D<float>(Math.Max(1, data.Length));
        if (data.Length > 0) buffer.View.SubView(0, data.Length).CopyFromCPU(Acc.DefaultStream, data);
        return buffer;
    }

    /// <summary>A device buffer of <paramref name="length"/> floats, zeroed.</summary>
    MemoryBuffer1D<float, Stride1D.Dense> Zeroed(int length)
    {
        var buffer = Acc.Allocate1D<float>(Math.Max(1, length));
        buffer.MemSetToZero(Acc.DefaultStream);
        return buffer;
    }

    /// <summary>Copies the first <paramref name="into"/>.Length values of a device buffer back (waits for the kernels before it).</summary>
    void Download(MemoryBuffer1D<float, Stride1D.Dense> buffer, Span<float> into)
    {
        if (into.Length > 0) buffer.View.SubView(0, into.Length).CopyToCPU(Acc.DefaultStream, into);
        Acc.DefaultStream.Synchronize();
    }

    static ArrayView<float> View(MemoryBuffer1D<float, Stride1D.Dense> b, int length) => b.View.SubView(0, length);

    // ---------------------------------------------------------------- the variants

    /// <summary>Elements a row-major operand of <paramref name="rows"/>×<paramref name="cols"/> with leading dimension ld spans.</summary>
    static int Extent(bool trans, int rows, int cols, int ld)
    {
        if (rows == 0 || cols == 0) return 0;
        return trans ? (cols - 1) * ld + rows : (rows - 1) * ld + cols;
    }

    void RunGemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        int ea = Extent(transA, m, k, lda), eb = Extent(transB, k, n, ldb), ec = Extent(false, m, n, ldc);
        if (a.Length < ea || b.Length < eb || c.Length < ec)
            throw new ArgumentException($"Gemm ({Name}): buffers of {a.Length}, {b.Length}, {c.Length} floats are too small for m={m}, n={n}, k={k}");
        using var da = Upload(a[..ea]);
        using var db = Upload(b[..eb]);
        using var dc = Upload(c[..ec]);
        Kernels.Gemm(transA, transB, m, n, k, alpha, da.View, lda, db.View, ldb, beta, dc.View, ldc);
        Download(dc, c[..ec]);
    }

    void RunAttentionForward(int heads, int tq, int tk, int d, float scale, bool causal,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> lse)
    {
        int nq = heads * tq * d, nk = heads * tk * d;
        using var dq = Upload(q[..nq]); using var dk = Upload(k[..nk]); using var dv = Upload(v[..nk]);
        using var dout = Zeroed(nq); using var dl = Zeroed(heads * tq);
        Kernels.AttentionForward(heads, tq, tk, d, scale, causal, dq.View, dk.View, dv.View, dout.View, dl.View);
        Download(dout, o[..nq]);
        Download(dl, lse[..(heads * tq)]);
    }

    void RunAttentionBackward(int heads, int tq, int tk, int d, float scale, bool causal,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> o, ReadOnlySpan<float> lse,
        ReadOnlySpan<float> dO, Span<float> dq, Span<float> dk, Span<float> dv)
    {
        int nq = heads * tq * d, nk = heads * tk * d;
        using var bq = Upload(q[..nq]); using var bk = Upload(k[..nk]); using var bv = Upload(v[..nk]);
        using var bo = Upload(o[..nq]); using var bl = Upload(lse[..(heads * tq)]); using var bg = Upload(dO[..nq]);
        using var gq = Zeroed(nq); using var gk = Zeroed(nk); using var gv = Zeroed(nk);
        Kernels.AttentionBackward(heads, tq, tk, d, scale, causal, View(bq, nq), View(bk, nk), View(bv, nk), View(bo, nq), View(bl, heads * tq), View(bg, nq),
            View(gq, nq), View(gk, nk), View(gv, nk));
        Download(gq, dq[..nq]); Download(gk, dk[..nk]); Download(gv, dv[..nk]);
    }

    void RunConvForward(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        g.Check("Conv2dForward", x.Length, w.Length, y.Length);
        using var bx = Upload(x); using var bw = Upload(w); using var bb = Upload(bias); using var by = Zeroed(y.Length);
        Kernels.Conv2dForward(g, View(bx, x.Length), View(bw, w.Length), View(bb, bias.Length), View(by, y.Length));
        Download(by, y);
    }

    void RunConvInputGrad(in Conv2dGeometry g, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx)
    {
        g.Check("Conv2dInputGrad", dx.Length, w.Length, dy.Length);
        using var bdy = Upload(dy); using var bw = Upload(w); using var bdx = Zeroed(dx.Length);
        Kernels.Conv2dInputGrad(g, View(bdy, dy.Length), View(bw, w.Length), View(bdx, dx.Length));
        Download(bdx, dx);
    }

    void RunConvWeightGrad(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw)
    {
        g.Check("Conv2dWeightGrad", x.Length, dw.Length, dy.Length);
        using var bx = Upload(x); using var bdy = Upload(dy); using var bdw = Zeroed(dw.Length);
        Kernels.Conv2dWeightGrad(g, View(bx, x.Length), View(bdy, dy.Length), View(bdw, dw.Length));
        Download(bdw, dw);
    }

    void RunRowNormForward(int rows, int len, int groups, int spatial, float eps, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, Span<float> mean, Span<float> rstd)
    {
        int n = rows * len;
        using var bx = Upload(x[..n]); using var bw = Upload(weight); using var bb = Upload(bias);
        using var by = Zeroed(n); using var bm = Zeroed(rows); using var br = Zeroed(rows);
        Kernels.RowNormForward(rows, len, groups, spatial, eps, center, View(bx, n), View(bw, weight.Length), View(bb, bias.Length),
            View(by, n), View(bm, rows), View(br, rows));
        Download(by, y[..n]); Download(bm, mean[..rows]); Download(br, rstd[..rows]);
    }

    void RunRowNormBackward(int rows, int len, int groups, int spatial, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, ReadOnlySpan<float> dy,
        Span<float> dx, Span<float> dweight, Span<float> dbias)
    {
        int n = rows * len;
        using var bx = Upload(x[..n]); using var bw = Upload(weight); using var bm = Upload(mean[..rows]); using var br = Upload(rstd[..rows]);
        using var bg = Upload(dy[..n]); using var bdx = Zeroed(dx.Length); using var bdw = Zeroed(dweight.Length); using var bdb = Zeroed(dbias.Length);
        Kernels.RowNormBackward(rows, len, groups, spatial, center, View(bx, n), View(bw, weight.Length), View(bm, rows), View(br, rows), View(bg, n),
            View(bdx, dx.Length), View(bdw, dweight.Length), View(bdb, dbias.Length));
        Download(bdx, dx); Download(bdw, dweight); Download(bdb, dbias);
    }

    void RunSoftmaxForward(bool log, int outer, int len, int inner, ReadOnlySpan<float> x, Span<float> y)
    {
        int n = outer * len * inner;
        using var bx = Upload(x[..n]); using var by = Zeroed(n);
        Kernels.SoftmaxForward(log, outer, len, inner, View(bx, n), View(by, n));
        Download(by, y[..n]);
    }

    void RunSoftmaxBackward(bool log, int outer, int len, int inner, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int n = outer * len * inner;
        using var by = Upload(y[..n]); using var bg = Upload(dy[..n]); using var bdx = Zeroed(n);
        Kernels.SoftmaxBackward(log, outer, len, inner, View(by, n), View(bg, n), View(bdx, n));
        Download(bdx, dx[..n]);
    }

    void RunAdamW(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v,
        double lr, double beta1, double beta2, double eps, double weightDecay, int step)
    {
        int n = grad.Length;
        using var bp = Upload(param); using var bg = Upload(grad); using var bm = Upload(m); using var bv = Upload(v);
        Kernels.AdamW(View(bp, param.Length), View(bg, n), View(bm, m.Length), View(bv, v.Length), lr, beta1, beta2, eps, weightDecay, step);
        Download(bp, param); Download(bm, m); Download(bv, v);
    }
}
