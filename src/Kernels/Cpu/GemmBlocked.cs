using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.InteropServices;

namespace Kernels.Cpu;

/// <summary>
/// Cache block sizes of <see cref="GemmBlocked"/>: an Mc×Kc block of A stays in L2 while Kc×32 micro-panels of
/// B stream past it; a Kc×Nc panel of B is packed once per (column block, depth block).
/// </summary>
/// <param name="Mc">Rows of A per packed block (rounded down to a multiple of the tile height).</param>
/// <param name="Kc">Depth per packed block.</param>
/// <param name="Nc">Columns of B per packed panel (rounded down to a multiple of the tile width).</param>
/// <param name="InPlaceBRows">
/// Up to this many rows of C (per thread), a B that is not transposed is read in place instead of packed. Off (0) by
/// default: each depth step of an in-place micro-panel reads a different row of B, ldb floats on, so a 512-deep
/// panel of a 1024-wide B walks 512 pages. Measured on Zen 5, in place won a few percent up to ~512 rows (the packing
/// copy not repaid); on an Intel Xeon (4 KB pages, `engine bench W5`, two threads) it lost everywhere: n = 256 188 vs
/// 203 GFLOP/s, n = 512 148 vs 196, n = 1000 159 vs 203, n = 1024 120 vs 270. Packing is the choice that holds on both.
/// </param>
public readonly record struct GemmBlocking(int Mc, int Kc, int Nc, int InPlaceBRows = 0);

/// <summary>
/// GotoBLAS/BLIS-style SGEMM: loops over column blocks (Nc), depth blocks (Kc) and row blocks (Mc) pack
/// op(B) and op(A) into per-thread aligned buffers (transposition and α-free copies happen there), and a
/// register tile (<see cref="GemmMicroKernel{TReg, R}"/>) sweeps each packed block. Large products split C into one
/// rectangle per core. One driver for every instruction set: <see cref="Run"/> uses the 14×32 AVX-512 tile,
/// <see cref="RunAvx2"/> a 6×16 AVX2 tile, <see cref="RunVector"/> a 6×(2·<see cref="System.Numerics.Vector{T}"/>)
/// tile that runs anywhere. Same contract as <see cref="GemmKernel"/>.
/// </summary>
public static unsafe class GemmBlocked
{
    const int MaxMr = GemmMicroKernel.Mr, MaxNr = GemmMicroKernel.Nr;

    static GemmBlocking blocking = new(Mc: 168, Kc: 512, Nc: 3072);

    /// <summary>Below this many multiply-adds (m·n·k) a call stays on the calling thread.</summary>
    public static long ParallelThreshold { get; set; } = 1L << 20;

    /// <summary>Cache block sizes, shared by every width; exposed so the benchmark can sweep them.</summary>
    public static GemmBlocking Blocking
    {
        get => blocking;
        set
        {
            if (value.Mc < MaxMr || value.Kc < 1 || value.Nc < MaxNr)
                throw new ArgumentOutOfRangeException(nameof(value), value, $"GemmBlocked.Blocking: expected Mc ≥ {MaxMr}, Kc ≥ 1, Nc ≥ {MaxNr}");
            blocking = value;
        }
    }

