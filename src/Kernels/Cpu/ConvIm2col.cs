using System.Buffers;

namespace Kernels.Cpu;

// Dimension letters as in Conv.cs. P = Cg·Kh·Kw (patch size), L = Ho·Wo (output positions).

/// <summary>
/// Convolution as matrix multiply: each image's patches are unrolled into a (P, L) column matrix (im2col) and
/// multiplied by the (Cout/groups, P) weights of each group with <see cref="KernelRegistry.FastGemm"/>. The input
/// gradient multiplies by the transposed weights and folds the columns back (col2im). A 1×1 convolution with
/// stride 1 and no padding skips the unrolling: the image already is its column matrix. Images run in parallel
/// when the whole convolution is large enough to pay for the threads.
/// </summary>
public static class ConvIm2col
{
    /// <summary>Below this many multiply-adds a convolution stays on the calling thread.</summary>
    public const long ParallelThreshold = 1L << 20;

    /// <summary>y = W·im2col(x) + bias per image and group.</summary>
    public static unsafe void Forward(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        g.Check("Conv2d im2col", x.Length, w.Length, y.Length);
        if (!bias.IsEmpty && bias.Length != g.OutChannels) throw new ArgumentException($"Conv2d im2col: {bias.Length} biases for {g.OutChannels} channels");
        if (g.OutputLength == 0) return;
        var geo = g;
        bool hasBias = !bias.IsEmpty;
        fixed (float* xp = x, wp = w, bp = bias, yp = y)
        {
            nint xa = (nint)xp, wa = (nint)wp, ba = (nint)bp, ya = (nint)yp;
            ForEachImage(geo, n =>
            {
                var xs = new ReadOnlySpan<float>((float*)xa, geo.InputLength);
                var ws = new ReadOnlySpan<float>((float*)wa, geo.WeightLength);
                var ys = new Span<float>((float*)ya, geo.OutputLength);
                if (hasBias)
                {
                    var bs = new ReadOnlySpan<float>((float*)ba, geo.OutChannels);
                    for (int co = 0; co < geo.OutChannels; co++)
                        ys.Slice((n * geo.OutChannels + co) * geo.OutPlane, geo.OutPlane).Fill(bs[co]);
                }
                ForwardImage(geo, n, xs, ws, ys, Scratch(geo, out var rented), beta: hasBias ? 1f : 0f);
                if (rented is not null) ArrayPool<float>.Shared.Return(rented);
            });
        }
    }

    static void ForwardImage(in Conv2dGeometry g, int n, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, Span<float> col, float beta = 0f)
    {
        int p = g.PatchSize, l = g.OutPlane, og = g.OutPerGroup;
        for (int grp = 0; grp < g.Groups; grp++)
        {
            var xg = x.Slice((n * g.InChannels + grp * g.InPerGroup) * g.InPlane, g.InPerGroup * g.InPlane);
            ReadOnlySpan<float> cols = IsPointwise(g) ? xg : Im2Col(g, xg, col);
            KernelRegistry.FastGemm(false, false, og, l, p, 1f, w.Slice(grp * og * p, og * p), p, cols, l, beta,
                y.Slice((n * g.OutChannels + grp * og) * l, og * l), l);
        }
    }

