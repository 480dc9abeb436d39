using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Cpu;

// Dimension letters as in Conv.cs. A tile is a 2×2 block of outputs of one image; it reads a 4×4 window of the input.
// ξ = 4·a + b (a, b < 4) numbers the 16 positions of the transformed 4×4 window.

/// <summary>
/// 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray, 2016): each 2×2 block of
/// outputs is Aᵀ·[Σ_ci (G·w·Gᵀ) ⊙ (Bᵀ·d·B)]·A, where d is the block's 4×4 input window. The sum over input channels
/// is, position by position, a matrix product: M_ξ[Cout, tiles] = U_ξ[Cout, Cin] · V_ξ[Cin, tiles], 16 products of
/// depth Cin where the direct convolution does one of depth 9·Cin over four times the columns: 16 multiplies per
/// tile and channel pair instead of 36. The transforms are additions and subtractions (G has halves), so the
/// results differ from the direct sum only by rounding.
/// <list type="bullet">
/// <item>The weights are transformed and packed once per call as the A operands (14-row panels of U_ξ).</item>
/// <item>A work item is a block of whole tile rows, counted over the batch (a block may span images). Its input
/// windows are transformed 16 lanes at a time, the lanes being the tiles of one tile row (or of two, when a row has
/// at most 7 tiles), straight from the image with masked loads for the padding, into V_ξ with the block's tiles as
/// contiguous columns; the 16 products run on the <see cref="GemmMicroKernel"/> tile reading V_ξ in place; the
/// output transform reads M_ξ the same way, adds the bias and interleaves the two columns of each tile into the
/// output rows.</item>
/// <item>The input gradient of a 3×3 stride-1 convolution is the forward of dy with the flipped, transposed weights
/// (<see cref="ConvBlocked.InputGradAsForward"/>), so it runs here too.</item>
/// <item>The weight gradient is the transposed form over the same tiles (<see cref="WeightGradCore"/>).</item>
/// </list>
/// It computes only what <see cref="Applies"/> (and <see cref="AppliesToInputGrad"/>) admit and throws on anything else;
/// the rule of <see cref="KernelRegistry.Conv2dForward"/> sends the other convolutions to <see cref="ConvBlocked"/>.
/// </summary>
public static unsafe class ConvWinograd
{
    const int Nr = GemmMicroKernel.Nr, Mr = GemmMicroKernel.Mr, Positions = 16;

    /// <summary>Floats of a work item's V and M blocks together (1 MB): the tile rows per block follow from it.</summary>
    public const int BlockFloats = 1 << 18;

    /// <summary>
    /// Fewest input and output channels handled here: the first and last convolutions of an image model (1 or 3
    /// channels on one side, products too shallow for the transforms to pay) stay on the blocked kernel.
    /// </summary>
    public const int MinChannels = 8;

    /// <summary>Whether <paramref name="g"/> runs here (AVX-512, 3×3, stride 1, no dilation, one group, padding ≥ 0, ≥ <see cref="MinChannels"/> channels each way).</summary>
    public static bool Applies(in Conv2dGeometry g) =>
        ConvBlocked.Supported && g.KernelH == 3 && g.KernelW == 3 && g.StrideH == 1 && g.StrideW == 1
        && g.DilationH == 1 && g.DilationW == 1 && g.Groups == 1 && g.PadH >= 0 && g.PadW >= 0
        && g.InChannels >= MinChannels && g.OutChannels >= MinChannels && g.OutH > 0 && g.OutW > 0 && g.Batch > 0;

    /// <summary>Whether the input gradient of <paramref name="g"/> runs here: stride 1, and <see cref="Applies"/> to the forward convolution that computes it.</summary>
    public static bool AppliesToInputGrad(in Conv2dGeometry g) => g.StrideH == 1 && g.StrideW == 1 && Applies(ConvBlocked.InputGradAsForward(g));

    /// <summary>The error of a call on a geometry this kernel does not compute (the registry's rule sends those elsewhere).</summary>
    internal static ArgumentException NotApplicable(string op, in Conv2dGeometry g) =>
        new($"{op}: does not apply to {g}; KernelRegistry's rule picks the kernel for it");

    /// <summary>y = conv(x, w) + bias; see <see cref="Conv2dForwardKernel"/>.</summary>
    public static void Forward(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        g.Check("Conv2d Winograd", x.Length, w.Length, y.Length);
        if (!bias.IsEmpty && bias.Length != g.OutChannels) throw new ArgumentException($"Conv2d Winograd: {bias.Length} biases for {g.OutChannels} channels");
        if (!Applies(g)) throw NotApplicable("Conv2d Winograd", g);
        fixed (float* xp = x, wp = w, bp = bias, yp = y)
            ForwardCore(g, xp, wp, bias.IsEmpty ? null : bp, yp);
    }

    /// <summary>dx of a convolution; see <see cref="Conv2dInputGradKernel"/>.</summary>
    public static void InputGrad(in Conv2dGeometry g, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx)
    {
        g.Check("Conv2d Winograd input grad", dx.Length, w.Length, dy.Length);
        if (!AppliesToInputGrad(g)) throw NotApplicable("Conv2d Winograd input grad", g);
        ConvBlocked.InputGradByForward(g, dy, w, dx, &ForwardCore);
    }

