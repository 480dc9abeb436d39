using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Cpu;

// Dimension letters as in Conv.cs. A tile is a 4×4 block of outputs of one image; it reads a 6×6 window of the input.
// ξ = 6·a + b (a, b < 6) numbers the 36 positions of the transformed 6×6 window: a across rows, b across columns.

/// <summary>
/// 3×3 stride-1 convolution by Winograd's F(4×4, 3×3) (Lavin and Gray, 2016, interpolation points 0, ±1, ±2, ∞):
/// each 4×4 block of outputs is Aᵀ·[Σ_ci (G·w·Gᵀ) ⊙ (Bᵀ·d·B)]·A over its 6×6 input window d, so a channel pair costs
/// 36 multiplies per 16 outputs, where F(2×2, 3×3) (<see cref="ConvWinograd"/>) needs 64 and the direct convolution
/// 144; the transformed windows and products (36 per 16 outputs against 16 per 4) take 0.56 times the memory traffic.
/// The transforms have coefficients up to 8 and fractions down to 1/24: the results carry about ten times the rounding
/// error of F(2×2, 3×3)'s, growing with the size of the whole sum (the tests allow 5·10⁻⁵ of the reference's RMS more).
/// <list type="bullet">
/// <item>The work is laid out as in <see cref="ConvWinograd"/>: blocks of whole tile rows counted over the batch;
/// per block the transformed windows V_ξ[Cin, tiles], 36 products M_ξ = U_ξ·V_ξ on the register tile, and the output
/// transform.</item>
/// <item>Rows of 5 to 7 tiles (outputs 17 to 28 wide): two tile rows share a vector, one tile a lane. Each window row
/// is two 16-float loads per tile row, split by column mod 4 (four permutes for both rows); the splits are combined
/// across rows, then each window column of both tile rows is one permute of the two rows' splits. Narrower rows would
/// leave half the lanes idle, and there F(2×2, 3×3) measured as fast.</item>
/// <item>The input gradient runs as the forward of dy with the flipped weights, the weight gradient as the
/// transposed algorithm, S_ξ = Σ_tiles E_ξ·V_ξᵀ with E = A·e·Aᵀ, then dw = Gᵀ·S·G.</item>
/// </list>
/// It computes only what <see cref="Applies"/> admits and throws on anything else; the rule of
/// <see cref="KernelRegistry.Conv2dForward"/> sends wider or narrower rows to <see cref="ConvWinograd"/>.
/// </summary>
public static unsafe class ConvWinograd4
{
    const int Nr = GemmMicroKernel.Nr, Mr = GemmMicroKernel.Mr, Positions = 36;

    /// <summary>Tile rows that share a vector (two rows of at most 7 tiles in 16 lanes).</summary>
    const int RowsPerVector = 2;

    /// <summary>Floats of a work item's V and M blocks together (1 MB), as in <see cref="ConvWinograd.BlockFloats"/>.</summary>
    public const int BlockFloats = ConvWinograd.BlockFloats;

    /// <summary>G of F(4×4, 3×3), 6×3 row by row: U = G·w·Gᵀ.</summary>
    static ReadOnlySpan<float> G =>
    [
        1f / 4, 0f, 0f,
        -1f / 6, -1f / 6, -1f / 6,
        -1f / 6, 1f / 6, -1f / 6,
        1f / 24, 1f / 12, 1f / 6,
        1f / 24, -1f / 12, 1f / 6,
        0f, 0f, 1f,
    ];

    /// <summary>Whether <paramref name="g"/> runs here: <see cref="ConvWinograd.Applies"/> with rows of 5 to 7 tiles (17 to 28 outputs).</summary>
    public static bool Applies(in Conv2dGeometry g) => ConvWinograd.Applies(g) && (g.OutW + 3) / 4 is >= 5 and <= 7;

    /// <summary>Whether the input gradient of <paramref name="g"/> runs here: stride 1, and <see cref="Applies"/> to the forward convolution that computes it.</summary>
    public static bool AppliesToInputGrad(in Conv2dGeometry g) => g.StrideH == 1 && g.StrideW == 1 && Applies(ConvBlocked.InputGradAsForward(g));