    /// <summary>dx = col2im(Wᵀ·dy) per image and group.</summary>
    public static unsafe void InputGrad(in Conv2dGeometry g, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx)
    {
        g.Check("Conv2d im2col input grad", dx.Length, w.Length, dy.Length);
        if (g.InputLength == 0) return;
        var geo = g;
        fixed (float* dyp = dy, wp = w, dxp = dx)
        {
            nint dya = (nint)dyp, wa = (nint)wp, dxa = (nint)dxp;
            ForEachImage(geo, n =>
            {
                var dys = new ReadOnlySpan<float>((float*)dya, geo.OutputLength);
                var ws = new ReadOnlySpan<float>((float*)wa, geo.WeightLength);
                var dxs = new Span<float>((float*)dxa, geo.InputLength);
                var col = Scratch(geo, out var rented);
                int p = geo.PatchSize, l = geo.OutPlane, og = geo.OutPerGroup;
                for (int grp = 0; grp < geo.Groups; grp++)
                {
                    var dxg = dxs.Slice((n * geo.InChannels + grp * geo.InPerGroup) * geo.InPlane, geo.InPerGroup * geo.InPlane);
                    var wg = ws.Slice(grp * og * p, og * p);
                    var dyg = dys.Slice((n * geo.OutChannels + grp * og) * l, og * l);
                    if (IsPointwise(geo)) { KernelRegistry.FastGemm(true, false, p, l, og, 1f, wg, p, dyg, l, 0f, dxg, l); continue; }
                    KernelRegistry.FastGemm(true, false, p, l, og, 1f, wg, p, dyg, l, 0f, col, l);
                    Col2Im(geo, col, dxg);
                }
                if (rented is not null) ArrayPool<float>.Shared.Return(rented);
            });
        }
    }

    /// <summary>
    /// dw = Σₙ dy·im2col(x)ᵀ; fixed ranges of images (<see cref="ReductionChunks"/>: by the sizes, not the
    /// thread count) are summed into private partials, added in range order, so any thread count gives the same dw.
    /// </summary>
    public static unsafe void WeightGrad(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw)
    {
        g.Check("Conv2d im2col weight grad", x.Length, dw.Length, dy.Length);
        dw.Clear();
        if (g.Batch == 0 || g.OutPlane == 0 || dw.IsEmpty) return;
        // Each worker sums a contiguous range of images into its own partial; the partials are added at the end.
        int workers = g.MacCount < ParallelThreshold ? 1 : ReductionChunks.Count(g.Batch, g.MacCount / g.Batch, g.WeightLength, grain: 0);
        var partials = new float[workers - 1][];
        var geo = g;
        fixed (float* xp = x, dyp = dy, dwp = dw)
        {
            nint xa = (nint)xp, dya = (nint)dyp, dwa = (nint)dwp;
            void Range(int worker)
            {
                var xs = new ReadOnlySpan<float>((float*)xa, geo.InputLength);
                var dys = new ReadOnlySpan<float>((float*)dya, geo.OutputLength);
                var target = worker == 0 ? new Span<float>((float*)dwa, geo.WeightLength) : (partials[worker - 1] = new float[geo.WeightLength]);
                var col = Scratch(geo, out var rented);
                int p = geo.PatchSize, l = geo.OutPlane, og = geo.OutPerGroup;
                int start = (int)((long)geo.Batch * worker / workers), end = (int)((long)geo.Batch * (worker + 1) / workers);
                for (int n = start; n < end; n++)
                    for (int grp = 0; grp < geo.Groups; grp++)
                    {
                        var xg = xs.Slice((n * geo.InChannels + grp * geo.InPerGroup) * geo.InPlane, geo.InPerGroup * geo.InPlane);
                        ReadOnlySpan<float> cols = IsPointwise(geo) ? xg : Im2Col(geo, xg, col);
                        KernelRegistry.FastGemm(false, true, og, p, l, 1f, dys.Slice((n * geo.OutChannels + grp * og) * l, og * l), l,
                            cols, l, n == start ? 0f : 1f, target.Slice(grp * og * p, og * p), p);
                    }
                if (rented is not null) ArrayPool<float>.Shared.Return(rented);
            }
            if (workers == 1) Range(0);
            else Parallelism.Run(workers, Range);
        }
        foreach (var part in partials) Elementwise.Axpy(1f, part, dw);
    }

