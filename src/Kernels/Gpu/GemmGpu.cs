using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Sizes, transposes, scalars and batch strides of one (batched) GEMM launch:
/// C[b] = α·op(A[b])·op(B[b]) + β·C[b], with X[b] starting at X's offset + b·BatchStrideX (0 broadcasts one matrix).
/// Split-K: grid z runs batch·Slices groups; slice s of a batch entry sums k ∈ [s·SliceK, min(K, (s+1)·SliceK)) and
/// writes at C's offset + s·SliceStrideC (the launcher points C at a scratch buffer of partial tiles, α = 1, β = 0).
/// </summary>
public struct GemmArgs
{
    public int M, N, K, Lda, Ldb, Ldc, TransA, TransB;
    public int OffsetA, OffsetB, OffsetC, BatchStrideA, BatchStrideB, BatchStrideC;
    public float Alpha, Beta;
    public int Slices, SliceK, SliceStrideC;
}

/// <summary>The register tile of a GEMM launch: 64×64 C per group (4×4 per thread) or 128×128 (8×8 per thread).</summary>
public enum GemmTile { Small, Large }

/// <summary>
/// How a GEMM is launched: the tile kernel, and the number of K slices (1: no split) of <paramref name="SliceK"/>
/// elements each. With Slices &gt; 1, each slice writes a partial tile to scratch and a second kernel sums the
/// slices in order (deterministic) and applies α and β.
/// </summary>
public readonly record struct GemmPlan(GemmTile Tile, int Slices, int SliceK)
{
    public int TileSize => Tile == GemmTile.Large ? GemmGpu.LargeTile : GemmGpu.Tile;

    public override string ToString() => Slices == 1 ? $"{TileSize}×{TileSize}" : $"{TileSize}×{TileSize}, {Slices} K slices of {SliceK}";
}

/// <summary>
/// Tiled SGEMM, two register tiles on the same scheme. Small: each group of 16×16 threads computes a 64×64 tile of
/// C, walking K in steps of 16, each thread keeping a 4×4 block of accumulators. Large: the same group computes a
/// 128×128 tile, K in steps of 8, 8×8 accumulators a thread (four times the multiply-adds per shared-memory read).
/// A thread owns rows ty + 16i and columns tx + 16j, so neighbouring threads touch neighbouring columns of C
/// (coalesced stores) and read distinct shared-memory banks (or broadcast one).
/// Both operand tiles (1024 values each in either kernel, 4 a thread) are staged in shared memory k-major
/// (tile[k·Pitch + row]). The global loads follow the operand's contiguous direction (k for A and for a transposed
/// B, the row or column otherwise) so a warp reads consecutive addresses, and the pitch is padded so the k-major
/// stores of a k-contiguous load hit distinct banks. The next step's values are loaded into registers before the
/// current step's multiply-adds, so their latency overlaps the arithmetic.
/// Grid: (⌈N/tile⌉, ⌈M/tile⌉, batch·slices).
/// </summary>
static class GemmGpu
{
    public const int Tile = 64, Depth = 16, Pitch = Tile + 2, Threads = 16;
    public const int LargeTile = 128, LargeDepth = 8, LargePitch = LargeTile + 4;
    const int GroupThreads = Threads * Threads;

    /// <summary>Four floats in registers: a thread's share of an operand tile on its way to shared memory.</summary>
    struct Vec4
    {
        public float V0, V1, V2, V3;
    }

    /// <summary>
    /// Where a thread's four values of an operand tile lie: the first at (k, row) = (Kk, Rr) of the tile, each
    /// next one (Dk, Dr) further. Consecutive threads take consecutive k when the operand is k-contiguous
    /// (element (r, k) at r·ld + k), else consecutive rows (element at k·ld + r).
    /// </summary>
    struct Share
    {
        public int Kk, Rr, Dk, Dr;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Share Of(bool kContiguous, int tid, int tile, int depth) => kContiguous
            ? new() { Rr = tid / depth, Kk = tid - tid / depth * depth, Dk = 0, Dr = GroupThreads / depth }
            : new() { Kk = tid / tile, Rr = tid - tid / tile * tile, Dk = GroupThreads / tile, Dr = 0 };
    }

    /// <summary>Element (gr, gk) of an operand, or 0 outside the matrix or the slice.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Fetch(ArrayView<float> src, int off, int ld, bool kContiguous, int rows, int kEnd, int gr, int gk) =>
        gk < kEnd && gr < rows ? src[off + (kContiguous ? gr * ld + gk : gk * ld + gr)] : 0f;