    /// <summary>y = conv(x, w) + bias; see <see cref="Conv2dForwardKernel"/>.</summary>
    public static void Forward(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        if (!Applies(g)) throw ConvWinograd.NotApplicable("Conv2d Winograd F(4×4, 3×3)", g);
        g.Check("Conv2d Winograd F(4×4, 3×3)", x.Length, w.Length, y.Length);
        if (!bias.IsEmpty && bias.Length != g.OutChannels) throw new ArgumentException($"Conv2d Winograd F(4×4, 3×3): {bias.Length} biases for {g.OutChannels} channels");
        fixed (float* xp = x, wp = w, bp = bias, yp = y)
            ForwardCore(g, xp, wp, bias.IsEmpty ? null : bp, yp);
    }

    /// <summary>dx of a convolution; see <see cref="Conv2dInputGradKernel"/>.</summary>
    public static void InputGrad(in Conv2dGeometry g, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx)
    {
        if (!AppliesToInputGrad(g)) throw ConvWinograd.NotApplicable("Conv2d Winograd F(4×4, 3×3) input grad", g);
        g.Check("Conv2d Winograd F(4×4, 3×3) input grad", dx.Length, w.Length, dy.Length);
        ConvBlocked.InputGradByForward(g, dy, w, dx, &ForwardCore);
    }

    /// <summary>dw summed over the batch; see <see cref="Conv2dWeightGradKernel"/>.</summary>
    public static void WeightGrad(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw)
    {
        if (!Applies(g)) throw ConvWinograd.NotApplicable("Conv2d Winograd F(4×4, 3×3) weight grad", g);
        g.Check("Conv2d Winograd F(4×4, 3×3) weight grad", x.Length, dw.Length, dy.Length);
        fixed (float* xp = x, dyp = dy, dwp = dw)
            WeightGradCore(g, xp, dyp, dwp);
    }

    static void ForwardCore(Conv2dGeometry g, float* x, float* w, float* bias, float* y)
    {
        int cin = g.InChannels, cout = g.OutChannels;
        ConvWinograd.WithPackedWeights(Positions, cout, cin, (long)cin * 400, (co, into) => TransformWeights(w, cout, cin, co, into), (u, packed) =>
        {
            var plan = new Plan(g);
            ConvBlocked.ForEachItem(g, plan.Blocks, new Job(g, plan, x, y, u, packed, bias).Item);
        });
    }

    /// <summary>
    /// U_ξ[co, ci] = (G·w[co, ci]·Gᵀ)[a, b] for the pairs of output channel <paramref name="co"/>: 36 unpacked Cout×Cin
    /// matrices. 16 input channels a vector (lane l the pair (co, ci + l), taps moved tap-major first by
    /// <see cref="ConvWinograd.TapMajor"/>; the last vector masked).
    /// </summary>
    static void TransformWeights(float* w, int cout, int cin, int co, float* u)
    {
        nint step = (nint)cout * cin;
        float* taps = stackalloc float[9 * 16];
        var t = stackalloc Vector512<float>[18];
        for (int ci = 0; ci < cin; ci += 16)
        {
            int count = Math.Min(16, cin - ci);
            var live = GemmPacking.FirstLanes(count);
            ConvWinograd.TapMajor(w + ((nint)co * cin + ci) * 9, taps, count);
            for (int j = 0; j < 3; j++)
            {
                Vector512<float> c0 = Vector512.Load(taps + 16 * j), c1 = Vector512.Load(taps + 16 * (3 + j)), c2 = Vector512.Load(taps + 16 * (6 + j));
                for (int a = 0; a < 6; a++) t[3 * a + j] = G[3 * a] * c0 + G[3 * a + 1] * c1 + G[3 * a + 2] * c2;
            }
            float* at = u + (nint)co * cin + ci;
            for (int a = 0; a < 6; a++)
                for (int b = 0; b < 6; b++)
                    Avx512F.MaskStore(at + (6 * a + b) * step, live, t[3 * a] * G[3 * b] + t[3 * a + 1] * G[3 * b + 1] + t[3 * a + 2] * G[3 * b + 2]);
        }
    }

    /// <summary>The weight gradient: S_ξ = Σ_tiles E_ξ·V_ξᵀ summed per thread, then dw = Gᵀ·S·G (<see cref="WeightsFromSums"/>).</summary>
    static void WeightGradCore(Conv2dGeometry g, float* x, float* dy, float* dw)
    {
        int cin = g.InChannels, cout = g.OutChannels;
        var plan = new Plan(g);
        ConvWinograd.SumThenFinish(g, Positions, plan.Blocks, new Job(g, plan, x, dy, null, 0, null).WeightItem, (long)cin * 300,
            (co, sum) => WeightsFromSums(sum, cout, cin, co, dw));
    }