    /// <summary>dw summed over the batch; see <see cref="Conv2dWeightGradKernel"/>.</summary>
    public static void WeightGrad(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw)
    {
        g.Check("Conv2d Winograd weight grad", x.Length, dw.Length, dy.Length);
        if (!Applies(g)) throw NotApplicable("Conv2d Winograd weight grad", g);
        fixed (float* xp = x, dyp = dy, dwp = dw)
            WeightGradCore(g, xp, dyp, dwp);
    }

    /// <summary>
    /// The weight gradient by the same tiles. With e the 2×2 block of dy over a tile and d its 4×4 input window, the
    /// tile's share of dw is the correlation of d with e, F(3×3, 2×2), whose minimal form is the transpose of the
    /// forward's: Gᵀ·[(A·e·Aᵀ) ⊙ (Bᵀ·d·B)]·G, with the forward's input transform. Summed over tiles, position by
    /// position: S_ξ[Cout, Cin] = Σ_tiles E_ξ[Cout, tile] · V_ξ[Cin, tile], 16 products whose depth is the tiles, then
    /// dw = Gᵀ·S·G once. Each thread sums its blocks into a private S (<see cref="ConvBlocked.SumItems"/>: the
    /// result does not depend on which thread ran what).
    /// </summary>
    static void WeightGradCore(Conv2dGeometry g, float* x, float* dy, float* dw)
    {
        int cin = g.InChannels, cout = g.OutChannels;
        var plan = new Plan(g);
        SumThenFinish(g, Positions, plan.Blocks, new Job(g, plan, x, dy, null, 0, null).WeightItem, (long)cin * 100,
            (co, sum) => WeightsFromSums(sum, cout, cin, co, dw));
    }

    /// <summary>
    /// dw[co, ci] = Gᵀ·S[co, ci]·G, Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1], for the pairs of output channel
    /// <paramref name="co"/>: 16 input channels a vector (S_ξ is contiguous along ci; the last vector masked), the nine
    /// taps moved back kernel-major (<see cref="KernelMajor"/>).
    /// </summary>
    static void WeightsFromSums(float* sum, int cout, int cin, int co, float* dw)
    {
        nint step = (nint)cout * cin;
        float* taps = stackalloc float[9 * 16];
        var t = stackalloc Vector512<float>[12];
        var z = Vector512<float>.Zero;
        for (int ci = 0; ci < cin; ci += 16)
        {
            int count = Math.Min(16, cin - ci);
            var live = GemmPacking.FirstLanes(count);
            float* s = sum + (nint)co * cin + ci;
            for (int b = 0; b < 4; b++)
            {
                Vector512<float> s0 = Avx512F.MaskLoad(s + b * step, live, z), s1 = Avx512F.MaskLoad(s + (4 + b) * step, live, z),
                    s2 = Avx512F.MaskLoad(s + (8 + b) * step, live, z), s3 = Avx512F.MaskLoad(s + (12 + b) * step, live, z);
                t[b] = s0 + Half(s1 + s2);
                t[4 + b] = Half(s1 - s2);
                t[8 + b] = Half(s1 + s2) + s3;
            }
            for (int a = 0; a < 3; a++)
            {
                Vector512<float> r0 = t[4 * a], r1 = t[4 * a + 1], r2 = t[4 * a + 2], r3 = t[4 * a + 3];
                (r0 + Half(r1 + r2)).Store(taps + 16 * (3 * a));
                Half(r1 - r2).Store(taps + 16 * (3 * a + 1));
                (Half(r1 + r2) + r3).Store(taps + 16 * (3 * a + 2));
            }
            KernelMajor(taps, dw + ((nint)co * cin + ci) * 9, count);
        }
    }

    /// <summary>
    /// The <paramref name="count"/> (≤ 16) consecutive 3×3 kernels at <paramref name="kernels"/> tap by tap:
    /// taps[16·j + l] = kernel l's tap j (zero for l ≥ count), so each tap of all of them is one vector load.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TapMajor(float* kernels, float* taps, int count)
    {
        for (int l = 0; l < 16; l++)
            for (int j = 0; j < 9; j++) taps[16 * j + l] = l < count ? kernels[9 * l + j] : 0f;
    }

    /// <summary>The inverse of <see cref="TapMajor"/>: kernels[9·l + j] = taps[16·j + l] for the first <paramref name="count"/> kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void KernelMajor(float* taps, float* kernels, int count)
    {
        for (int l = 0; l < count; l++)
            for (int j = 0; j < 9; j++) kernels[9 * l + j] = taps[16 * j + l];
    }

    /// <summary>A transform of the weights into unpacked Cout×Cin matrices, one output channel <c>co</c> a call.</summary>
    internal delegate void ChannelTransform(int co, float* into);

    /// <summary>The forward's work items, given the packed transformed weights and the floats from one U_ξ to the next.</summary>
    internal delegate void ForwardItems(float* u, nint packed);