    /// <summary>The thread's four values of the operand tile at rows r0… and k0….</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vec4 Fetch4(ArrayView<float> src, int off, int ld, bool kContiguous, Share s, int r0, int rows, int k0, int kEnd)
    {
        int gr = r0 + s.Rr, gk = k0 + s.Kk;
        return new()
        {
            V0 = Fetch(src, off, ld, kContiguous, rows, kEnd, gr, gk),
            V1 = Fetch(src, off, ld, kContiguous, rows, kEnd, gr + s.Dr, gk + s.Dk),
            V2 = Fetch(src, off, ld, kContiguous, rows, kEnd, gr + 2 * s.Dr, gk + 2 * s.Dk),
            V3 = Fetch(src, off, ld, kContiguous, rows, kEnd, gr + 3 * s.Dr, gk + 3 * s.Dk),
        };
    }

    /// <summary>Writes the thread's four values into the k-major shared tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put4(ArrayView<float> tile, Share s, int pitch, Vec4 v)
    {
        int d = s.Dk * pitch + s.Dr;
        var t = tile.SubView(s.Kk * pitch + s.Rr);
        t[0] = v.V0; t[d] = v.V1; t[2 * d] = v.V2; t[3 * d] = v.V3;
    }

    /// <summary>The slice's k range and the offsets of A, B and C of the group's batch entry and slice.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Locate(GemmArgs p, out int kBegin, out int kEnd, out int offA, out int offB, out int offC)
    {
        int z = Grid.IdxZ, batch = z / p.Slices, slice = z - batch * p.Slices;
        kBegin = slice * p.SliceK;
        kEnd = p.K - kBegin < p.SliceK ? p.K : kBegin + p.SliceK;
        offA = p.OffsetA + batch * p.BatchStrideA;
        offB = p.OffsetB + batch * p.BatchStrideB;
        offC = p.OffsetC + batch * p.BatchStrideC + slice * p.SliceStrideC;
    }