    /// <summary>
    /// dw[co, ci] = Gᵀ·S[co, ci]·G (t = Gᵀ·S, 3×6, then t·G) for the pairs of output channel <paramref name="co"/>: 16
    /// input channels a vector (S_ξ is contiguous along ci; the last vector masked), the nine taps moved back
    /// kernel-major (<see cref="ConvWinograd.KernelMajor"/>).
    /// </summary>
    static void WeightsFromSums(float* sum, int cout, int cin, int co, float* dw)
    {
        nint step = (nint)cout * cin;
        float* taps = stackalloc float[9 * 16];
        var t = stackalloc Vector512<float>[18];
        for (int ci = 0; ci < cin; ci += 16)
        {
            int count = Math.Min(16, cin - ci);
            var live = GemmPacking.FirstLanes(count);
            float* s = sum + (nint)co * cin + ci;
            for (int b = 0; b < 6; b++)
            {
                Vector512<float> t0 = Vector512<float>.Zero, t1 = t0, t2 = t0;
                for (int a = 0; a < 6; a++)
                {
                    var v = Avx512F.MaskLoad(s + (6 * a + b) * step, live, Vector512<float>.Zero);
                    t0 += G[3 * a] * v; t1 += G[3 * a + 1] * v; t2 += G[3 * a + 2] * v;
                }
                t[b] = t0; t[6 + b] = t1; t[12 + b] = t2;
            }
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                {
                    var acc = Vector512<float>.Zero;
                    for (int b = 0; b < 6; b++) acc += t[6 * i + b] * G[3 * b + j];
                    acc.Store(taps + 16 * (3 * i + j));
                }
            ConvWinograd.KernelMajor(taps, dw + ((nint)co * cin + ci) * 9, count);
        }
    }

    /// <summary>
    /// How the tiles are cut into work items: tile rows counted over the batch (row q = image q / Th, tile row
    /// q mod Th), <see cref="RowsPerVector"/> of them a vector, <see cref="RowsPerBlock"/> (a multiple of
    /// it) a block; a block's tiles are the columns of V_ξ and M_ξ (leading dimension <see cref="Ld"/>).
    /// </summary>
    readonly struct Plan
    {
        public readonly int TilesH, TilesW, TotalRows, RowsPerBlock, Blocks, Ld;
        /// <summary>Floats from V_ξ to V_ξ+1 and from M_ξ to M_ξ+1.</summary>
        public readonly nint VStride, MStride;

        public Plan(in Conv2dGeometry g)
        {
            TilesH = (g.OutH + 3) / 4; TilesW = (g.OutW + 3) / 4;
            TotalRows = g.Batch * TilesH;
            int fit = Math.Max(1, BlockFloats / (Positions * (g.InChannels + g.OutChannels) * TilesW));
            // Whole vectors of tile rows, and of those the count that fills its last 32-column panel best (up to a quarter
            // over the budget: 18 rows of 7 tiles fill 4 panels but for 2 columns where 16 rows leave half a panel).
            int rows = Math.Max(RowsPerVector, (fit + fit / 4) / RowsPerVector * RowsPerVector);
            double best = 0;
            for (int r = rows; r >= Math.Max(RowsPerVector, fit / 2); r -= RowsPerVector)
            {
                double fill = (double)(r * TilesW) / ConvBlocked.RoundUp(r * TilesW, Nr);
                if (fill > best + 1e-9) { best = fill; RowsPerBlock = r; }
            }
            RowsPerBlock = Math.Min(RowsPerBlock, TotalRows);
            Blocks = (TotalRows + RowsPerBlock - 1) / RowsPerBlock;
            Ld = ConvBlocked.OffKilobyte(ConvBlocked.RoundUp(RowsPerBlock * TilesW, Nr));
            VStride = ConvWinograd.Spread(g.InChannels * Ld); MStride = ConvWinograd.Spread(g.OutChannels * Ld);
        }
    }

