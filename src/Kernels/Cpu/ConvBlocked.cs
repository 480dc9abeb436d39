using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Cpu;

// Dimension letters as in Conv.cs. P = Cg·Kh·Kw (patch size), L = Ho·Wo (output positions), Og = Cout/groups.
// A block is a run of whole output rows of one image whose patch matrix (P × its columns) fits in L2.

/// <summary>
/// Convolution as blocked GEMM on the <see cref="GemmMicroKernel"/> register tile, without a whole-image column
/// matrix. The weights are packed once per call; each work item (image, group, block of output rows) unrolls its
/// patches into a per-thread L2-sized buffer (<see cref="ConvPatches"/>) and sweeps 14×32 tiles over it.
/// <list type="bullet">
/// <item>forward: Y[Og, block] = W[Og, P] · patches[P, block], bias added while the block is in cache;</item>
/// <item>input gradient (stride 1): the convolution of dy with the flipped, transposed weights and padding
/// d·(K − 1) − pad, so it is the forward kernel with depth P' = Og·Kh·Kw, no column scatter; other strides
/// multiply Wᵀ·dy block by block and scatter each block's columns back (col2im);</item>
/// <item>weight gradient: dW[Og, P] += dy[Og, block] · patches[P, block]ᵀ with depth = the block's positions,
/// each thread summing its items into a private partial; for stride 1, one product per kernel row read in place
/// from the input transposed once (dW_ki[Og, Kw·Cg] += dy · Xᵀ shifted by ki rows), no patch matrix.</item>
/// </list>
/// Work items are spread over <see cref="Parallelism.MaxThreads"/> threads; per-thread buffers are reused across calls.
/// </summary>
public static unsafe class ConvBlocked
{
    const int Mr = GemmMicroKernel.Mr, Nr = GemmMicroKernel.Nr;

    /// <summary>Below this many multiply-adds a call stays on the calling thread.</summary>
    public const long ParallelThreshold = 1L << 20;

    /// <summary>Floats of one patch block (P × block columns): 512 KB, half of a Zen 5 core's L2.</summary>
    public const int BlockFloats = 1 << 17;

    internal static bool Supported => Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    static PlatformNotSupportedException Unsupported(string op) =>
        new($"{op}: needs AVX-512, which this CPU does not run (KernelRegistry registers the kernel only where it does)");

    /// <summary>y = conv(x, w) + bias; see <see cref="Conv2dForwardKernel"/>.</summary>
    public static void Forward(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        g.Check("Conv2d blocked", x.Length, w.Length, y.Length);
        if (!bias.IsEmpty && bias.Length != g.OutChannels) throw new ArgumentException($"Conv2d blocked: {bias.Length} biases for {g.OutChannels} channels");
        if (g.OutputLength == 0) return;
        if (!Supported) throw Unsupported("Conv2d blocked");
        fixed (float* xp = x, wp = w, bp = bias, yp = y)
            ForwardCore(g, xp, wp, bias.IsEmpty ? null : bp, yp);
    }

    /// <summary>dx of a convolution; see <see cref="Conv2dInputGradKernel"/>.</summary>
    public static void InputGrad(in Conv2dGeometry g, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx)
    {
        g.Check("Conv2d blocked input grad", dx.Length, w.Length, dy.Length);
        if (g.InputLength == 0) return;
        if (g.OutputLength == 0) { dx.Clear(); return; }
        if (!Supported) throw Unsupported("Conv2d blocked input grad");
        if (g.StrideH != 1 || g.StrideW != 1)
        {
            fixed (float* dyp = dy, wp = w, dxp = dx)
                StridedInputGradCore(g, dyp, wp, dxp);
            return;
        }
        // dx[ci, ih, iw] = Σ dy[co, ih + padH − ki·dH, iw + padW − kj·dW] · w[co, ci, ki, kj]: a forward convolution.
        InputGradByForward(g, dy, w, dx, &ForwardCore);
    }

    /// <summary>
    /// dx of the stride-1 convolution <paramref name="g"/> as <paramref name="forward"/> over
    /// <see cref="InputGradAsForward"/>(g), dy and the flipped weights (no bias).
    /// </summary>
    internal static void InputGradByForward(in Conv2dGeometry g, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx,
        delegate*<Conv2dGeometry, float*, float*, float*, float*, void> forward)
    {
        float[] flipped = ArrayPool<float>.Shared.Rent(g.WeightLength);
        try
        {
            FlipWeights(g, w, flipped);
            fixed (float* dyp = dy, fp = flipped, dxp = dx)
                forward(InputGradAsForward(g), dyp, fp, null, dxp);
        }
        finally { ArrayPool<float>.Shared.Return(flipped); }
    }

    /// <summary>
    /// The forward geometry whose output is the input gradient of the stride-1 convolution <paramref name="g"/>: dy
    /// (Cout channels, Ho×Wo) convolved with the weights flipped in space and in/out channels swapped
    /// (<see cref="FlipWeights"/>), padding d·(K − 1) − pad, giving H×W. The padding is negative when pad exceeds d·(K − 1).
    /// </summary>
    internal static Conv2dGeometry InputGradAsForward(in Conv2dGeometry g) =>
        new(g.Batch, g.OutChannels, g.OutH, g.OutW, g.InChannels, g.KernelH, g.KernelW, 1, 1,
            g.DilationH * (g.KernelH - 1) - g.PadH, g.DilationW * (g.KernelW - 1) - g.PadW, g.DilationH, g.DilationW, g.Groups,
            g.InH, g.InW);

