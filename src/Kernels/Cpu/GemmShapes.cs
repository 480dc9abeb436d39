using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Cpu;

/// <summary>
/// The register tile of one vector width and how blocks are packed for it: what <see cref="GemmBlocked"/>'s
/// cache-blocking driver needs to know about an instruction set. A full tile is Mr×Nr (Nr = two vectors); an edge
/// panel of fewer rows runs a shorter tile of <see cref="PanelRows"/> rows.
/// </summary>
internal unsafe interface IGemmShape
{
    static abstract int Mr { get; }
    static abstract int Nr { get; }
    /// <summary>The tile height used for an A panel holding <paramref name="rows"/> (≤ Mr) live rows.</summary>
    static abstract int PanelRows(int rows);
    /// <summary>C = α·Ap·Bp + β·C for one tile of <paramref name="rows"/> (a <see cref="PanelRows"/> value) × Nr.</summary>
    static abstract void Tile(int rows, int kc, float* a, float* b, nint bStep, float* c, nint ldc, float alpha, float beta);
    static abstract void PackA(bool transA, float* a, nint lda, int i0, int rows, int p0, int kc, float* dst);
    static abstract void PackB(bool transB, float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst);
}

/// <summary>AVX-512: a 14×32 tile in 28 of the 32 zmm registers, with its masked, register-transposing packing.</summary>
internal readonly unsafe struct Avx512Shape : IGemmShape
{
    public static int Mr => GemmMicroKernel.Mr;
    public static int Nr => GemmMicroKernel.Nr;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PanelRows(int rows) => GemmPacking.PanelRows(rows);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile(int rows, int kc, float* a, float* b, nint bStep, float* c, nint ldc, float alpha, float beta)
    {
        if (rows == GemmMicroKernel.Mr) GemmMicroKernel.Tile<Rows14>(kc, a, b, bStep, c, ldc, alpha, beta);
        else if (rows == 8) GemmMicroKernel.Tile<Rows8>(kc, a, b, bStep, c, ldc, alpha, beta);
        else GemmMicroKernel.Tile<Rows4>(kc, a, b, bStep, c, ldc, alpha, beta);
    }

    // The masked packing needs AVX-512F itself; where it is missing (the variant called directly on another CPU),
    // the plain loops pack the same layout.
    public static void PackA(bool transA, float* a, nint lda, int i0, int rows, int p0, int kc, float* dst)
    {
        if (Avx512F.IsSupported) GemmPacking.PackA(transA, a, lda, i0, rows, p0, kc, dst);
        else GemmPackingPortable<Avx512Shape>.PackA(transA, a, lda, i0, rows, p0, kc, dst);
    }

    public static void PackB(bool transB, float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst)
    {
        if (Avx512F.IsSupported) GemmPacking.PackB(transB, b, ldb, p0, kc, j0, cols, dst);
        else GemmPackingPortable<Avx512Shape>.PackB(transB, b, ldb, p0, kc, j0, cols, dst);
    }
}

/// <summary>
/// A 6×(2 registers) tile for instruction sets with 16 vector registers (AVX2: 6×16 in 12 ymm accumulators, 2 for B,
/// 1 broadcast), also used for the portable <see cref="VectorRegister"/> width; packed with plain loops.
/// </summary>
internal readonly unsafe struct NarrowShape<TReg, R> : IGemmShape where TReg : struct, IRegister<R> where R : unmanaged
{
    public static int Mr => 6;
    public static int Nr => 2 * TReg.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PanelRows(int rows) => rows <= 4 ? 4 : 6;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile(int rows, int kc, float* a, float* b, nint bStep, float* c, nint ldc, float alpha, float beta)
    {
        if (rows == 6) GemmMicroKernel<TReg, R>.Tile<Rows6>(kc, a, b, bStep, c, ldc, alpha, beta);
        else GemmMicroKernel<TReg, R>.Tile<Rows4>(kc, a, b, bStep, c, ldc, alpha, beta);
    }

    public static void PackA(bool transA, float* a, nint lda, int i0, int rows, int p0, int kc, float* dst) =>
        GemmPackingPortable<NarrowShape<TReg, R>>.PackA(transA, a, lda, i0, rows, p0, kc, dst);

    public static void PackB(bool transB, float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst) =>
        GemmPackingPortable<NarrowShape<TReg, R>>.PackB(transB, b, ldb, p0, kc, j0, cols, dst);
}