    /// <summary>
    /// The work items of one call: x is the input; y the output (forward) or its gradient dy (weight gradient); u the
    /// packed transformed weights and bias of a forward, null otherwise. Two tile rows share a vector: lanes [0, Tw)
    /// the first, [Tw, 2·Tw) the second.
    /// </summary>
    sealed class Job
    {
        readonly Conv2dGeometry g;
        readonly Plan plan;
        readonly float* x, y, u, bias;
        readonly nint packed;
        // A 32-float row split by column mod 4: lanes 0..7 columns 0, 4, …, 28 and lanes 8..15 columns 1, 5, …, 29
        // (phase01), the same from column 2 and 3 (phase23). Window column j of both tile rows is then one permute of
        // the two rows' splits (pick[j]): lane k (k < Tw) takes column 4·k + j of the first, lane Tw + k of the second.
        readonly Vector512<int> phase01, phase23;
        readonly Vector512<int>[] pick = new Vector512<int>[6];
        // Output: the 4 tiles from lane s with columns 0, 1 (and 2, 3) interleaved (Spread(s)), then the pairs (join); for
        // tiles 0–3 and 4–7 of the first tile row of a vector and of the second.
        readonly Vector512<int> firstLeft, firstRight, secondLeft, secondRight, join;

        public Job(Conv2dGeometry g, Plan plan, float* x, float* y, float* u, nint packed, float* bias)
        {
            this.g = g; this.plan = plan; this.x = x; this.y = y; this.u = u; this.packed = packed; this.bias = bias;
            int tw = plan.TilesW;
            for (int l = 0; l < 16; l++)
            {
                phase01 = phase01.WithElement(l, 4 * (l % 8) + l / 8);
                phase23 = phase23.WithElement(l, 4 * (l % 8) + l / 8 + 2);
            }
            for (int j = 0; j < 6; j++)
                for (int k = 0; k < tw; k++)
                {
                    // Window column j < 4 of tile k is input column 4·k + j: split lane k of phase j. Columns 4 and 5 are phases 0 and 1 of tile k + 1.
                    int lane = j % 2 * 8 + k + (j >= 4 ? 1 : 0);
                    pick[j] = pick[j].WithElement(k, lane).WithElement(tw + k, 16 + lane);
                }
            (firstLeft, firstRight, secondLeft, secondRight) = (Spread(0), Spread(4), Spread(tw), Spread(tw + 4));
            for (int k = 0; k < 16; k++) join = join.WithElement(k, 2 * (k / 4) + k % 2 + (k % 4 >= 2 ? 16 : 0));
        }

        /// <summary>Lanes 2·k and 2·k + 1 take lane s + k of the first and of the second source, for k &lt; 4.</summary>
        static Vector512<int> Spread(int s)
        {
            var v = Vector512<int>.Zero;
            for (int k = 0; k < 8; k++) v = v.WithElement(k, Math.Min(15, s + k / 2) + (k % 2) * 16);
            return v;
        }

        public void Item(int block)
        {
            int cin = g.InChannels, cout = g.OutChannels, ld = plan.Ld;
            int q0 = block * plan.RowsPerBlock, rows = Math.Min(plan.RowsPerBlock, plan.TotalRows - q0);
            var s = ConvBlocked.Scratch.ForThisThread(Positions * plan.VStride, Positions * plan.MStride);
            float* v = s.Patches, m = s.A;
            int* image = stackalloc int[rows], top = stackalloc int[rows];
            ConvWinograd.TileRows(q0, rows, plan.TilesH, 4, image, top);
            Input(v, rows, image, top);
            for (int xi = 0; xi < Positions; xi++)
                ConvBlocked.Multiply(cout, rows * plan.TilesW, cin, u + xi * packed, cin, 0, v + xi * plan.VStride, 1, ld, m + xi * plan.MStride, ld, 0f);
            Output(m, rows, image, top);
        }

        /// <summary>S_ξ += E_ξ · V_ξᵀ over the tiles of one block, both packed for the register tile (depth = the tiles).</summary>
        public void WeightItem(int block, float* sum)
        {
            int cin = g.InChannels, cout = g.OutChannels, ld = plan.Ld;
            int q0 = block * plan.RowsPerBlock, rows = Math.Min(plan.RowsPerBlock, plan.TotalRows - q0), tiles = rows * plan.TilesW;
            nint aFloats = (nint)(cout + Mr) * tiles + GemmPacking.Slack;
            var s = ConvBlocked.Scratch.ForThisThread(Positions * plan.VStride, Positions * plan.MStride,
                aFloats + (nint)ConvBlocked.RoundUp(cin, Nr) * tiles + GemmPacking.Slack);
            float* v = s.Patches, e = s.A, aPack = s.B, bPack = s.B + aFloats;
            int* image = stackalloc int[rows], top = stackalloc int[rows];
            ConvWinograd.TileRows(q0, rows, plan.TilesH, 4, image, top);
            Input(v, rows, image, top);
            Gradient(e, rows, image, top);
            ConvWinograd.SumProducts(Positions, cout, cin, tiles, ld, e, plan.MStride, v, plan.VStride, aPack, bPack, sum);
        }