    /// <summary>
    /// dx for strides above 1: per image and group, each block's column gradient Wᵀ[P, Og]·dy[Og, block] is scattered
    /// back onto the pixels its patches read (col2im), block by block, so the column matrix never exceeds L2.
    /// </summary>
    static void StridedInputGradCore(Conv2dGeometry g, float* dy, float* w, float* dx)
    {
        int og = g.OutPerGroup, p = g.PatchSize;
        nint packedPerGroup = (nint)(p + Mr) * og + GemmPacking.Slack;
        float* wPack = (float*)NativeMemory.AlignedAlloc((nuint)(packedPerGroup * g.Groups) * sizeof(float), 64);
        try
        {
            for (int grp = 0; grp < g.Groups; grp++)
                GemmPacking.PackA(true, w + (nint)grp * og * p, p, 0, p, 0, og, wPack + grp * packedPerGroup);
            var (rows, blocks) = Blocking(g);
            int ld = BlockStride(g, rows);
            var job = new StridedInputGradJob(g, dy, wPack, packedPerGroup, dx, rows, blocks, ld);
            ForEachItem(g, g.Batch * g.Groups, job.Item);
        }
        finally { NativeMemory.AlignedFree(wPack); }
    }

    sealed class StridedInputGradJob(Conv2dGeometry g, float* dy, float* wPack, nint packedPerGroup, float* dx, int rows, int blocks, int ld)
    {
        /// <summary>One image and group: its blocks scatter into the same planes, so they stay on one thread.</summary>
        public void Item(int item)
        {
            int grp = item % g.Groups, n = item / g.Groups;
            int og = g.OutPerGroup, p = g.PatchSize, l = g.OutPlane;
            float* dxg = dx + ((nint)n * g.InChannels + grp * g.InPerGroup) * g.InPlane;
            new Span<float>(dxg, g.InPerGroup * g.InPlane).Clear();
            float* dyg = dy + ((nint)n * g.OutChannels + grp * og) * l;
            var scratch = Scratch.ForThisThread((nint)p * ld, 0, (nint)ld * og);
            for (int block = 0; block < blocks; block++)
            {
                int oh0 = block * rows, oh1 = Math.Min(g.OutH, oh0 + rows), cols = (oh1 - oh0) * g.OutW;
                GemmPacking.PackB(false, dyg, l, 0, og, oh0 * g.OutW, cols, scratch.B);
                Multiply(p, cols, og, wPack + grp * packedPerGroup, og, 0, scratch.B, og, Nr, scratch.Patches, ld, 0f);
                ConvPatches.ScatterAdd(g, scratch.Patches, ld, oh0, oh1, dxg);
            }
        }
    }

    /// <summary>wf[ci, co_g, a, b] = w[co, ci_g, Kh − 1 − a, Kw − 1 − b] within each group: the weights of the transposed convolution.</summary>
    static void FlipWeights(in Conv2dGeometry g, ReadOnlySpan<float> w, Span<float> wf)
    {
        int cg = g.InPerGroup, og = g.OutPerGroup, kh = g.KernelH, kw = g.KernelW, kk = kh * kw;
        for (int grp = 0; grp < g.Groups; grp++)
            for (int cl = 0; cl < cg; cl++)
                for (int ol = 0; ol < og; ol++)
                {
                    var src = w.Slice(((grp * og + ol) * cg + cl) * kk, kk);
                    var dst = wf.Slice(((grp * cg + cl) * og + ol) * kk, kk);
                    for (int i = 0; i < kk; i++) dst[i] = src[kk - 1 - i];
                }
    }

    /// <summary>dw summed over the batch; see <see cref="Conv2dWeightGradKernel"/>.</summary>
    public static void WeightGrad(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw)
    {
        g.Check("Conv2d blocked weight grad", x.Length, dw.Length, dy.Length);
        dw.Clear();
        if (g.Batch == 0 || g.OutPlane == 0 || dw.IsEmpty) return;
        if (!Supported) throw Unsupported("Conv2d blocked weight grad");
        fixed (float* xp = x, dyp = dy, dwp = dw)
            WeightGradCore(g, xp, dyp, dwp);
    }