    /// <summary>Unrolls the Cg planes of one group into the (P, L) matrix whose column l holds the patch under output l.</summary>
    public static Span<float> Im2Col(in Conv2dGeometry g, ReadOnlySpan<float> x, Span<float> col)
    {
        int l = g.OutPlane;
        col = col[..(g.PatchSize * l)];
        int row = 0;
        for (int c = 0; c < g.InPerGroup; c++)
        {
            var plane = x.Slice(c * g.InPlane, g.InPlane);
            for (int ki = 0; ki < g.KernelH; ki++)
                for (int kj = 0; kj < g.KernelW; kj++, row++)
                {
                    var dst = col.Slice(row * l, l);
                    int offH = ki * g.DilationH - g.PadH, offW = kj * g.DilationW - g.PadW;
                    var (lo, hi) = ConvPatches.ValidRange(offW, g.StrideW, g.InW, g.OutW);
                    for (int oh = 0; oh < g.OutH; oh++)
                    {
                        var drow = dst.Slice(oh * g.OutW, g.OutW);
                        int ih = oh * g.StrideH + offH;
                        if (ih < 0 || ih >= g.InH) { drow.Clear(); continue; }
                        drow[..lo].Clear();
                        drow[hi..].Clear();
                        var src = plane.Slice(ih * g.InW, g.InW);
                        if (g.StrideW == 1) src.Slice(lo + offW, hi - lo).CopyTo(drow[lo..hi]);
                        else for (int ow = lo; ow < hi; ow++) drow[ow] = src[ow * g.StrideW + offW];
                    }
                }
        }
        return col;
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: overwrites the Cg planes of <paramref name="dx"/> with the sum of the columns that read each pixel.</summary>
    public static void Col2Im(in Conv2dGeometry g, ReadOnlySpan<float> col, Span<float> dx)
    {
        int l = g.OutPlane;
        dx[..(g.InPerGroup * g.InPlane)].Clear();
        int row = 0;
        for (int c = 0; c < g.InPerGroup; c++)
        {
            var plane = dx.Slice(c * g.InPlane, g.InPlane);
            for (int ki = 0; ki < g.KernelH; ki++)
                for (int kj = 0; kj < g.KernelW; kj++, row++)
                {
                    var srcRows = col.Slice(row * l, l);
                    int offH = ki * g.DilationH - g.PadH, offW = kj * g.DilationW - g.PadW;
                    var (lo, hi) = ConvPatches.ValidRange(offW, g.StrideW, g.InW, g.OutW);
                    for (int oh = 0; oh < g.OutH; oh++)
                    {
                        int ih = oh * g.StrideH + offH;
                        if (ih < 0 || ih >= g.InH) continue;
                        var srow = srcRows.Slice(oh * g.OutW, g.OutW);
                        var drow = plane.Slice(ih * g.InW, g.InW);
                        if (g.StrideW == 1) Elementwise.Axpy(1f, srow[lo..hi], drow.Slice(lo + offW, hi - lo));
                        else for (int ow = lo; ow < hi; ow++) drow[ow * g.StrideW + offW] += srow[ow];
                    }
                }
        }
    }

    static bool IsPointwise(in Conv2dGeometry g) =>
        g.KernelH == 1 && g.KernelW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0 && g.OutH == g.InH && g.OutW == g.InW;

    static bool UseThreads(in Conv2dGeometry g) => g.Batch > 1 && Parallelism.MaxThreads > 1 && g.MacCount >= ParallelThreshold;

    static void ForEachImage(Conv2dGeometry g, Action<int> image)
    {
        if (UseThreads(g)) Parallelism.Run(g.Batch, image);
        else for (int n = 0; n < g.Batch; n++) image(n);
    }

    /// <summary>A (P, L) column buffer from the shared pool (none for pointwise convolutions).</summary>
    static Span<float> Scratch(in Conv2dGeometry g, out float[]? rented)
    {
        if (IsPointwise(g)) { rented = null; return default; }
        int size = g.PatchSize * g.OutPlane;
        rented = ArrayPool<float>.Shared.Rent(Math.Max(size, 1));
        return rented.AsSpan(0, size);
    }
}