        /// <summary>Lanes i of a load at column <paramref name="col"/> that fall inside a row <paramref name="width"/> wide.</summary>
        static Vector512<float> Inside(int col, int width)
        {
            var at = Vector512<int>.Indices + Vector512.Create(col);
            return (Vector512.GreaterThanOrEqual(at, Vector512<int>.Zero) & Vector512.LessThan(at, Vector512.Create(width))).AsSingle();
        }

        /// <summary>
        /// V_ξ[c, tile] = (Bᵀ·d·B)[a, b] for the block's tiles, d the tile's 6×6 input window (zero in the padding), two
        /// tile rows at a time: each window row of both is split by column mod 4 (four permutes), the splits are
        /// combined across rows, and then each combined row's six columns are picked out (one permute each) and
        /// combined across columns. Channel by channel, so each V_ξ row is written front to back.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Input(float* v, int rows, int* image, int* top)
        {
            int tw = plan.TilesW, ld = plan.Ld, col = -g.PadW, inW = g.InW, inH = g.InH;
            nint step = plan.VStride;
            Vector512<float> in0 = Inside(col, inW), in1 = Inside(col + 16, inW), z = Vector512<float>.Zero;
            Vector512<float> pair = GemmPacking.FirstLanes(2 * tw), single = GemmPacking.FirstLanes(tw);
            Vector512<int> s01 = phase01, s23 = phase23, k0 = pick[0], k1 = pick[1], k2 = pick[2], k3 = pick[3], k4 = pick[4], k5 = pick[5];
            var t = stackalloc Vector512<float>[24];                               // t[4·i + s]: split s of window row i
            for (int c = 0; c < g.InChannels; c++)
            {
                float* d = v + (nint)c * ld;
                for (int r = 0; r < rows; r += 2, d += 2 * tw)
                {
                    bool two = r + 1 < rows;
                    float* a = x + ((nint)image[r] * g.InChannels + c) * g.InPlane + col;
                    float* b = two ? x + ((nint)image[r + 1] * g.InChannels + c) * g.InPlane + col : null;
                    int ha = top[r] - g.PadH, hb = two ? top[r + 1] - g.PadH : -8;
                    if (c + 1 < g.InChannels)
                    {
                        // The next channel's window rows, read after this channel's other tile rows.
                        Prefetch(a + g.InPlane, ha, inW, inH);
                        if (two) Prefetch(b + g.InPlane, hb, inW, inH);
                    }
                    for (int i = 0; i < 6; i++)
                    {
                        Vector512<float> a0 = z, a1 = z, b0 = z, b1 = z;
                        if ((uint)(ha + i) < (uint)inH) { float* row = a + (nint)(ha + i) * inW; a0 = Avx512F.MaskLoad(row, in0, z); a1 = Avx512F.MaskLoad(row + 16, in1, z); }
                        if ((uint)(hb + i) < (uint)inH) { float* row = b + (nint)(hb + i) * inW; b0 = Avx512F.MaskLoad(row, in0, z); b1 = Avx512F.MaskLoad(row + 16, in1, z); }
                        t[4 * i] = Avx512F.PermuteVar16x32x2(a0, s01, a1); t[4 * i + 1] = Avx512F.PermuteVar16x32x2(a0, s23, a1);
                        t[4 * i + 2] = Avx512F.PermuteVar16x32x2(b0, s01, b1); t[4 * i + 3] = Avx512F.PermuteVar16x32x2(b0, s23, b1);
                    }
                    for (int s = 0; s < 4; s++)
                        Transform(t[s], t[4 + s], t[8 + s], t[12 + s], t[16 + s], t[20 + s], out t[s], out t[4 + s], out t[8 + s], out t[12 + s], out t[16 + s], out t[20 + s]);
                    var live = two ? pair : single;
                    PrefetchAhead(d + 4 * tw, step);
                    for (int i = 0; i < 6; i++)
                    {
                        Vector512<float> f01 = t[4 * i], f23 = t[4 * i + 1], h01 = t[4 * i + 2], h23 = t[4 * i + 3];
                        Transform(Avx512F.PermuteVar16x32x2(f01, k0, h01), Avx512F.PermuteVar16x32x2(f01, k1, h01), Avx512F.PermuteVar16x32x2(f23, k2, h23),
                            Avx512F.PermuteVar16x32x2(f23, k3, h23), Avx512F.PermuteVar16x32x2(f01, k4, h01), Avx512F.PermuteVar16x32x2(f01, k5, h01),
                            out var o0, out var o1, out var o2, out var o3, out var o4, out var o5);
                        float* p = d + 6 * i * step;
                        Avx512F.MaskStore(p, live, o0); Avx512F.MaskStore(p + step, live, o1); Avx512F.MaskStore(p + 2 * step, live, o2);
                        Avx512F.MaskStore(p + 3 * step, live, o3); Avx512F.MaskStore(p + 4 * step, live, o4); Avx512F.MaskStore(p + 5 * step, live, o5);
                    }
                }
            }
        }