    /// <summary>
    /// The forward of either Winograd kernel: <paramref name="transform"/> fills <paramref name="positions"/> unpacked
    /// Cout×Cin matrices U_ξ (output channels on both threads), they are packed as the register tile's A operands
    /// (14-row panels), and <paramref name="items"/> runs with them.
    /// </summary>
    internal static void WithPackedWeights(int positions, int cout, int cin, long costPerChannel, ChannelTransform transform, ForwardItems items)
    {
        nint packed = (nint)(cout + Mr) * cin + GemmPacking.Slack;
        float* u = (float*)NativeMemory.AlignedAlloc((nuint)(positions * packed) * sizeof(float), 64);
        float* plain = (float*)NativeMemory.AlignedAlloc((nuint)(positions * cout * cin) * sizeof(float), 64);
        try
        {
            Parallelism.For(cout, costPerChannel, co => transform(co, plain), grain: 1 << 16);
            Parallelism.For(positions, (long)cout * cin, xi => GemmPacking.PackA(false, plain + (nint)xi * cout * cin, cin, 0, cout, 0, cin, u + xi * packed), grain: 1 << 16);
            items(u, packed);
        }
        finally { NativeMemory.AlignedFree(u); NativeMemory.AlignedFree(plain); }
    }

    /// <summary>
    /// The weight gradient of either Winograd kernel: each thread sums its blocks' S_ξ (<paramref name="positions"/>
    /// Cout×Cin matrices) into a private sum (<see cref="ConvBlocked.SumItems"/>: the result does not depend on which
    /// thread ran what), then <paramref name="finish"/> turns S into dw, output channels on both threads.
    /// </summary>
    internal static void SumThenFinish(in Conv2dGeometry g, int positions, int blocks, ConvBlocked.ItemInto item, long costPerChannel, ChannelTransform finish)
    {
        int length = positions * g.OutChannels * g.InChannels;
        float* sum = (float*)NativeMemory.AlignedAlloc((nuint)length * sizeof(float), 64);
        try
        {
            new Span<float>(sum, length).Clear();
            ConvBlocked.SumItems(g, blocks, item, sum, length);
            Parallelism.For(g.OutChannels, costPerChannel, co => finish(co, sum), grain: 1 << 16);
        }
        finally { NativeMemory.AlignedFree(sum); }
    }

    /// <summary>
    /// S_ξ += E_ξ·V_ξᵀ for ξ &lt; <paramref name="positions"/> over one block's <paramref name="tiles"/> tiles (E_ξ
    /// Cout×tiles and V_ξ Cin×tiles, leading dimension <paramref name="ld"/>), both packed for the register tile
    /// (depth = the tiles) into <paramref name="aPack"/> and <paramref name="bPack"/>.
    /// </summary>
    internal static void SumProducts(int positions, int cout, int cin, int tiles, int ld, float* e, nint eStride, float* v, nint vStride,
        float* aPack, float* bPack, float* sum)
    {
        for (int xi = 0; xi < positions; xi++)
        {
            GemmPacking.PackA(false, e + xi * eStride, ld, 0, cout, 0, tiles, aPack);
            GemmPacking.PackB(true, v + xi * vStride, ld, 0, tiles, 0, cin, bPack);
            ConvBlocked.Multiply(cout, cin, tiles, aPack, tiles, 0, bPack, tiles, Nr, sum + (nint)xi * cout * cin, cin, 1f);
        }
    }

    /// <summary>Each of the <paramref name="rows"/> tile rows from q0 on (counted over the batch, <paramref name="tilesH"/> an image): its image, and its first output row.</summary>
    internal static void TileRows(int q0, int rows, int tilesH, int tileSize, int* image, int* top)
    {
        for (int r = 0, n = q0 / tilesH, ty = q0 % tilesH; r < rows; r++)
        {
            image[r] = n; top[r] = tileSize * ty;
            if (++ty == tilesH) { ty = 0; n++; }
        }
    }

    /// <summary>
    /// Floats from one transformed matrix to the next: a whole number of 4 KB pages and one cache line. The transforms
    /// touch all of them at once, and matrices a multiple of 4 KB apart would all fall in the same L1 set (more
    /// streams than it has ways).
    /// </summary>
    internal static nint Spread(int floats) => ConvBlocked.RoundUp(floats, 1024) + 16;

    static void ForwardCore(Conv2dGeometry g, float* x, float* w, float* bias, float* y)
    {
        int cin = g.InChannels, cout = g.OutChannels;
        WithPackedWeights(Positions, cout, cin, (long)cin * 64, (co, into) => TransformWeights(w, cout, cin, co, into), (u, packed) =>
        {
            var plan = new Plan(g);
            ConvBlocked.ForEachItem(g, plan.Blocks, new Job(g, plan, x, y, u, packed, bias).Item);
        });
    }