    /// <summary>C = α·op(A)·op(B) + β·C with the AVX-512 tile; see <see cref="GemmKernel"/>. With β = 0, C is never read.</summary>
    /// <example><c>GemmBlocked.Run(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);</c></example>
    public static void Run(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        Driver<Avx512Shape>.Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>The same with the AVX2 (6×16) tile.</summary>
    public static void RunAvx2(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        Driver<NarrowShape<Ymm, Vector256<float>>>.Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>The same with the portable <see cref="System.Numerics.Vector{T}"/> tile.</summary>
    public static void RunVector(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        Driver<NarrowShape<VectorRegister, Vector<float>>>.Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>The blocking driver for the tile and packing of <typeparamref name="TShape"/>.</summary>
    static class Driver<TShape> where TShape : struct, IGemmShape
    {
        public static void Run(bool transA, bool transB, int m, int n, int k, float alpha,
            ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            Gemm.CheckSizes(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
            if (m == 0 || n == 0) return;
            fixed (float* ap = a, bp = b, cp = c)
            {
                if (k == 0 || alpha == 0) { ScaleC(cp, ldc, m, n, beta); return; }
                var job = new Job(transA, transB, alpha, beta, ap, lda, bp, ldb, cp, ldc, blocking);
                int threads = (long)m * n * k < ParallelThreshold ? 1 : Parallelism.MaxThreads;
                int tilesM = (m + Mr - 1) / Mr, tilesN = (n + Nr - 1) / Nr;
                bool splitRows = tilesM > tilesN;
                threads = Math.Min(threads, splitRows ? tilesM : tilesN);
                if (threads <= 1) { job.Rectangle(0, m, 0, n, k); return; }
                // One rectangle of C per thread, cut along the longer side on tile boundaries.
                int tiles = splitRows ? tilesM : tilesN, unit = splitRows ? Mr : Nr, size = splitRows ? m : n;
                Parallelism.Run(threads, t =>
                {
                    int lo = Math.Min(size, tiles * t / threads * unit), hi = Math.Min(size, tiles * (t + 1) / threads * unit);
                    if (hi <= lo) return;
                    if (splitRows) job.Rectangle(lo, hi, 0, n, k); else job.Rectangle(0, m, lo, hi, k);
                });
            }
        }

        static int Mr
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => TShape.Mr;
        }

        static int Nr
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => TShape.Nr;
        }

        /// <summary>One GEMM call's operands as raw pointers (the spans stay pinned for the call).</summary>
        readonly struct Job(bool transA, bool transB, float alpha, float beta, float* a, nint lda,
            float* b, nint ldb, float* c, nint ldc, GemmBlocking blk)
        {
            /// <summary>C[m0..m1, n0..n1] on the calling thread, with that thread's packing buffers.</summary>
            [MethodImpl(MethodImplOptions.AggressiveOptimization)]
            public void Rectangle(int m0, int m1, int n0, int n1, int k)
            {
                int m = m1 - m0, n = n1 - n0;
                // Even blocks: 576 deep with Kc = 512 is two blocks of 288, not 512 + 64.
                int nc = Balanced(n, blk.Nc / Nr * Nr, Nr), kc = Balanced(k, blk.Kc, 1), mc = Balanced(m, blk.Mc / Mr * Mr, Mr);
                var buffers = PackBuffers.ForThisThread(mc * kc, kc * nc);
                float* aPack = buffers.A, bPack = buffers.B;
                // With few rows, each packed B float would be used by only m/Mr tiles: read B in place instead
                // (only a ragged last panel is packed, zero-padded to Nr columns).
                bool inPlace = !transB && m <= blk.InPlaceBRows;
                for (int jc = 0; jc < n; jc += nc)
                {
                    int nb = Math.Min(nc, n - jc);
                    for (int pc = 0; pc < k; pc += kc)
                    {
                        int kb = Math.Min(kc, k - pc);
                        var panels = new BPanels(bPack, Nr, null, 0);
                        if (!inPlace) TShape.PackB(transB, b, ldb, pc, kb, n0 + jc, nb, bPack);
                        else
                        {
                            int full = nb / Nr * Nr;
                            if (full < nb) TShape.PackB(false, b, ldb, pc, kb, n0 + jc + full, nb - full, bPack);
                            panels = new BPanels(bPack - (nint)full * kb, Nr, b + (nint)pc * ldb + n0 + jc, ldb) { InPlaceColumns = full };
                        }
                        float betaNow = pc == 0 ? beta : 1f;
                        for (int ic = 0; ic < m; ic += mc)
                        {
                            int mb = Math.Min(mc, m - ic);
                            TShape.PackA(transA, a, lda, m0 + ic, mb, pc, kb, aPack);
                            Block(mb, nb, kb, aPack, panels, c + (m0 + ic) * ldc + n0 + jc, ldc, alpha, betaNow);
                        }
                    }
                }
            }
        }

        /// <summary>
        /// Where the micro-panel of columns jr.. of the current B block lies: in place in B (stride ldb) for
        /// jr &lt; InPlaceColumns, else packed (panel jr at Packed + jr·kb, stride Nr).
        /// </summary>
        readonly struct BPanels(float* packed, nint packedStep, float* inPlace, nint inPlaceStep)
        {
            public int InPlaceColumns { get; init; }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public float* Panel(int jr, int kb, out nint step)
            {
                if (jr < InPlaceColumns) { step = inPlaceStep; return inPlace + jr; }
                step = packedStep;
                return packed + (nint)jr * kb;
            }
        }

        /// <summary>The block size, a multiple of <paramref name="unit"/>, that covers <paramref name="size"/> in as few, as even blocks as <paramref name="limit"/> allows.</summary>
        static int Balanced(int size, int limit, int unit)
        {
            int blocks = (size + limit - 1) / limit;
            int per = (size + blocks - 1) / blocks;
            return Math.Min(limit, (per + unit - 1) / unit * unit);
        }

        /// <summary>
        /// The macro-kernel: every Mr×Nr tile of one packed A block times one B block. A deep block keeps each
        /// B micro-panel in L1 while the A panels pass (column-panel order); a shallow one is bound by writing C,
        /// so it walks C row-panel by row-panel, each a contiguous strip, with the small B block held in L2.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Block(int mb, int nb, int kb, float* aPack, BPanels bPanels, float* c, nint ldc, float alpha, float beta)
        {
            float* edge = stackalloc float[MaxMr * MaxNr + 16];
            edge = (float*)(((nint)edge + 63) & ~(nint)63);
            if (kb < ShallowK)
                for (int ir = 0; ir < mb; ir += Mr)
                    for (int jr = 0; jr < nb; jr += Nr)
                        TileAt(ir, jr, mb, nb, kb, aPack, bPanels, c, ldc, alpha, beta, edge);
            else
                for (int jr = 0; jr < nb; jr += Nr)
                    for (int ir = 0; ir < mb; ir += Mr)
                        TileAt(ir, jr, mb, nb, kb, aPack, bPanels, c, ldc, alpha, beta, edge);
        }

        /// <summary>Depth below which a block is walked row-panel by row-panel (measured: k = 16 gains 1.7×, k ≥ 256 loses ~5%).</summary>
        const int ShallowK = 64;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void TileAt(int ir, int jr, int mb, int nb, int kb, float* aPack, BPanels bPanels, float* c, nint ldc, float alpha, float beta, float* edge)
        {
            int w = Math.Min(Nr, nb - jr), h = Math.Min(Mr, mb - ir), rows = TShape.PanelRows(h);
            float* bp = bPanels.Panel(jr, kb, out nint bStep);
            float* ap = aPack + (nint)ir * kb;
            float* cp = c + ir * ldc + jr;
            if (h == rows && w == Nr) { TShape.Tile(rows, kb, ap, bp, bStep, cp, ldc, alpha, beta); return; }
            // Edge tile: compute the whole tile into a scratch tile, then copy out the live h×w part.
            if (beta != 0)
                for (int i = 0; i < h; i++) new ReadOnlySpan<float>(cp + i * ldc, w).CopyTo(new Span<float>(edge + i * Nr, w));
            TShape.Tile(rows, kb, ap, bp, bStep, edge, Nr, alpha, beta);
            for (int i = 0; i < h; i++) new ReadOnlySpan<float>(edge + i * Nr, w).CopyTo(new Span<float>(cp + i * ldc, w));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void ScaleC(float* c, nint ldc, int m, int n, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + i * ldc, n);
            if (beta == 0) row.Clear();
            else if (beta != 1) for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    /// <summary>
    /// A thread's packing buffers, 64-byte aligned native memory that grows on demand and is reused by every
    /// later call on the same thread; freed when the thread (and so this object) goes away.
    /// </summary>
    internal sealed class PackBuffers
    {
        [ThreadStatic] static PackBuffers? current;
        public float* A, B;
        nint aFloats, bFloats;

        public static PackBuffers ForThisThread(nint aNeed, nint bNeed)
        {
            var p = current ??= new PackBuffers();
            if (p.aFloats < aNeed) p.A = Grow(p.A, ref p.aFloats, aNeed);
            if (p.bFloats < bNeed) p.B = Grow(p.B, ref p.bFloats, bNeed);
            return p;
        }

        /// <summary>Frees <paramref name="old"/> and returns a 64-byte-aligned buffer of <paramref name="need"/> floats plus the packing slack.</summary>
        internal static float* Grow(float* old, ref nint have, nint need)
        {
            NativeMemory.AlignedFree(old);
            have = need;
            return (float*)NativeMemory.AlignedAlloc((nuint)(need + GemmPacking.Slack) * sizeof(float), 64);
        }

        ~PackBuffers()
        {
            NativeMemory.AlignedFree(A);
            NativeMemory.AlignedFree(B);
        }
    }
}