        /// <summary>Into L1: the cache lines of window rows <paramref name="top"/> … top + 5 (those inside the plane) from <paramref name="row0"/>, which points at row 0.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Prefetch(float* row0, int top, int width, int height)
        {
            int first = Math.Max(0, top), end = Math.Min(height, top + 6);
            for (float* p = row0 + (nint)first * width, stop = row0 + (nint)end * width; p < stop; p += 16) Sse.Prefetch0(p);
        }

        /// <summary>
        /// Into L1: the line at <paramref name="p"/> in each of the 36 matrices <paramref name="step"/> apart. The
        /// transforms write (or read) 36 rows at once, a partial line each, and the misses queue up behind one another;
        /// asked for two tile-row pairs ahead, the lines are there when the stores come (on the Xeon of
        /// docs/benchmarks.md the 28² forward's input transform takes about a third less time).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void PrefetchAhead(float* p, nint step)
        {
            for (int xi = 0; xi < Positions; xi++, p += step) Sse.Prefetch0(p);
        }

        /// <summary>Bᵀ·(d0 … d5), Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Transform(Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3, Vector512<float> d4, Vector512<float> d5,
            out Vector512<float> o0, out Vector512<float> o1, out Vector512<float> o2, out Vector512<float> o3, out Vector512<float> o4, out Vector512<float> o5)
        {
            Vector512<float> four = Vector512.Create(4f), five = Vector512.Create(5f), two = Vector512.Create(2f);
            var t1 = Avx512F.FusedMultiplyAddNegated(four, d2, d4);               // d4 − 4·d2
            var t2 = Avx512F.FusedMultiplyAddNegated(four, d1, d3);               // d3 − 4·d1
            var t3 = d4 - d2;
            var t4 = two * (d3 - d1);
            o0 = Avx512F.FusedMultiplyAddNegated(five, d2, Avx512F.FusedMultiplyAdd(four, d0, d4));
            o1 = t1 + t2; o2 = t1 - t2;
            o3 = t3 + t4; o4 = t3 - t4;
            o5 = Avx512F.FusedMultiplyAddNegated(five, d3, Avx512F.FusedMultiplyAdd(four, d1, d5));
        }