    /// <summary>
    /// U_ξ[co, ci] = (G·w[co, ci]·Gᵀ)[a, b], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], 16 unpacked Cout×Cin matrices, for
    /// the pairs of output channel <paramref name="co"/>: 16 input channels a vector (lane l the pair (co, ci + l), taps
    /// moved tap-major first by <see cref="TapMajor"/>; the last vector masked).
    /// </summary>
    static void TransformWeights(float* w, int cout, int cin, int co, float* u)
    {
        nint step = (nint)cout * cin;
        float* taps = stackalloc float[9 * 16];
        for (int ci = 0; ci < cin; ci += 16)
        {
            int count = Math.Min(16, cin - ci);
            var live = GemmPacking.FirstLanes(count);
            TapMajor(w + ((nint)co * cin + ci) * 9, taps, count);
            Vector512<float> k0 = Vector512.Load(taps), k1 = Vector512.Load(taps + 16), k2 = Vector512.Load(taps + 32),
                k3 = Vector512.Load(taps + 48), k4 = Vector512.Load(taps + 64), k5 = Vector512.Load(taps + 80),
                k6 = Vector512.Load(taps + 96), k7 = Vector512.Load(taps + 112), k8 = Vector512.Load(taps + 128);
            // G across the kernel's rows (row a of G·k), then across its columns.
            float* at = u + (nint)co * cin + ci;
            WeightRow(k0, k1, k2, at, step, live);
            WeightRow(Half(k0 + k3 + k6), Half(k1 + k4 + k7), Half(k2 + k5 + k8), at + 4 * step, step, live);
            WeightRow(Half(k0 - k3 + k6), Half(k1 - k4 + k7), Half(k2 - k5 + k8), at + 8 * step, step, live);
            WeightRow(k6, k7, k8, at + 12 * step, step, live);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Half(Vector512<float> v) => v * Vector512.Create(0.5f);

    /// <summary>Row a of G·k·Gᵀ from row a of G·k (r0, r1, r2): U_{4a + b} at <paramref name="at"/> + b·step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void WeightRow(Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, float* at, nint step, Vector512<float> live)
    {
        Avx512F.MaskStore(at, live, r0);
        Avx512F.MaskStore(at + step, live, Half(r0 + r1 + r2));
        Avx512F.MaskStore(at + 2 * step, live, Half(r0 - r1 + r2));
        Avx512F.MaskStore(at + 3 * step, live, r2);
    }

    /// <summary>
    /// How the tiles are cut into work items. Tile rows are counted over the batch (row q = image q / Th, tile row
    /// q mod Th); a block is <see cref="RowsPerBlock"/> consecutive tile rows, its tiles the columns of V_ξ and M_ξ
    /// (leading dimension <see cref="Ld"/>). Rows of at most 7 tiles are transformed two to a vector.
    /// </summary>
    readonly struct Plan
    {
        public readonly int TilesH, TilesW, TotalRows, RowsPerBlock, Blocks, Ld, RowsPerVector;
        /// <summary>Floats from V_ξ to V_ξ+1 and from M_ξ to M_ξ+1.</summary>
        public readonly nint VStride, MStride;

        public Plan(in Conv2dGeometry g)
        {
            TilesH = (g.OutH + 1) / 2; TilesW = (g.OutW + 1) / 2;
            TotalRows = g.Batch * TilesH;
            RowsPerVector = TilesW <= 7 ? 2 : 1;
            int fit = Math.Max(1, BlockFloats / (Positions * (g.InChannels + g.OutChannels) * TilesW));
            // Whole 32-column panels when the budget allows: tile rows in multiples of 32 / gcd(Tw, 32).
            int unit = Nr / Gcd(TilesW, Nr);
            int rows = fit >= unit ? fit / unit * unit : fit;
            rows = Math.Min(rows, TotalRows);
            if (RowsPerVector == 2 && rows > 1) rows &= ~1;
            RowsPerBlock = rows;
            Blocks = (TotalRows + rows - 1) / rows;
            Ld = ConvBlocked.OffKilobyte(ConvBlocked.RoundUp(rows * TilesW, Nr));
            VStride = Spread(g.InChannels * Ld); MStride = Spread(g.OutChannels * Ld);
        }


        static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
    }

    /// <summary>
    /// The work items of one call: x is the input; y the output (forward) or its gradient dy (weight gradient); u the
    /// packed transformed weights and bias of a forward, null otherwise.
    /// </summary>
    sealed class Job(Conv2dGeometry g, Plan plan, float* x, float* y, float* u, nint packed, float* bias)
    {
        // Permutation indices over two 16-float sources (0..15 the first, 16..31 the second).
        readonly Vector512<int> evens = Vector512<int>.Indices * 2, odds = Vector512<int>.Indices * 2 + Vector512<int>.One;
        // Narrow rows: lanes [0, Tw) are the first tile row, [Tw, 2·Tw) the second, each read from its own source.
        readonly Vector512<int> pairEven = PairIndex(plan.TilesW, 0), pairOdd = PairIndex(plan.TilesW, 1),
            pairEven2 = PairIndex(plan.TilesW, 2), pairOdd2 = PairIndex(plan.TilesW, 3);
        // Output: column k of an output row is tile k / 2's column k mod 2; the second half of a vector starts at lane `half`.
        readonly Vector512<int> outFirst = OutIndex(0), outSecondWide = OutIndex(16 / 2), outSecondNarrow = OutIndex(plan.TilesW);

        static Vector512<int> PairIndex(int tw, int shift)
        {
            var v = Vector512<int>.Zero;
            for (int i = 0; i < Math.Min(16, 2 * tw); i++)
                v = v.WithElement(i, (i < tw ? 0 : 16) + 2 * (i % tw) + shift);
            return v;
        }

        static Vector512<int> OutIndex(int first)
        {
            var v = Vector512<int>.Zero;
            for (int k = 0; k < 16; k++) v = v.WithElement(k, Math.Min(15, first + k / 2) + (k % 2) * 16);
            return v;
        }

        public void Item(int block)
        {
            int cin = g.InChannels, cout = g.OutChannels, ld = plan.Ld, tw = plan.TilesW;
            int q0 = block * plan.RowsPerBlock, rows = Math.Min(plan.RowsPerBlock, plan.TotalRows - q0);
            var s = ConvBlocked.Scratch.ForThisThread(Positions * plan.VStride, Positions * plan.MStride);
            float* v = s.Patches, m = s.A;
            int* image = stackalloc int[rows], top = stackalloc int[rows];
            TileRows(q0, rows, plan.TilesH, 2, image, top);
            if (plan.RowsPerVector == 2) InputNarrow(v, rows, image, top);
            else InputWide(v, rows, image, top);
            for (int xi = 0; xi < Positions; xi++)
                ConvBlocked.Multiply(cout, rows * tw, cin, u + xi * packed, cin, 0, v + xi * plan.VStride, 1, ld, m + xi * plan.MStride, ld, 0f);
            if (plan.RowsPerVector == 2) OutputNarrow(m, rows, image, top);
            else OutputWide(m, rows, image, top);
        }

        /// <summary>S_ξ += E_ξ · V_ξᵀ over the tiles of one block, both packed for the register tile (depth = the tiles).</summary>
        public void WeightItem(int block, float* sum)
        {
            int cin = g.InChannels, cout = g.OutChannels, ld = plan.Ld, tw = plan.TilesW;
            int q0 = block * plan.RowsPerBlock, rows = Math.Min(plan.RowsPerBlock, plan.TotalRows - q0), tiles = rows * tw;
            nint aFloats = (nint)(cout + Mr) * tiles + GemmPacking.Slack;
            var s = ConvBlocked.Scratch.ForThisThread(Positions * plan.VStride, Positions * plan.MStride,
                aFloats + (nint)ConvBlocked.RoundUp(cin, Nr) * tiles + GemmPacking.Slack);
            float* v = s.Patches, e = s.A, aPack = s.B, bPack = s.B + aFloats;
            int* image = stackalloc int[rows], top = stackalloc int[rows];
            TileRows(q0, rows, plan.TilesH, 2, image, top);
            if (plan.RowsPerVector == 2) { InputNarrow(v, rows, image, top); GradientNarrow(e, rows, image, top); }
            else { InputWide(v, rows, image, top); GradientWide(e, rows, image, top); }
            SumProducts(Positions, cout, cin, tiles, ld, e, plan.MStride, v, plan.VStride, aPack, bPack, sum);
        }


        /// <summary>
        /// E_ξ[co, r·Tw + tx] = (A·e·Aᵀ)[a, b] for the block's tile rows r (Tw ≥ 8), e the tile's 2×2 block of dy (zero
        /// past the output's edge), A = [1 0; 1 1; 1 −1; 0 −1]: the two dy rows split into even and odd columns (one tile
        /// a lane), combined across rows, then across columns.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void GradientWide(float* e, int rows, int* image, int* top)
        {
            int tw = plan.TilesW, ld = plan.Ld;
            nint step = plan.MStride;
            for (int tx0 = 0; tx0 < tw; tx0 += 16)
            {
                int col = 2 * tx0;
                Vector512<float> in0 = GemmPacking.FirstLanes(g.OutW - col), in1 = GemmPacking.FirstLanes(g.OutW - col - 16);
                var live = GemmPacking.FirstLanes(Math.Min(16, tw - tx0));
                for (int co = 0; co < g.OutChannels; co++)
                {
                    float* d = e + (nint)co * ld + tx0;
                    for (int r = 0; r < rows; r++, d += tw)
                    {
                        PrefetchAhead(d + 2 * tw, step);
                        float* row = y + ((nint)image[r] * g.OutChannels + co) * g.OutPlane + (nint)top[r] * g.OutW + col;
                        var (u0, u1) = (Avx512F.MaskLoad(row, in0, Vector512<float>.Zero), Avx512F.MaskLoad(row + 16, in1, Vector512<float>.Zero));
                        Vector512<float> w0 = Vector512<float>.Zero, w1 = Vector512<float>.Zero;
                        if (top[r] + 1 < g.OutH) { w0 = Avx512F.MaskLoad(row + g.OutW, in0, w0); w1 = Avx512F.MaskLoad(row + g.OutW + 16, in1, w1); }
                        GradientTransform(Avx512F.PermuteVar16x32x2(u0, evens, u1), Avx512F.PermuteVar16x32x2(u0, odds, u1),
                            Avx512F.PermuteVar16x32x2(w0, evens, w1), Avx512F.PermuteVar16x32x2(w0, odds, w1), d, step, live);
                    }
                }
            }
        }

        /// <summary>As <see cref="GradientWide"/> for tile rows of at most 7 tiles, two at a time (lanes as in <see cref="InputNarrow"/>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void GradientNarrow(float* e, int rows, int* image, int* top)
        {
            int tw = plan.TilesW, ld = plan.Ld;
            nint step = plan.MStride;
            Vector512<float> inside = GemmPacking.FirstLanes(g.OutW), pair = GemmPacking.FirstLanes(2 * tw), single = GemmPacking.FirstLanes(tw);
            for (int co = 0; co < g.OutChannels; co++)
            {
                float* d = e + (nint)co * ld;
                for (int r = 0; r < rows; r += 2, d += 2 * tw)
                {
                    PrefetchAhead(d + 4 * tw, step);
                    // Rows 0 and 1 of the dy blocks of the first tile row (f) and of the second (h), zero past the edge.
                    var z = Vector512<float>.Zero;
                    Vector512<float> f0 = z, f1 = z, h0 = z, h1 = z;
                    float* row = y + ((nint)image[r] * g.OutChannels + co) * g.OutPlane + (nint)top[r] * g.OutW;
                    f0 = Avx512F.MaskLoad(row, inside, z);
                    if (top[r] + 1 < g.OutH) f1 = Avx512F.MaskLoad(row + g.OutW, inside, z);
                    if (r + 1 < rows)
                    {
                        row = y + ((nint)image[r + 1] * g.OutChannels + co) * g.OutPlane + (nint)top[r + 1] * g.OutW;
                        h0 = Avx512F.MaskLoad(row, inside, z);
                        if (top[r + 1] + 1 < g.OutH) h1 = Avx512F.MaskLoad(row + g.OutW, inside, z);
                    }
                    GradientTransform(Avx512F.PermuteVar16x32x2(f0, pairEven, h0), Avx512F.PermuteVar16x32x2(f0, pairOdd, h0),
                        Avx512F.PermuteVar16x32x2(f1, pairEven, h1), Avx512F.PermuteVar16x32x2(f1, pairOdd, h1), d, step, r + 1 < rows ? pair : single);
                }
            }
        }

        /// <summary>E = A·e·Aᵀ for the lanes' 2×2 blocks e = [e00 e01; e10 e11], stored to E_{4a + b} at d + (4a + b)·step.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void GradientTransform(Vector512<float> e00, Vector512<float> e01, Vector512<float> e10, Vector512<float> e11, float* d, nint step, Vector512<float> live)
        {
            // Across rows: (A·e)[a, j] = e0j, e0j + e1j, e0j − e1j, −e1j; then the same across columns.
            GradientRow(e00, e01, d, step, live);
            GradientRow(e00 + e10, e01 + e11, d + 4 * step, step, live);
            GradientRow(e00 - e10, e01 - e11, d + 8 * step, step, live);
            GradientRow(-e10, -e11, d + 12 * step, step, live);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void GradientRow(Vector512<float> c0, Vector512<float> c1, float* d, nint step, Vector512<float> live)
        {
            Avx512F.MaskStore(d, live, c0);
            Avx512F.MaskStore(d + step, live, c0 + c1);
            Avx512F.MaskStore(d + 2 * step, live, c0 - c1);
            Avx512F.MaskStore(d + 3 * step, live, -c1);
        }

        /// <summary>
        /// Into L1: the line at <paramref name="p"/> in each of the 16 matrices <paramref name="step"/> apart, two tile
        /// rows ahead of the transforms that write (or read) them (see <see cref="ConvWinograd4"/>).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void PrefetchAhead(float* p, nint step)
        {
            for (int xi = 0; xi < Positions; xi++, p += step) Sse.Prefetch0(p);
        }

        /// <summary>Lanes i of a load at input column <paramref name="col"/> that fall inside the row.</summary>
        Vector512<float> Inside(int col)
        {
            var at = Vector512<int>.Indices + Vector512.Create(col);
            return (Vector512.GreaterThanOrEqual(at, Vector512<int>.Zero) & Vector512.LessThan(at, Vector512.Create(g.InW))).AsSingle();
        }

        /// <summary>Row ih of an input plane, or null where it lies in the padding.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        float* Row(float* plane, int ih) => (uint)ih < (uint)g.InH ? plane + (nint)ih * g.InW : null;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> Load(float* row, int col, Vector512<float> inside) =>
            row == null ? Vector512<float>.Zero : Avx512F.MaskLoad(row + col, inside, Vector512<float>.Zero);

        /// <summary>
        /// V_ξ[c, r·Tw + tx] for the block's tile rows r (Tw ≥ 8), 16 tiles tx a vector: the windows' rows are combined by
        /// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1] across rows while 16 input columns a lane, then split into even
        /// and odd columns (one tile a lane) and combined the same way across columns. Channel by channel, so each V_ξ
        /// row is written front to back.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void InputWide(float* v, int rows, int* image, int* top)
        {
            int tw = plan.TilesW, ld = plan.Ld;
            nint step = plan.VStride;
            for (int tx0 = 0; tx0 < tw; tx0 += 16)
            {
                int col = 2 * tx0 - g.PadW;
                Vector512<float> in0 = Inside(col), in1 = Inside(col + 16), in2 = Inside(col + 2), in3 = Inside(col + 18);
                var live = GemmPacking.FirstLanes(Math.Min(16, tw - tx0));
                for (int c = 0; c < g.InChannels; c++)
                {
                    float* d = v + (nint)c * ld + tx0;
                    for (int r = 0; r < rows; r++, d += tw)
                    {
                        PrefetchAhead(d + 2 * tw, step);
                        float* plane = x + ((nint)image[r] * g.InChannels + c) * g.InPlane;
                        int ih = top[r] - g.PadH;
                        float* r0 = Row(plane, ih), r1 = Row(plane, ih + 1), r2 = Row(plane, ih + 2), r3 = Row(plane, ih + 3);
                        // Columns 2i and 2i + 1 of the window rows (a0, a1), and 2i + 2, 2i + 3 (b0, b1), for lanes i.
                        var (a00, a01, b00, b01) = (Load(r0, col, in0), Load(r0, col + 16, in1), Load(r0, col + 2, in2), Load(r0, col + 18, in3));
                        var (a10, a11, b10, b11) = (Load(r1, col, in0), Load(r1, col + 16, in1), Load(r1, col + 2, in2), Load(r1, col + 18, in3));
                        var (a20, a21, b20, b21) = (Load(r2, col, in0), Load(r2, col + 16, in1), Load(r2, col + 2, in2), Load(r2, col + 18, in3));
                        var (a30, a31, b30, b31) = (Load(r3, col, in0), Load(r3, col + 16, in1), Load(r3, col + 2, in2), Load(r3, col + 18, in3));
                        Columns(a00 - a20, a01 - a21, b00 - b20, b01 - b21, d, step, live);
                        Columns(a10 + a20, a11 + a21, b10 + b20, b11 + b21, d + 4 * step, step, live);
                        Columns(a20 - a10, a21 - a11, b20 - b10, b21 - b11, d + 8 * step, step, live);
                        Columns(a10 - a30, a11 - a31, b10 - b30, b11 - b31, d + 12 * step, step, live);
                    }
                }
            }
        }

        /// <summary>One row a of the transformed windows, from 16 input columns a lane (a) and the same two further on (b).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        void Columns(Vector512<float> a0, Vector512<float> a1, Vector512<float> b0, Vector512<float> b1, float* d, nint step, Vector512<float> live) =>
            ColumnTransform(Avx512F.PermuteVar16x32x2(a0, evens, a1), Avx512F.PermuteVar16x32x2(a0, odds, a1),
                Avx512F.PermuteVar16x32x2(b0, evens, b1), Avx512F.PermuteVar16x32x2(b0, odds, b1), d, step, live);

        /// <summary>
        /// Bᵀ across the columns of one row a of the transformed windows, given the row's window columns 0..3 (one tile
        /// a lane): stored to V_{4a + b} at d + b·step for b = 0..3.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void ColumnTransform(Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3, float* d, nint step, Vector512<float> live)
        {
            Avx512F.MaskStore(d, live, c0 - c2);
            Avx512F.MaskStore(d + step, live, c1 + c2);
            Avx512F.MaskStore(d + 2 * step, live, c2 - c1);
            Avx512F.MaskStore(d + 3 * step, live, c1 - c3);
        }

        /// <summary>
        /// As <see cref="InputWide"/> for tile rows of at most 7 tiles, two at a time: each window row is one 16-float
        /// load per tile row (2·Tw + 2 ≤ 16 columns), and the lanes [0, Tw) take the first tile row, [Tw, 2·Tw) the
        /// second, so the two rows' tiles land side by side as in V.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void InputNarrow(float* v, int rows, int* image, int* top)
        {
            int tw = plan.TilesW, ld = plan.Ld, col = -g.PadW;
            nint step = plan.VStride;
            var inside = Inside(col);
            Vector512<float> pair = GemmPacking.FirstLanes(2 * tw), single = GemmPacking.FirstLanes(tw);
            for (int c = 0; c < g.InChannels; c++)
            {
                float* d = v + (nint)c * ld;
                for (int r = 0; r < rows; r += 2, d += 2 * tw)
                {
                    PrefetchAhead(d + 4 * tw, step);
                    float* plane = x + ((nint)image[r] * g.InChannels + c) * g.InPlane;
                    int ih = top[r] - g.PadH;
                    float* p0 = Row(plane, ih), p1 = Row(plane, ih + 1), p2 = Row(plane, ih + 2), p3 = Row(plane, ih + 3);
                    float* s0 = null, s1 = null, s2 = null, s3 = null;
                    if (r + 1 < rows)
                    {
                        plane = x + ((nint)image[r + 1] * g.InChannels + c) * g.InPlane;
                        ih = top[r + 1] - g.PadH;
                        s0 = Row(plane, ih); s1 = Row(plane, ih + 1); s2 = Row(plane, ih + 2); s3 = Row(plane, ih + 3);
                    }
                    var (f0, f1, f2, f3) = (Load(p0, col, inside), Load(p1, col, inside), Load(p2, col, inside), Load(p3, col, inside));
                    var (h0, h1, h2, h3) = (Load(s0, col, inside), Load(s1, col, inside), Load(s2, col, inside), Load(s3, col, inside));
                    var live = r + 1 < rows ? pair : single;
                    PairColumns(f0 - f2, h0 - h2, d, step, live);
                    PairColumns(f1 + f2, h1 + h2, d + 4 * step, step, live);
                    PairColumns(f2 - f1, h2 - h1, d + 8 * step, step, live);
                    PairColumns(f1 - f3, h1 - h3, d + 12 * step, step, live);
                }
            }
        }

        /// <summary>One row a of the transformed windows of two tile rows, from one 16-column load of each.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        void PairColumns(Vector512<float> first, Vector512<float> second, float* d, nint step, Vector512<float> live) =>
            ColumnTransform(Avx512F.PermuteVar16x32x2(first, pairEven, second), Avx512F.PermuteVar16x32x2(first, pairOdd, second),
                Avx512F.PermuteVar16x32x2(first, pairEven2, second), Avx512F.PermuteVar16x32x2(first, pairOdd2, second), d, step, live);

        /// <summary>
        /// The four outputs of each lane's tile from the 16 products at <paramref name="src"/> (M_ξ at src + ξ·step):
        /// Aᵀ·M·A with Aᵀ = [1 1 1 0; 0 1 −1 −1], plus the bias.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Outputs(float* src, nint step, Vector512<float> live, float b,
            out Vector512<float> y00, out Vector512<float> y01, out Vector512<float> y10, out Vector512<float> y11)
        {
            var z = Vector512<float>.Zero;
            Vector512<float> s00, s01, s10, s11, s20, s21, s30, s31;
            {
                var (m0, m1, m2, m3) = (Avx512F.MaskLoad(src, live, z), Avx512F.MaskLoad(src + step, live, z), Avx512F.MaskLoad(src + 2 * step, live, z), Avx512F.MaskLoad(src + 3 * step, live, z));
                s00 = m0 + m1 + m2; s01 = m1 - m2 - m3;
            }
            {
                float* p = src + 4 * step;
                var (m0, m1, m2, m3) = (Avx512F.MaskLoad(p, live, z), Avx512F.MaskLoad(p + step, live, z), Avx512F.MaskLoad(p + 2 * step, live, z), Avx512F.MaskLoad(p + 3 * step, live, z));
                s10 = m0 + m1 + m2; s11 = m1 - m2 - m3;
            }
            {
                float* p = src + 8 * step;
                var (m0, m1, m2, m3) = (Avx512F.MaskLoad(p, live, z), Avx512F.MaskLoad(p + step, live, z), Avx512F.MaskLoad(p + 2 * step, live, z), Avx512F.MaskLoad(p + 3 * step, live, z));
                s20 = m0 + m1 + m2; s21 = m1 - m2 - m3;
            }
            {
                float* p = src + 12 * step;
                var (m0, m1, m2, m3) = (Avx512F.MaskLoad(p, live, z), Avx512F.MaskLoad(p + step, live, z), Avx512F.MaskLoad(p + 2 * step, live, z), Avx512F.MaskLoad(p + 3 * step, live, z));
                s30 = m0 + m1 + m2; s31 = m1 - m2 - m3;
            }
            var bv = Vector512.Create(b);
            y00 = s00 + s10 + s20 + bv; y01 = s01 + s11 + s21 + bv;
            y10 = s10 - s20 - s30 + bv; y11 = s11 - s21 - s31 + bv;
        }

        /// <summary>
        /// The outputs of the block's tile rows r (Tw ≥ 8) from M_ξ[co, r·Tw + tx], 16 tiles tx a vector: each lane's two
        /// columns interleaved into two output rows of 2·16 columns. Channel by channel, so each M_ξ row is read front to back.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void OutputWide(float* m, int rows, int* image, int* top)
        {
            int tw = plan.TilesW, ld = plan.Ld;
            nint step = plan.MStride;
            for (int tx0 = 0; tx0 < tw; tx0 += 16)
            {
                int count = Math.Min(16, tw - tx0), col = 2 * tx0, width = Math.Min(2 * count, g.OutW - col);
                var live = GemmPacking.FirstLanes(count);
                Vector512<float> lo = GemmPacking.FirstLanes(Math.Min(16, width)), hi = GemmPacking.FirstLanes(Math.Max(0, width - 16));
                for (int co = 0; co < g.OutChannels; co++)
                {
                    float b = bias == null ? 0f : bias[co];
                    float* src = m + (nint)co * ld + tx0;
                    for (int r = 0; r < rows; r++, src += tw)
                    {
                        PrefetchAhead(src + 2 * tw, step);
                        Outputs(src, step, live, b, out var y00, out var y01, out var y10, out var y11);
                        float* row = y + ((nint)image[r] * g.OutChannels + co) * g.OutPlane + (nint)top[r] * g.OutW + col;
                        Avx512F.MaskStore(row, lo, Avx512F.PermuteVar16x32x2(y00, outFirst, y01));
                        Avx512F.MaskStore(row + 16, hi, Avx512F.PermuteVar16x32x2(y00, outSecondWide, y01));
                        if (top[r] + 1 >= g.OutH) continue;
                        row += g.OutW;
                        Avx512F.MaskStore(row, lo, Avx512F.PermuteVar16x32x2(y10, outFirst, y11));
                        Avx512F.MaskStore(row + 16, hi, Avx512F.PermuteVar16x32x2(y10, outSecondWide, y11));
                    }
                }
            }
        }

        /// <summary>As <see cref="OutputWide"/> for tile rows of at most 7 tiles, two at a time (lanes as in <see cref="InputNarrow"/>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void OutputNarrow(float* m, int rows, int* image, int* top)
        {
            int tw = plan.TilesW, ld = plan.Ld;
            nint step = plan.MStride;
            Vector512<float> pair = GemmPacking.FirstLanes(2 * tw), single = GemmPacking.FirstLanes(tw), width = GemmPacking.FirstLanes(g.OutW);
            for (int co = 0; co < g.OutChannels; co++)
            {
                float b = bias == null ? 0f : bias[co];
                float* src = m + (nint)co * ld;
                for (int r = 0; r < rows; r += 2, src += 2 * tw)
                {
                    PrefetchAhead(src + 4 * tw, step);
                    Outputs(src, step, r + 1 < rows ? pair : single, b, out var y00, out var y01, out var y10, out var y11);
                    for (int part = 0; part < 2 && r + part < rows; part++)
                    {
                        var index = part == 0 ? outFirst : outSecondNarrow;
                        int oh = top[r + part];
                        float* row = y + ((nint)image[r + part] * g.OutChannels + co) * g.OutPlane + (nint)oh * g.OutW;
                        Avx512F.MaskStore(row, width, Avx512F.PermuteVar16x32x2(y00, index, y01));
                        if (oh + 1 < g.OutH) Avx512F.MaskStore(row + g.OutW, width, Avx512F.PermuteVar16x32x2(y10, index, y11));
                    }
                }
            }
        }
    }
}