    /// <summary>
    /// db[c] = Σ dy[·, c, ·]; see <see cref="Conv2dBiasGradKernel"/>. Each (image, channel) plane is summed in 16 float
    /// lanes, the planes of a channel in double; channels are spread over the threads.
    /// </summary>
    public static void BiasGrad(int batch, int channels, int plane, ReadOnlySpan<float> dy, Span<float> db)
    {
        ConvReference.CheckBiasGrad("Conv2d blocked bias grad", batch, channels, plane, dy.Length, db.Length);
        fixed (float* dyp = dy, dbp = db)
        {
            float* d = dyp, o = dbp;
            Parallelism.For(channels, (long)batch * plane, c =>
            {
                double s = 0;
                for (int n = 0; n < batch; n++) s += PlaneSum(d + ((nint)n * channels + c) * plane, plane);
                o[c] = (float)s;
            });
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float PlaneSum(float* x, int n)
    {
        var a0 = Vector512<float>.Zero; var a1 = Vector512<float>.Zero;
        int i = 0;
        for (; i + 32 <= n; i += 32) { a0 += Vector512.Load(x + i); a1 += Vector512.Load(x + i + 16); }
        if (i + 16 <= n) { a0 += Vector512.Load(x + i); i += 16; }
        float s = Vector512.Sum(a0 + a1);
        for (; i < n; i++) s += x[i];
        return s;
    }

    /// <summary>Output rows per block, and the number of blocks per image.</summary>
    static (int rows, int blocks) Blocking(in Conv2dGeometry g)
    {
        int maxRows = Math.Clamp(BlockFloats / Math.Max(1, g.PatchSize * g.OutW), 1, Math.Max(1, g.OutH));
        // Fewest padded columns over the whole plane (each block is rounded up to whole 32-column panels); ties go to taller blocks.
        int best = maxRows; long bestCols = long.MaxValue;
        for (int r = maxRows; r >= 1; r--)
        {
            int blocks = (g.OutH + r - 1) / r, last = g.OutH - (blocks - 1) * r;
            long cols = (long)(blocks - 1) * RoundUp(r * g.OutW, Nr) + RoundUp(last * g.OutW, Nr);
            if (cols < bestCols) { bestCols = cols; best = r; }
        }
        return (best, (g.OutH + best - 1) / best);
    }

    /// <summary>The row stride of a patch block: whole panels, nudged off multiples of 1 KB so the rows do not share L1 sets.</summary>
    static int BlockStride(in Conv2dGeometry g, int rows) => OffKilobyte(RoundUp(rows * g.OutW, Nr));

    /// <summary><paramref name="ld"/>, or 16 floats more when it is a multiple of 1 KB (so successive rows do not share L1 sets).</summary>
    internal static int OffKilobyte(int ld) => ld % 256 == 0 ? ld + 16 : ld;

    internal static int RoundUp(int v, int unit) => (v + unit - 1) / unit * unit;

    /// <summary>Forward over raw pointers; the geometry may have negative padding (see <see cref="InputGrad"/>).</summary>
    static void ForwardCore(Conv2dGeometry g, float* x, float* w, float* bias, float* y)
    {
        if (IsShiftable(g)) { ShiftedForwardCore(g, x, w, bias, y); return; }
        int og = g.OutPerGroup, p = g.PatchSize;
        nint packedPerGroup = (nint)(og + Mr) * p + GemmPacking.Slack;
        float* wPack = (float*)NativeMemory.AlignedAlloc((nuint)(packedPerGroup * g.Groups) * sizeof(float), 64);
        try
        {
            for (int grp = 0; grp < g.Groups; grp++)
                GemmPacking.PackA(false, w + (nint)grp * og * p, p, 0, og, 0, p, wPack + grp * packedPerGroup);
            var (rows, blocks) = Blocking(g);
            int ld = BlockStride(g, rows);
            var job = new ForwardJob(g, x, wPack, packedPerGroup, bias, y, rows, blocks, ld);
            ForEachItem(g, g.Batch * g.Groups * blocks, job.Item);
        }
        finally { NativeMemory.AlignedFree(wPack); }
    }

    sealed class ForwardJob(Conv2dGeometry g, float* x, float* wPack, nint packedPerGroup, float* bias, float* y, int rows, int blocks, int ld)
    {
        public void Item(int item)
        {
            int block = item % blocks, grp = item / blocks % g.Groups, n = item / blocks / g.Groups;
            int og = g.OutPerGroup, p = g.PatchSize, l = g.OutPlane;
            int oh0 = block * rows, oh1 = Math.Min(g.OutH, oh0 + rows), cols = (oh1 - oh0) * g.OutW;
            float* xg = x + ((nint)n * g.InChannels + grp * g.InPerGroup) * g.InPlane;
            float* c = y + ((nint)n * g.OutChannels + grp * og) * l + oh0 * g.OutW;
            float* a = wPack + grp * packedPerGroup;
            if (IsPointwise(g))
            {
                // The image is its own patch matrix. Each 32-column panel is copied (zero-padded when ragged) into one
                // contiguous block, which all the row tiles then read from L1: read in place, every depth step of every
                // tile would fetch new lines a plane apart.
                var s = Scratch.ForThisThread((nint)p * Nr);
                float* src = xg + oh0 * g.OutW;
                for (int jr = 0; jr < cols; jr += Nr)
                {
                    int w = Math.Min(Nr, cols - jr);
                    for (int i = 0; i < p; i++) PadRow(src + (nint)i * g.InPlane + jr, 0, w, s.Patches + (nint)i * Nr, Nr);
                    Multiply(og, w, p, a, p, 0, s.Patches, 1, Nr, c + jr, l, 0f);
                }
            }
            else
            {
                var scratch = Scratch.ForThisThread((nint)p * ld);
                ConvPatches.Fill(g, xg, oh0, oh1, scratch.Patches, ld);
                // Depth blocks keep each 32-column B micro-panel in L1 while the A panels pass.
                for (int pc = 0, kb; pc < p; pc += kb)
                {
                    kb = Math.Min(DepthBlock(p), p - pc);
                    Multiply(og, cols, kb, a, p, pc, scratch.Patches + (nint)pc * ld, 1, ld, c, l, pc == 0 ? 0f : 1f);
                }
            }
            if (bias != null)
                for (int i = 0; i < og; i++) AddScalar(c + (nint)i * l, cols, bias[grp * og + i]);
        }
    }

    /// <summary>
    /// <see cref="IsShiftableForWeightGrad"/> (stride 1, no dilation, padding ≥ 0, more than one tap) with output rows
    /// wide enough that computing the padded width wastes little: Kw − 1 extra columns per row, at most 2/7 of the row. (Measured at the bound, W1's
    /// 7×7 planes with 3×3 kernels: forward and input gradient 1.10 → 0.98 ms against the patch matrix.)
    /// </summary>
    static bool IsShiftable(in Conv2dGeometry g) => IsShiftableForWeightGrad(g) && 7 * (g.KernelW - 1) <= 2 * g.OutW;

    /// <summary>
    /// The forward of a stride-1 convolution without a patch matrix: as Σ over taps (ki, kj) of W_tap[Og, Cg] · X
    /// shifted by (ki, kj). Each block of output rows copies its input rows once into a zero-padded buffer of width
    /// Wp = Wo + Kw − 1; in that layout the input under tap (ki, kj) for output column j of the block (counted over the
    /// padded width) is the buffer at ki·Wp + kj + j, so every tap's B operand is read in place, one depth step per
    /// channel. The weights are packed tap-major (depth t·Cg + ci), so one register tile runs through all the taps of
    /// a product (<see cref="TapsPerPass"/>) with B's start moved per tap, and C is written once instead of once per tap.
    /// The product is formed over the padded width (Kw − 1 columns per row are discarded) and the live columns
    /// are copied out. Against the patch matrix this writes the input once instead of Kh·Kw times.
    /// </summary>
    static void ShiftedForwardCore(Conv2dGeometry g, float* x, float* w, float* bias, float* y)
    {
        int og = g.OutPerGroup, cg = g.InPerGroup, taps = g.KernelH * g.KernelW, p = g.PatchSize;
        nint packedPerGroup = (nint)(og + Mr) * p + GemmPacking.Slack;
        float* wPack = (float*)NativeMemory.AlignedAlloc((nuint)(packedPerGroup * g.Groups) * sizeof(float), 64);
        float* tapMajor = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, og * p) * sizeof(float), 64);
        try
        {
            // W[co, t·Cg + ci] = w[co, ci, ki, kj], t = ki·Kw + kj: the depth runs tap by tap, packed as A panels once per call.
            for (int grp = 0; grp < g.Groups; grp++)
            {
                for (int co = 0; co < og; co++)
                    for (int ci = 0; ci < cg; ci++)
                        for (int t = 0; t < taps; t++) tapMajor[co * p + t * cg + ci] = w[(nint)(grp * og + co) * p + ci * taps + t];
                GemmPacking.PackA(false, tapMajor, p, 0, og, 0, p, wPack + grp * packedPerGroup);
            }
            var (rows, blocks) = Blocking(g);
            var job = new ShiftedForwardJob(g, x, wPack, packedPerGroup, bias, y, rows, blocks);
            ForEachItem(g, g.Batch * g.Groups * blocks, job.Item);
        }
        finally { NativeMemory.AlignedFree(wPack); NativeMemory.AlignedFree(tapMajor); }
    }