        /// <summary>
        /// The outputs of the block's tiles from M_ξ[co, tile]: Aᵀ·M·A with Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0;
        /// 0 1 1 4 4 0; 0 1 −1 8 −8 1], plus the bias; each output row of a tile row is the four columns of its tiles
        /// interleaved, four tiles (16 outputs) a store. Channel by channel, so each M_ξ row is read front to back.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Output(float* m, int rows, int* image, int* top)
        {
            int tw = plan.TilesW, ld = plan.Ld, outW = g.OutW, outH = g.OutH;
            nint step = plan.MStride;
            var t = stackalloc Vector512<float>[24];
            var o = stackalloc Vector512<float>[16];
            Vector512<float> z = Vector512<float>.Zero, pair = GemmPacking.FirstLanes(2 * tw), single = GemmPacking.FirstLanes(tw);
            Vector512<float> left = GemmPacking.FirstLanes(outW), right = GemmPacking.FirstLanes(outW - 16);
            for (int co = 0; co < g.OutChannels; co++)
            {
                var bv = Vector512.Create(bias == null ? 0f : bias[co]);
                float* src = m + (nint)co * ld;
                for (int r = 0; r < rows; r += 2, src += 2 * tw)
                {
                    bool two = r + 1 < rows;
                    var live = two ? pair : single;
                    PrefetchAhead(src + 4 * tw, step);
                    for (int ahead = r + 2; ahead < Math.Min(rows, r + 4); ahead++)
                    {
                        // The output rows of the next pair, written after this one.
                        float* first = y + ((nint)image[ahead] * g.OutChannels + co) * g.OutPlane + (nint)top[ahead] * outW;
                        for (float* p = first, end = first + Math.Min(4, outH - top[ahead]) * outW; p < end; p += 16) Sse.Prefetch0(p);
                    }
                    for (int a = 0; a < 6; a++)
                    {
                        float* p = src + 6 * a * step;
                        OutputRow(Avx512F.MaskLoad(p, live, z), Avx512F.MaskLoad(p + step, live, z), Avx512F.MaskLoad(p + 2 * step, live, z),
                            Avx512F.MaskLoad(p + 3 * step, live, z), Avx512F.MaskLoad(p + 4 * step, live, z), Avx512F.MaskLoad(p + 5 * step, live, z),
                            out t[4 * a], out t[4 * a + 1], out t[4 * a + 2], out t[4 * a + 3]);
                    }
                    for (int j = 0; j < 4; j++)
                    {
                        OutputRow(t[j], t[4 + j], t[8 + j], t[12 + j], t[16 + j], t[20 + j], out var y0, out var y1, out var y2, out var y3);
                        o[j] = y0 + bv; o[4 + j] = y1 + bv; o[8 + j] = y2 + bv; o[12 + j] = y3 + bv;
                    }
                    for (int part = 0; part < (two ? 2 : 1); part++)
                    {
                        int oh = top[r + part];
                        float* row = y + ((nint)image[r + part] * g.OutChannels + co) * g.OutPlane + (nint)oh * outW;
                        var (sl, sr) = part == 0 ? (firstLeft, firstRight) : (secondLeft, secondRight);
                        for (int i = 0; i < 4 && oh + i < outH; i++, row += outW)
                        {
                            Vector512<float> c0 = o[4 * i], c1 = o[4 * i + 1], c2 = o[4 * i + 2], c3 = o[4 * i + 3];
                            Avx512F.MaskStore(row, left, Avx512F.PermuteVar16x32x2(Avx512F.PermuteVar16x32x2(c0, sl, c1), join, Avx512F.PermuteVar16x32x2(c2, sl, c3)));
                            Avx512F.MaskStore(row + 16, right, Avx512F.PermuteVar16x32x2(Avx512F.PermuteVar16x32x2(c0, sr, c1), join, Avx512F.PermuteVar16x32x2(c2, sr, c3)));
                        }
                    }
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void OutputRow(Vector512<float> m0, Vector512<float> m1, Vector512<float> m2, Vector512<float> m3, Vector512<float> m4, Vector512<float> m5,
            out Vector512<float> o0, out Vector512<float> o1, out Vector512<float> o2, out Vector512<float> o3)
        {
            Vector512<float> s1 = m1 + m2, d1 = m1 - m2, s2 = m3 + m4, d2 = m3 - m4;
            o0 = m0 + s1 + s2;
            o1 = Avx512F.FusedMultiplyAdd(Vector512.Create(2f), d2, d1);
            o2 = Avx512F.FusedMultiplyAdd(Vector512.Create(4f), s2, s1);
            o3 = Avx512F.FusedMultiplyAdd(Vector512.Create(8f), d2, d1) + m5;
        }

        /// <summary>
        /// E_ξ[co, tile] = (A·e·Aᵀ)[a, b] for the block's tiles, e the tile's 4×4 block of dy (zero past the output's
        /// edge), A the transpose of the forward's Aᵀ: as <see cref="Input"/> with four dy rows and columns.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Gradient(float* e, int rows, int* image, int* top)
        {
            int tw = plan.TilesW, ld = plan.Ld, outW = g.OutW, outH = g.OutH;
            nint step = plan.MStride;
            Vector512<float> in0 = Inside(0, outW), in1 = Inside(16, outW), z = Vector512<float>.Zero;
            Vector512<float> pair = GemmPacking.FirstLanes(2 * tw), single = GemmPacking.FirstLanes(tw);
            Vector512<int> s01 = phase01, s23 = phase23, k0 = pick[0], k1 = pick[1], k2 = pick[2], k3 = pick[3];
            var t = stackalloc Vector512<float>[24];                               // t[4·i + s]: split s of dy row i, then of row a of A·e
            for (int co = 0; co < g.OutChannels; co++)
            {
                float* d = e + (nint)co * ld;
                for (int r = 0; r < rows; r += 2, d += 2 * tw)
                {
                    bool two = r + 1 < rows;
                    float* a = y + ((nint)image[r] * g.OutChannels + co) * g.OutPlane;
                    float* b = two ? y + ((nint)image[r + 1] * g.OutChannels + co) * g.OutPlane : null;
                    int ha = top[r], hb = two ? top[r + 1] : outH;
                    for (int i = 0; i < 4; i++)
                    {
                        Vector512<float> a0 = z, a1 = z, b0 = z, b1 = z;
                        if (ha + i < outH) { float* row = a + (nint)(ha + i) * outW; a0 = Avx512F.MaskLoad(row, in0, z); a1 = Avx512F.MaskLoad(row + 16, in1, z); }
                        if (hb + i < outH) { float* row = b + (nint)(hb + i) * outW; b0 = Avx512F.MaskLoad(row, in0, z); b1 = Avx512F.MaskLoad(row + 16, in1, z); }
                        t[4 * i] = Avx512F.PermuteVar16x32x2(a0, s01, a1); t[4 * i + 1] = Avx512F.PermuteVar16x32x2(a0, s23, a1);
                        t[4 * i + 2] = Avx512F.PermuteVar16x32x2(b0, s01, b1); t[4 * i + 3] = Avx512F.PermuteVar16x32x2(b0, s23, b1);
                    }
                    // Split s of row a goes to t[4·a + s]: it overwrites only inputs of the same split, already read.
                    for (int s = 0; s < 4; s++)
                        GradientRow(t[s], t[4 + s], t[8 + s], t[12 + s], out t[s], out t[4 + s], out t[8 + s], out t[12 + s], out t[16 + s], out t[20 + s]);
                    var live = two ? pair : single;
                    PrefetchAhead(d + 4 * tw, step);
                    for (int i = 0; i < 6; i++)
                    {
                        Vector512<float> f01 = t[4 * i], f23 = t[4 * i + 1], h01 = t[4 * i + 2], h23 = t[4 * i + 3];
                        GradientRow(Avx512F.PermuteVar16x32x2(f01, k0, h01), Avx512F.PermuteVar16x32x2(f01, k1, h01), Avx512F.PermuteVar16x32x2(f23, k2, h23),
                            Avx512F.PermuteVar16x32x2(f23, k3, h23), out var o0, out var o1, out var o2, out var o3, out var o4, out var o5);
                        float* p = d + 6 * i * step;
                        Avx512F.MaskStore(p, live, o0); Avx512F.MaskStore(p + step, live, o1); Avx512F.MaskStore(p + 2 * step, live, o2);
                        Avx512F.MaskStore(p + 3 * step, live, o3); Avx512F.MaskStore(p + 4 * step, live, o4); Avx512F.MaskStore(p + 5 * step, live, o5);
                    }
                }
            }
        }

        /// <summary>A·(e0 … e3), A = [1 0 0 0; 1 1 1 1; 1 −1 1 −1; 1 2 4 8; 1 −2 4 −8; 0 0 0 1].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void GradientRow(Vector512<float> e0, Vector512<float> e1, Vector512<float> e2, Vector512<float> e3,
            out Vector512<float> o0, out Vector512<float> o1, out Vector512<float> o2, out Vector512<float> o3, out Vector512<float> o4, out Vector512<float> o5)
        {
            Vector512<float> p = e0 + e2, q = e1 + e3;
            var p4 = Avx512F.FusedMultiplyAdd(Vector512.Create(4f), e2, e0);
            var q4 = Avx512F.FusedMultiplyAdd(Vector512.Create(8f), e3, e1 + e1);
            o0 = e0; o1 = p + q; o2 = p - q; o3 = p4 + q4; o4 = p4 - q4; o5 = e3;
        }
    }
}