    public static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs p)
    {
        var As = SharedMemory.Allocate<float>(Depth * Pitch);   // As[k·Pitch + row]
        var Bs = SharedMemory.Allocate<float>(Depth * Pitch);   // Bs[k·Pitch + col]
        int tx = Group.IdxX, ty = Group.IdxY, tid = ty * Threads + tx;
        int row0 = Grid.IdxY * Tile, col0 = Grid.IdxX * Tile;
        Locate(p, out int kBegin, out int kEnd, out int offA, out int offB, out int offC);
        bool kcA = p.TransA == 0, kcB = p.TransB != 0;
        var sa = Share.Of(kcA, tid, Tile, Depth);
        var sb = Share.Of(kcB, tid, Tile, Depth);

        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;

        var fa = Fetch4(a, offA, p.Lda, kcA, sa, row0, p.M, kBegin, kEnd);
        var fb = Fetch4(b, offB, p.Ldb, kcB, sb, col0, p.N, kBegin, kEnd);
        for (int k0 = kBegin; k0 < kEnd; k0 += Depth)
        {
            Put4(As, sa, Pitch, fa);
            Put4(Bs, sb, Pitch, fb);
            Group.Barrier();
            if (k0 + Depth < kEnd)
            {
                fa = Fetch4(a, offA, p.Lda, kcA, sa, row0, p.M, k0 + Depth, kEnd);
                fb = Fetch4(b, offB, p.Ldb, kcB, sb, col0, p.N, k0 + Depth, kEnd);
            }
            for (int kk = 0; kk < Depth; kk++)
            {
                var ar = As.SubView(kk * Pitch + ty);
                var br = Bs.SubView(kk * Pitch + tx);
                float a0 = ar[0], a1 = ar[16], a2 = ar[32], a3 = ar[48];
                float b0 = br[0], b1 = br[16], b2 = br[32], b3 = br[48];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }

        Store(c, p, offC, row0 + ty, col0 + tx, c00, c01, c02, c03);
        Store(c, p, offC, row0 + ty + 16, col0 + tx, c10, c11, c12, c13);
        Store(c, p, offC, row0 + ty + 32, col0 + tx, c20, c21, c22, c23);
        Store(c, p, offC, row0 + ty + 48, col0 + tx, c30, c31, c32, c33);
    }

    /// <summary>Eight floats held in registers: a row of a thread's 8×8 accumulator block, or an operand fragment.</summary>
    struct Vec8
    {
        public float V0, V1, V2, V3, V4, V5, V6, V7;

        /// <summary>The values s[i + 16j], j = 0..7.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vec8 Load(ArrayView<float> s, int i)
        {
            var v = s.SubView(i);
            return new() { V0 = v[0], V1 = v[16], V2 = v[32], V3 = v[48], V4 = v[64], V5 = v[80], V6 = v[96], V7 = v[112] };
        }

        /// <summary>acc + a·b, elementwise.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vec8 Fma(Vec8 acc, float a, Vec8 b) => new()
        {
            V0 = acc.V0 + a * b.V0, V1 = acc.V1 + a * b.V1, V2 = acc.V2 + a * b.V2, V3 = acc.V3 + a * b.V3,
            V4 = acc.V4 + a * b.V4, V5 = acc.V5 + a * b.V5, V6 = acc.V6 + a * b.V6, V7 = acc.V7 + a * b.V7,
        };
    }

    public static void LargeKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs p)
    {
        var As = SharedMemory.Allocate<float>(LargeDepth * LargePitch);   // As[k·LargePitch + row]
        var Bs = SharedMemory.Allocate<float>(LargeDepth * LargePitch);   // Bs[k·LargePitch + col]
        int tx = Group.IdxX, ty = Group.IdxY, tid = ty * Threads + tx;
        int row0 = Grid.IdxY * LargeTile, col0 = Grid.IdxX * LargeTile;
        Locate(p, out int kBegin, out int kEnd, out int offA, out int offB, out int offC);
        bool kcA = p.TransA == 0, kcB = p.TransB != 0;
        var sa = Share.Of(kcA, tid, LargeTile, LargeDepth);
        var sb = Share.Of(kcB, tid, LargeTile, LargeDepth);

        Vec8 c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;

        var fa = Fetch4(a, offA, p.Lda, kcA, sa, row0, p.M, kBegin, kEnd);
        var fb = Fetch4(b, offB, p.Ldb, kcB, sb, col0, p.N, kBegin, kEnd);
        for (int k0 = kBegin; k0 < kEnd; k0 += LargeDepth)
        {
            Put4(As, sa, LargePitch, fa);
            Put4(Bs, sb, LargePitch, fb);
            Group.Barrier();
            if (k0 + LargeDepth < kEnd)
            {
                fa = Fetch4(a, offA, p.Lda, kcA, sa, row0, p.M, k0 + LargeDepth, kEnd);
                fb = Fetch4(b, offB, p.Ldb, kcB, sb, col0, p.N, k0 + LargeDepth, kEnd);
            }
            for (int kk = 0; kk < LargeDepth; kk++)
            {
                int ka = kk * LargePitch;
                var av = Vec8.Load(As, ka + ty);
                var bv = Vec8.Load(Bs, ka + tx);
                c0 = Vec8.Fma(c0, av.V0, bv); c1 = Vec8.Fma(c1, av.V1, bv);
                c2 = Vec8.Fma(c2, av.V2, bv); c3 = Vec8.Fma(c3, av.V3, bv);
                c4 = Vec8.Fma(c4, av.V4, bv); c5 = Vec8.Fma(c5, av.V5, bv);
                c6 = Vec8.Fma(c6, av.V6, bv); c7 = Vec8.Fma(c7, av.V7, bv);
            }
            Group.Barrier();
        }

        int col = col0 + tx;
        Store8(c, p, offC, row0 + ty, col, c0);
        Store8(c, p, offC, row0 + ty + 16, col, c1);
        Store8(c, p, offC, row0 + ty + 32, col, c2);
        Store8(c, p, offC, row0 + ty + 48, col, c3);
        Store8(c, p, offC, row0 + ty + 64, col, c4);
        Store8(c, p, offC, row0 + ty + 80, col, c5);
        Store8(c, p, offC, row0 + ty + 96, col, c6);
        Store8(c, p, offC, row0 + ty + 112, col, c7);
    }

    static void Store8(ArrayView<float> c, GemmArgs p, int offC, int r, int col, Vec8 v)
    {
        if (r >= p.M) return;
        int o = offC + r * p.Ldc;
        Store1(c, p, o, col, v.V0);
        Store1(c, p, o, col + 16, v.V1);
        Store1(c, p, o, col + 32, v.V2);
        Store1(c, p, o, col + 48, v.V3);
        Store1(c, p, o, col + 64, v.V4);
        Store1(c, p, o, col + 80, v.V5);
        Store1(c, p, o, col + 96, v.V6);
        Store1(c, p, o, col + 112, v.V7);
    }

    static void Store(ArrayView<float> c, GemmArgs p, int offC, int r, int col, float v0, float v1, float v2, float v3)
    {
        if (r >= p.M) return;
        int o = offC + r * p.Ldc;
        Store1(c, p, o, col, v0);
        Store1(c, p, o, col + 16, v1);
        Store1(c, p, o, col + 32, v2);
        Store1(c, p, o, col + 48, v3);
    }

    static void Store1(ArrayView<float> c, GemmArgs p, int rowOffset, int col, float v)
    {
        if (col >= p.N) return;
        int i = rowOffset + col;
        c[i] = p.Beta == 0f ? p.Alpha * v : p.Alpha * v + p.Beta * c[i];
    }

    /// <summary>
    /// C = α·Σ_s partial[s] + β·C, one thread per element of the batch's M×N outputs; the partials of batch entry b
    /// are the dense M×N blocks (b·Slices + s)·M·N, summed in slice order so the result does not depend on timing.
    /// </summary>
    public static void ReduceSlicesKernel(Index1D e, ArrayView<float> partials, ArrayView<float> c, GemmArgs p)
    {
        int mn = p.M * p.N, batch = e / mn, rc = e - batch * mn, r = rc / p.N, col = rc - r * p.N;
        int src = batch * p.Slices * mn + rc;
        float s = 0;
        for (int i = 0; i < p.Slices; i++) s += partials[src + i * mn];
        int o = p.OffsetC + batch * p.BatchStrideC + r * p.Ldc + col;
        c[o] = p.Beta == 0f ? p.Alpha * s : p.Alpha * s + p.Beta * c[o];
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>? gemm, gemmLarge;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, GemmArgs>? gemmReduce;
    MemoryBuffer1D<float, Stride1D.Dense>? gemmPartials;

    /// <summary>K elements a slice keeps at least (so each slice's loop still amortises its tile loads and stores).</summary>
    public const int MinSliceK = 256;

    /// <summary>Largest grid z (CUDA's limit), which batch·slices must not pass.</summary>
    const int MaxGridZ = 65535;

    /// <summary>
    /// The launch of a GEMM of <paramref name="m"/>×<paramref name="n"/>×<paramref name="k"/> over
    /// <paramref name="batch"/> matrices on a device of <paramref name="multiprocessors"/> multiprocessors; a pure
    /// function of its arguments. Groups resident per multiprocessor are taken as 4 for the 64×64 tile and 2 for
    /// the 128×128 one (registers and shared memory). The large tile is used when M and N are at least 128, its
    /// padding wastes little more than the small tile's, and its groups (after any split) still cover every
    /// multiprocessor. K is split when the tiles alone fill less than half of those resident places and K holds at
    /// least two slices of <see cref="MinSliceK"/>: into about (resident places)/tiles slices, each a multiple of 16.
    /// </summary>
    public static GemmPlan PlanGemm(int m, int n, int k, int batch, int multiprocessors)
    {
        int sms = Math.Max(1, multiprocessors);
        batch = Math.Max(1, batch);
        if (m >= GemmGpu.LargeTile && n >= GemmGpu.LargeTile)
        {
            long tiles = (long)Groups(m, GemmGpu.LargeTile) * Groups(n, GemmGpu.LargeTile) * batch;
            long padLarge = (long)Groups(m, GemmGpu.LargeTile) * Groups(n, GemmGpu.LargeTile) * GemmGpu.LargeTile * GemmGpu.LargeTile;
            long padSmall = (long)Groups(m, GemmGpu.Tile) * Groups(n, GemmGpu.Tile) * GemmGpu.Tile * GemmGpu.Tile;
            var large = Split(GemmTile.Large, tiles, k, batch, 2L * sms);
            if (padLarge * 4 <= padSmall * 5 && tiles * large.Slices >= sms) return large;
        }
        long small = (long)Groups(m, GemmGpu.Tile) * Groups(n, GemmGpu.Tile) * batch;
        return Split(GemmTile.Small, small, k, batch, 4L * sms);
    }

    /// <summary>The plan <see cref="PlanGemm"/> gives on this accelerator.</summary>
    public GemmPlan GemmPlanFor(int m, int n, int k, int batch = 1) => PlanGemm(m, n, k, batch, Accelerator.NumMultiprocessors);

    static GemmPlan Split(GemmTile tile, long tiles, int k, int batch, long resident)
    {
        if (2 * tiles >= resident || k < 2 * MinSliceK) return new(tile, 1, k);
        long slices = Math.Min((resident + tiles / 2) / tiles, k / MinSliceK);
        slices = Math.Min(slices, MaxGridZ / batch);
        if (slices < 2) return new(tile, 1, k);
        int sliceK = (int)((k + slices - 1) / slices + 15) / 16 * 16;
        return new(tile, (k + sliceK - 1) / sliceK, sliceK);
    }

    /// <summary>
    /// C = α·op(A)·op(B) + β·C for row-major matrices with leading dimensions lda, ldb, ldc (the CPU GEMM's contract),
    /// repeated over <paramref name="batch"/> matrices spaced by the batch strides. β = 0 never reads C.
    /// The launch follows <see cref="GemmPlanFor"/> unless <paramref name="plan"/> is given.
    /// </summary>
    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ArrayView<float> a, int lda,
        ArrayView<float> b, int ldb, float beta, ArrayView<float> c, int ldc,
        int batch = 1, int batchStrideA = 0, int batchStrideB = 0, int batchStrideC = 0, GemmPlan? plan = null)
    {
        if (m == 0 || n == 0 || batch == 0) return;
        if (k == 0)
        {
            // No products: C = β·C.
            for (int i = 0; i < batch; i++)
                for (int r = 0; r < m; r++)
                {
                    var row = c.SubView((long)i * batchStrideC + (long)r * ldc, n);
                    if (beta == 0f) Fill(row, 0f); else Binary(BinaryCode.Mul, [n], row, StridedOperand.Of([1], 0), row, StridedOperand.Scalar(beta), row);
                }
            return;
        }
        var pl = plan ?? GemmPlanFor(m, n, k, batch);
        if (pl.Slices < 1 || pl.SliceK < 1 || (long)pl.Slices * pl.SliceK < k || (long)batch * pl.Slices > MaxGridZ)
            throw new ArgumentException($"Gemm: plan {pl} does not cover k={k} over batch {batch}");
        var args = new GemmArgs
        {
            M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc, TransA = transA ? 1 : 0, TransB = transB ? 1 : 0,
            BatchStrideA = batchStrideA, BatchStrideB = batchStrideB, BatchStrideC = batchStrideC, Alpha = alpha, Beta = beta,
            Slices = 1, SliceK = k,
        };
        if (pl.Slices == 1)
        {
            LaunchGemm(pl.Tile, batch, a, b, c, args);
            return;
        }
        long mn = (long)m * n, length = mn * pl.Slices * batch;
        if (length > int.MaxValue) throw new ArgumentException($"Gemm: {pl} over batch {batch} needs {length} partial values");
        var partials = GemmPartials(length);
        var sliced = args;
        sliced.Slices = pl.Slices; sliced.SliceK = pl.SliceK;
        sliced.OffsetC = 0; sliced.Ldc = n; sliced.SliceStrideC = (int)mn; sliced.BatchStrideC = (int)(mn * pl.Slices);
        sliced.Alpha = 1f; sliced.Beta = 0f;
        LaunchGemm(pl.Tile, batch * pl.Slices, a, b, partials, sliced);
        args.Slices = pl.Slices;
        gemmReduce ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmGpu.ReduceSlicesKernel);
        gemmReduce(Stream, (int)(mn * batch), partials, c, args);
    }

    void LaunchGemm(GemmTile tile, int groupsZ, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs args)
    {
        var threads = new Index3D(GemmGpu.Threads, GemmGpu.Threads, 1);
        if (tile == GemmTile.Large)
        {
            gemmLarge ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmGpu.LargeKernel);
            var grid = new Index3D(Groups(args.N, GemmGpu.LargeTile), Groups(args.M, GemmGpu.LargeTile), groupsZ);
            gemmLarge(Stream, new KernelConfig(grid, threads), a, b, c, args);
        }
        else
        {
            gemm ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmGpu.Kernel);
            var grid = new Index3D(Groups(args.N, GemmGpu.Tile), Groups(args.M, GemmGpu.Tile), groupsZ);
            gemm(Stream, new KernelConfig(grid, threads), a, b, c, args);
        }
    }

    /// <summary>
    /// The split-K partial tiles: at least <paramref name="length"/> floats, kept and grown between calls (apart from
    /// <see cref="Scratch"/>, which the convolutions hand to the GEMM as operands). Reuse is safe on the one in-order stream.
    /// </summary>
    ArrayView<float> GemmPartials(long length)
    {
        if (gemmPartials is null || gemmPartials.Length < length)
        {
            gemmPartials?.Dispose();
            gemmPartials = Accelerator.Allocate1D<float>(Math.Max(length, 1));
        }
        return gemmPartials.View.SubView(0, length);
    }
}