    /// <summary>Taps per product of the shifted forward: all of them while the depth (taps · Cg) stays within 576, else split evenly.</summary>
    static int TapsPerPass(int taps, int cg)
    {
        int passes = (taps * cg + 575) / 576;
        return (taps + passes - 1) / passes;
    }

    sealed class ShiftedForwardJob(Conv2dGeometry g, float* x, float* wPack, nint packedPerGroup, float* bias, float* y, int rows, int blocks)
    {
        public void Item(int item)
        {
            int block = item % blocks, grp = item / blocks % g.Groups, n = item / blocks / g.Groups;
            int og = g.OutPerGroup, cg = g.InPerGroup, kh = g.KernelH, kw = g.KernelW, l = g.OutPlane, taps = kh * kw;
            int oh0 = block * rows, oh1 = Math.Min(g.OutH, oh0 + rows), live = oh1 - oh0;
            int wp = g.OutW + kw - 1, padRows = live + kh - 1, cols = live * wp;
            // Per channel: the padded rows, then room for the last panel's reads past them (zeros).
            int plane = OffKilobyte(RoundUp(padRows * wp + kw + Nr, 16));
            var scratch = Scratch.ForThisThread((nint)plane * cg, 0, (nint)og * RoundUp(cols, Nr));
            float* xg = x + ((nint)n * g.InChannels + grp * cg) * g.InPlane;
            // An output trimmed narrower than the input allows reads only the first Wp positions of a padded row.
            int left = Math.Min(g.PadW, wp), inW = Math.Clamp(wp - g.PadW, 0, g.InW);
            for (int c = 0; c < cg; c++)
            {
                float* dst = scratch.Patches + (nint)c * plane, src = xg + (nint)c * g.InPlane;
                for (int r = 0; r < padRows; r++)
                {
                    int ih = oh0 - g.PadH + r;
                    PadRow(ih < 0 || ih >= g.InH ? null : src + (nint)ih * g.InW, left, inW, dst + r * wp, wp);
                }
                // After the rows: their last step's spill, then the zeros that the last panel's reads run into.
                new Span<float>(dst + padRows * wp, plane - padRows * wp).Clear();
            }
            // Tap (ki, kj) reads B at ki·Wp + kj from the block's start: a product's taps are summed in the registers.
            nint* offsets = stackalloc nint[taps];
            for (int ki = 0, t = 0; ki < kh; ki++)
                for (int kj = 0; kj < kw; kj++, t++) offsets[t] = ki * wp + kj;
            float* wide = scratch.B;
            for (int t0 = 0, tn, perPass = TapsPerPass(taps, cg); t0 < taps; t0 += tn)
            {
                tn = Math.Min(perPass, taps - t0);
                Multiply(og, cols, cg, wPack + grp * packedPerGroup, g.PatchSize, t0 * cg, scratch.Patches, 1, plane, wide, cols,
                    t0 == 0 ? 0f : 1f, tn, offsets + t0);
            }
            float* c0 = y + ((nint)n * g.OutChannels + grp * og) * l + oh0 * g.OutW;
            for (int co = 0; co < og; co++)
            {
                float b = bias == null ? 0f : bias[grp * og + co];
                for (int r = 0; r < live; r++)
                {
                    float* from = wide + (nint)co * cols + r * wp, to = c0 + (nint)co * l + r * g.OutW;
                    if (bias == null) CopyRow(from, to, g.OutW);
                    else AddScalarTo(from, to, g.OutW, b);
                }
            }
        }
    }

    /// <summary>Adds the weight-gradient contribution of one work item into a thread's partial sum.</summary>
    internal delegate void ItemInto(int item, float* into);

    static void WeightGradCore(Conv2dGeometry g, float* x, float* dy, float* dw)
    {
        if (IsShiftableForWeightGrad(g) && ShiftingPaysForWeightGrad(g)) { ShiftedWeightGradCore(g, x, dy, dw); return; }
        var (rows, blocks) = Blocking(g);
        int ld = BlockStride(g, rows);
        var job = new WeightGradJob(g, x, dy, rows, blocks, ld);
        SumItems(g, g.Batch * g.Groups * blocks, job.Item, dw, g.WeightLength);
    }

    /// <summary>
    /// sum (zeroed, <paramref name="length"/> floats) += every item's contribution. The items are split into contiguous
    /// ranges fixed by the sizes alone (<see cref="ReductionChunks"/>), never by the thread count: the first
    /// range sums straight into sum, each other one into a zeroed partial, and the partials are added into sum in range
    /// order. The threads only decide who runs which range, so the result — and a training run — is the same bit for bit
    /// on 1, 2 or any number of threads.
    /// </summary>
    internal static void SumItems(in Conv2dGeometry g, int items, ItemInto item, float* sum, int length)
    {
        int chunks = g.MacCount < ParallelThreshold ? 1 : ReductionChunks.Count(items, g.MacCount / Math.Max(1, items), length, grain: 0);
        if (chunks <= 1) { for (int i = 0; i < items; i++) item(i, sum); return; }
        var partials = new float[chunks - 1][];
        nint target = (nint)sum;
        Parallelism.Run(chunks, c =>
        {
            float[]? partial = null;
            if (c > 0) { partial = partials[c - 1] = ArrayPool<float>.Shared.Rent(length); partial.AsSpan(0, length).Clear(); }
            fixed (float* pp = partial)
            {
                float* into = c == 0 ? (float*)target : pp;
                var (start, end) = VectorOps.Range(c, chunks, items);
                for (int i = start; i < end; i++) item(i, into);
            }
        });
        foreach (var partial in partials)
        {
            Elementwise.Axpy(1f, partial.AsSpan(0, length), new Span<float>(sum, length));
            ArrayPool<float>.Shared.Return(partial);
        }
    }

    sealed class WeightGradJob(Conv2dGeometry g, float* x, float* dy, int rows, int blocks, int ld)
    {
        /// <summary>dw += the contribution of one item (image, group, block of output rows).</summary>
        public void Item(int item, float* dw)
        {
            int block = item % blocks, grp = item / blocks % g.Groups, n = item / blocks / g.Groups;
            int og = g.OutPerGroup, p = g.PatchSize, l = g.OutPlane;
            int oh0 = block * rows, oh1 = Math.Min(g.OutH, oh0 + rows), cols = (oh1 - oh0) * g.OutW;
            bool pointwise = IsPointwise(g);
            var scratch = Scratch.ForThisThread(pointwise ? 0 : (nint)p * ld, (nint)(og + Mr) * cols, (nint)RoundUp(p, Nr) * cols);
            float* xg = x + ((nint)n * g.InChannels + grp * g.InPerGroup) * g.InPlane;
            if (!pointwise) ConvPatches.Fill(g, xg, oh0, oh1, scratch.Patches, ld);
            // A = dy[Og, block] packed in 14-row panels, B = patchesᵀ packed in 32-column panels (for a pointwise
            // convolution straight from the image); depth = the block's positions.
            GemmPacking.PackA(false, dy + ((nint)n * g.OutChannels + grp * og) * l, l, 0, og, oh0 * g.OutW, cols, scratch.A);
            if (pointwise) GemmPacking.PackB(true, xg, g.InPlane, oh0 * g.OutW, cols, 0, p, scratch.B);
            else GemmPacking.PackB(true, scratch.Patches, ld, 0, cols, 0, p, scratch.B);
            Multiply(og, p, cols, scratch.A, cols, 0, scratch.B, cols, Nr, dw + (nint)grp * og * p, p, 1f);
        }
    }

    /// <summary>
    /// Stride 1, no dilation, padding ≥ 0 and a kernel wider than one tap: <see cref="IsShiftable"/> without its bound on
    /// the padded width's waste. The weight gradient weighs that waste itself (<see cref="ShiftingPaysForWeightGrad"/>),
    /// so narrow rows shift too when it pays.
    /// </summary>
    static bool IsShiftableForWeightGrad(in Conv2dGeometry g) =>
        g.StrideH == 1 && g.StrideW == 1 && g.DilationH == 1 && g.DilationW == 1 && g.PadH >= 0 && g.PadW >= 0
        && g.KernelH * g.KernelW > 1;

    /// <summary>
    /// Whether the shifted weight gradient beats the patch matrix: it computes Kh products Kw·Cg columns wide over the
    /// padded row width, where the patch matrix computes one product P = Cg·Kh·Kw columns wide over the live width,
    /// each rounded up to whole 32-column panels. With very few channels per group (a first layer on RGB, say) most
    /// of a panel would be padding, so those stay on the patch matrix; up to half as much padded work again is worth
    /// not writing and packing the patches.
    /// </summary>
    static bool ShiftingPaysForWeightGrad(in Conv2dGeometry g)
    {
        long shifted = (long)g.KernelH * RoundUp(g.KernelW * g.InPerGroup, Nr) * (g.OutW + g.KernelW - 1);
        long patches = (long)RoundUp(g.PatchSize, Nr) * g.OutW;
        return 2 * shifted <= 3 * patches;
    }

    /// <summary>
    /// The weight gradient of a stride-1 convolution without a patch matrix. Each item (image, group, block of output
    /// rows) transposes its input rows once into a zero-padded position-major buffer Xᵀ[position, channel] of
    /// Wp = Wo + Kw − 1 positions per row and exactly Cg floats per position, and lays dy over the same padded width
    /// with the Kw − 1 extra columns of each row zero, so they add nothing. In that layout the Kw·Cg floats from
    /// position q on are the inputs under taps (ki, 0..Kw − 1) of the output at q − ki·Wp, channel fastest, so
    /// kernel row ki is one product read in place with B rows Cg floats apart:
    /// dW_ki[Og, Kw·Cg] += dy[Og, ·] · Xᵀ[ki·Wp + ·, Kw·Cg], depth = the block's padded positions.
    /// dy is packed as A once per item and shared by the Kh products. They accumulate in a sum laid out
    /// [group, ki, Og, kj, Cg], rearranged into dw's [Cout, Cg, Kh, Kw] once at the end. Against the patch matrix this
    /// writes the input once instead of Kh·Kw times, and packs no B.
    /// </summary>
    static void ShiftedWeightGradCore(Conv2dGeometry g, float* x, float* dy, float* dw)
    {
        int og = g.OutPerGroup, cg = g.InPerGroup, kh = g.KernelH, kw = g.KernelW, p = g.PatchSize;
        var (rows, blocks) = ShiftedBlocking(g);
        var job = new ShiftedWeightGradJob(g, x, dy, rows, blocks);
        float* sum = (float*)NativeMemory.AlignedAlloc((nuint)g.WeightLength * sizeof(float), 64);
        try
        {
            new Span<float>(sum, g.WeightLength).Clear();
            SumItems(g, g.Batch * g.Groups * blocks, job.Item, sum, g.WeightLength);
            for (int grp = 0; grp < g.Groups; grp++)
                for (int ki = 0; ki < kh; ki++)
                    for (int co = 0; co < og; co++)
                    {
                        float* from = sum + ((nint)(grp * kh + ki) * og + co) * kw * cg, to = dw + (nint)(grp * og + co) * p + ki * kw;
                        for (int kj = 0; kj < kw; kj++)
                            for (int ci = 0; ci < cg; ci++) to[ci * kh * kw + kj] = from[kj * cg + ci];
                    }
        }
        finally { NativeMemory.AlignedFree(sum); }
    }

    /// <summary>
    /// Output rows per block of the shifted weight gradient (its Xᵀ and its packed dy each within
    /// <see cref="BlockFloats"/>, rows split evenly), and blocks per image.
    /// </summary>
    static (int rows, int blocks) ShiftedBlocking(in Conv2dGeometry g)
    {
        int wp = g.OutW + g.KernelW - 1;
        int fit = Math.Min(BlockFloats / (wp * g.InPerGroup) - (g.KernelH - 1), BlockFloats / (wp * g.OutPerGroup));
        int maxRows = Math.Clamp(fit, 1, Math.Max(1, g.OutH));
        int blocks = (g.OutH + maxRows - 1) / maxRows;
        return ((g.OutH + blocks - 1) / blocks, blocks);
    }

    /// <summary>Depth per product of the shifted weight gradient: the padded block split evenly into runs of at most 256 positions.</summary>
    static int ShiftedDepthBlock(int cols)
    {
        int blocks = (cols + 255) / 256;
        return (cols + blocks - 1) / blocks;
    }

    sealed class ShiftedWeightGradJob(Conv2dGeometry g, float* x, float* dy, int rows, int blocks)
    {
        /// <summary>sum[group] += the contribution of one item (image, group, block of output rows).</summary>
        public void Item(int item, float* sum)
        {
            int block = item % blocks, grp = item / blocks % g.Groups, n = item / blocks / g.Groups;
            int og = g.OutPerGroup, cg = g.InPerGroup, kh = g.KernelH, kw = g.KernelW, l = g.OutPlane;
            int oh0 = block * rows, oh1 = Math.Min(g.OutH, oh0 + rows), live = oh1 - oh0;
            int wp = g.OutW + kw - 1, padRows = live + kh - 1, cols = live * wp, width = kw * cg;
            // The last row of taps reads Kw − 1 positions past the padded rows (under dy's zero columns): those are
            // zero too, and a last panel's 32-wide read stays in bounds.
            nint xtFloats = (nint)(padRows * wp + kw) * cg + 2 * Nr;
            var scratch = Scratch.ForThisThread(xtFloats, (nint)(og + Mr) * cols + GemmPacking.Slack);
            float* xt = scratch.Patches, xg = x + ((nint)n * g.InChannels + grp * cg) * g.InPlane;
            // Positions [left, left + inW) of a padded row hold input columns 0..; the rest of the row is zero. An output
            // trimmed narrower than the input allows needs only the first Wp positions.
            int left = Math.Min(g.PadW, wp), inW = Math.Clamp(wp - g.PadW, 0, g.InW);
            for (int r = 0; r < padRows; r++)
            {
                float* row = xt + (nint)r * wp * cg;
                int ih = oh0 - g.PadH + r;
                if (ih < 0 || ih >= g.InH) { new Span<float>(row, wp * cg).Clear(); continue; }
                new Span<float>(row, left * cg).Clear();
                new Span<float>(row + (nint)(left + inW) * cg, (wp - left - inW) * cg).Clear();
                // Each 16-channel transpose stores 16 floats per position, so a last group of fewer channels spills
                // zeros into the next position(s): it goes first, and the whole groups then overwrite the spill (past
                // the row's last input column the spill lands in zeros, or in the next row, which is written later).
                for (int iw0 = 0; iw0 < inW; iw0 += 16)
                    for (int c0 = (cg - 1) / 16 * 16; c0 >= 0; c0 -= 16)
                        GemmPacking.Transpose16(xg + (nint)c0 * g.InPlane + ih * g.InW + iw0, g.InPlane, Math.Min(16, cg - c0),
                            Math.Min(16, inW - iw0), row + (nint)(left + iw0) * cg + c0, cg);
            }
            new Span<float>(xt + (nint)padRows * wp * cg, (int)(xtFloats - (nint)padRows * wp * cg)).Clear();
            // dy over the padded width, packed as A (14-row panels, depth = positions) a panel and an output row at a
            // time, with the Kw − 1 extra columns of each row zero so they add nothing. The 16-wide stores of a row's
            // last step spill into its zero columns (cleared after) or into later rows and panels (written after).
            float* dyg = dy + ((nint)n * g.OutChannels + grp * og) * l + oh0 * g.OutW;
            for (int ir = 0; ir < og; ir += Mr)
            {
                int h = Math.Min(Mr, og - ir), panelRows = GemmPacking.PanelRows(h);
                float* panel = scratch.A + (nint)ir * cols;
                for (int r = 0; r < live; r++)
                {
                    GemmPacking.PackA(false, dyg + (nint)ir * l + r * g.OutW, l, 0, h, 0, g.OutW, panel + (nint)r * wp * panelRows);
                    new Span<float>(panel + (nint)(r * wp + g.OutW) * panelRows, (kw - 1) * panelRows).Clear();
                }
            }
            float* acc = sum + (nint)grp * kh * og * width;
            for (int k0 = 0, kb; k0 < cols; k0 += kb)
            {
                kb = Math.Min(ShiftedDepthBlock(cols), cols - k0);
                for (int ki = 0; ki < kh; ki++)
                    Multiply(og, width, kb, scratch.A, cols, k0, xt + (nint)(ki * wp + k0) * cg, 1, cg, acc + (nint)ki * og * width, width, 1f);
            }
        }
    }

    /// <summary>A 1×1 convolution with stride 1 and no padding: the image already is its patch matrix.</summary>
    static bool IsPointwise(in Conv2dGeometry g) =>
        g.KernelH == 1 && g.KernelW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0 && g.OutH == g.InH && g.OutW == g.InW;

    static bool UseThreads(in Conv2dGeometry g, int items) => items > 1 && Parallelism.MaxThreads > 1 && g.MacCount >= ParallelThreshold;

    internal static void ForEachItem(in Conv2dGeometry g, int items, Action<int> item)
    {
        if (UseThreads(g, items)) Parallelism.Run(items, item);
        else for (int i = 0; i < items; i++) item(i);
    }

    /// <summary>Depth per block: the patch depth split evenly into blocks of at most 320 (a 32-wide B micro-panel of ≤ 40 KB).</summary>
    static int DepthBlock(int p)
    {
        int blocks = (p + 319) / 320;
        return (p + blocks - 1) / blocks;
    }

    /// <summary>
    /// C[m, n] = A·B + β·C over whole 14×32 tiles, depth k. A is packed with depth <paramref name="aDepth"/> (panel of
    /// rows ir at a + ir·aDepth) and this product uses its depth steps from <paramref name="a0"/> on; the B panel of
    /// columns jr starts at b + jr·<paramref name="panelScale"/> and steps <paramref name="bStep"/> floats per depth step
    /// (in place: scale 1, step = row stride; packed: scale k, step 32). Edge tiles go through a scratch tile. With
    /// <paramref name="segments"/> &gt; 1 the depth is that many runs of k steps, run s reading B from
    /// <paramref name="offsets"/>[s] floats further on (see <see cref="GemmMicroKernel{TReg, R}.Tile{TRows}"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Multiply(int m, int n, int k, float* a, int aDepth, int a0, float* b, nint panelScale, nint bStep, float* c, nint ldc, float beta,
        int segments = 1, nint* offsets = null)
    {
        float* edge = stackalloc float[Mr * Nr + 16];
        edge = (float*)(((nint)edge + 63) & ~(nint)63);
        for (int jr = 0; jr < n; jr += Nr)
        {
            int w = Math.Min(Nr, n - jr);
            float* bp = b + jr * panelScale;
            for (int ir = 0; ir < m; ir += Mr)
            {
                int h = Math.Min(Mr, m - ir), rows = GemmPacking.PanelRows(h);
                float* ap = a + (nint)ir * aDepth + (nint)a0 * rows, cp = c + ir * ldc + jr;
                if (h == rows && w == Nr) { Tile(rows, k, ap, bp, bStep, cp, ldc, beta, segments, offsets); continue; }
                if (beta != 0)
                    for (int i = 0; i < h; i++) new ReadOnlySpan<float>(cp + i * ldc, w).CopyTo(new Span<float>(edge + i * Nr, w));
                Tile(rows, k, ap, bp, bStep, edge, Nr, beta, segments, offsets);
                for (int i = 0; i < h; i++) new ReadOnlySpan<float>(edge + i * Nr, w).CopyTo(new Span<float>(cp + i * ldc, w));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tile(int rows, int k, float* a, float* b, nint bStep, float* c, nint ldc, float beta, int segments, nint* offsets)
    {
        if (rows == Mr) GemmMicroKernel.Tile<Rows14>(k, a, b, bStep, c, ldc, 1f, beta, segments, offsets);
        else if (rows == 8) GemmMicroKernel.Tile<Rows8>(k, a, b, bStep, c, ldc, 1f, beta, segments, offsets);
        else GemmMicroKernel.Tile<Rows4>(k, a, b, bStep, c, ldc, 1f, beta, segments, offsets);
    }

    static void AddScalar(float* row, int n, float v) => AddScalarTo(row, row, n, v);

    /// <summary>to[j] = from[j] + v for j &lt; n (the two may be the same row), the last partial step masked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void AddScalarTo(float* from, float* to, int n, float v)
    {
        var vv = Vector512.Create(v);
        int j = 0;
        for (; j + 16 <= n; j += 16) (Vector512.Load(from + j) + vv).Store(to + j);
        if (j < n)
        {
            var live = GemmPacking.FirstLanes(n - j);
            Avx512F.MaskStore(to + j, live, Avx512F.MaskLoad(from + j, live, Vector512<float>.Zero) + vv);
        }
    }

    /// <summary>to[j] = from[j] for j &lt; n, the last partial step masked (rows too short for a memmove call to pay).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void CopyRow(float* from, float* to, int n)
    {
        int j = 0;
        for (; j + 16 <= n; j += 16) Vector512.Load(from + j).Store(to + j);
        if (j < n)
        {
            var live = GemmPacking.FirstLanes(n - j);
            Avx512F.MaskStore(to + j, live, Avx512F.MaskLoad(from + j, live, Vector512<float>.Zero));
        }
    }

    /// <summary>
    /// dst[0..width) = zeros with <paramref name="src"/>[0..count) placed at [left, left + count); <paramref name="src"/>
    /// null makes the whole row zero. Works in whole 16-float steps, so it writes up to 15 floats past
    /// <paramref name="width"/> (the next row, written after, or a tail the caller clears); masked lanes are not read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PadRow(float* src, int left, int count, float* dst, int width)
    {
        if (src == null) count = 0;
        for (int j = 0; j < width; j += 16)
        {
            var at = Vector512<int>.Indices + Vector512.Create(j - left);
            var live = (Vector512.GreaterThanOrEqual(at, Vector512<int>.Zero) & Vector512.LessThan(at, Vector512.Create(count))).AsSingle();
            Avx512F.MaskLoad(src + j - left, live, Vector512<float>.Zero).Store(dst + j);
        }
    }

    /// <summary>
    /// A thread's patch block and packing buffers: 64-byte aligned native memory that grows on demand and is reused
    /// by every later call on the same thread; freed when the thread goes away.
    /// </summary>
    internal sealed class Scratch
    {
        [ThreadStatic] static Scratch? current;
        public float* Patches, A, B;
        nint patchFloats, aFloats, bFloats;

        public static Scratch ForThisThread(nint patches, nint a = 0, nint b = 0)
        {
            var s = current ??= new Scratch();
            if (s.patchFloats < patches) s.Patches = GemmBlocked.PackBuffers.Grow(s.Patches, ref s.patchFloats, patches);
            if (s.aFloats < a) s.A = GemmBlocked.PackBuffers.Grow(s.A, ref s.aFloats, a);
            if (s.bFloats < b) s.B = GemmBlocked.PackBuffers.Grow(s.B, ref s.bFloats, b);
            return s;
        }

        ~Scratch()
        {
            NativeMemory.AlignedFree(Patches);
            NativeMemory.AlignedFree(A);
            NativeMemory.AlignedFree(B);
        }
    }
}
