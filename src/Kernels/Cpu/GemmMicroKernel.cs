using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>How many rows of C a micro-kernel instantiation computes; a constant the JIT folds away.</summary>
internal interface IMicroRows
{
    static abstract int Count { get; }
}

internal readonly struct Rows14 : IMicroRows { public static int Count => 14; }
internal readonly struct Rows8 : IMicroRows { public static int Count => 8; }
internal readonly struct Rows6 : IMicroRows { public static int Count => 6; }
internal readonly struct Rows4 : IMicroRows { public static int Count => 4; }

/// <summary>
/// The AVX-512 instantiation of <see cref="GemmMicroKernel{V}"/>: the 14×32 tile that the blocked GEMM
/// (<see cref="Avx512Shape"/>) and the blocked convolution sweep over blocks packed by <see cref="GemmPacking"/>.
/// </summary>
internal static unsafe class GemmMicroKernel
{
    /// <summary>Columns of C per tile: two 512-bit vectors.</summary>
    public const int Nr = 32;

    /// <summary>Rows of C per full tile.</summary>
    public const int Mr = 14;

    /// <inheritdoc cref="GemmMicroKernel{V}.Tile{TRows}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile<TRows>(int kc, float* a, float* b, nint bStep, float* c, nint ldc, float alpha, float beta)
        where TRows : struct, IMicroRows =>
        GemmMicroKernel<Vec512>.Tile<TRows>(kc, a, b, bStep, c, ldc, alpha, beta);
}

/// <summary>
/// The register tile of the blocked GEMM, written once for every vector width <typeparamref name="V"/>: up to
/// 14 rows × 2 vectors of C held in accumulators, fed per k-step by two vector loads of the packed B micro-panel and
/// one broadcast per row of the packed A micro-panel. With AVX-512 that is 14×32 in 28 zmm (2 more for B, 1 for the
/// broadcast: 31 of the 32 registers); with 16 registers (AVX2) the tile is 6×16 in 12 ymm. Rows beyond
/// <typeparamref name="TRows"/> are constants the JIT folds away, so each instantiation keeps only its own accumulators.
/// </summary>
internal static unsafe class GemmMicroKernel<V> where V : unmanaged, IVec<V>
{
    /// <summary>
    /// C[0..R, 0..2W] = alpha·(Ap·Bp) + beta·C for one tile, R = <typeparamref name="TRows"/>.Count, W = V.Count.
    /// <paramref name="a"/> is a packed A micro-panel (kc steps of R floats), <paramref name="b"/> a B micro-panel
    /// (kc steps of 2W floats, <paramref name="bStep"/> apart: 2W when packed, ldb when read in place).
    /// With <paramref name="beta"/> = 0, C is written without being read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TRows>(int kc, float* a, float* b, nint bStep, float* c, nint ldc, float alpha, float beta)
        where TRows : struct, IMicroRows
    {
        int w = V.Count;
        V c0a = default, c0b = default;
        V c1a = default, c1b = default;
        V c2a = default, c2b = default;
        V c3a = default, c3b = default;
        V c4a = default, c4b = default;
        V c5a = default, c5b = default;
        V c6a = default, c6b = default;
        V c7a = default, c7b = default;
        V c8a = default, c8b = default;
        V c9a = default, c9b = default;
        V c10a = default, c10b = default;
        V c11a = default, c11b = default;
        V c12a = default, c12b = default;
        V c13a = default, c13b = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = V.Load(b);
            var b1 = V.Load(b + w);
            { var x = V.Create(a[0]); c0a = V.Fma(x, b0, c0a); c0b = V.Fma(x, b1, c0b); }
            { var x = V.Create(a[1]); c1a = V.Fma(x, b0, c1a); c1b = V.Fma(x, b1, c1b); }
            { var x = V.Create(a[2]); c2a = V.Fma(x, b0, c2a); c2b = V.Fma(x, b1, c2b); }
            { var x = V.Create(a[3]); c3a = V.Fma(x, b0, c3a); c3b = V.Fma(x, b1, c3b); }
            if (TRows.Count > 4) { var x = V.Create(a[4]); c4a = V.Fma(x, b0, c4a); c4b = V.Fma(x, b1, c4b); }
            if (TRows.Count > 5) { var x = V.Create(a[5]); c5a = V.Fma(x, b0, c5a); c5b = V.Fma(x, b1, c5b); }
            if (TRows.Count > 6) { var x = V.Create(a[6]); c6a = V.Fma(x, b0, c6a); c6b = V.Fma(x, b1, c6b); }
            if (TRows.Count > 7) { var x = V.Create(a[7]); c7a = V.Fma(x, b0, c7a); c7b = V.Fma(x, b1, c7b); }
            if (TRows.Count > 8) { var x = V.Create(a[8]); c8a = V.Fma(x, b0, c8a); c8b = V.Fma(x, b1, c8b); }
            if (TRows.Count > 9) { var x = V.Create(a[9]); c9a = V.Fma(x, b0, c9a); c9b = V.Fma(x, b1, c9b); }
            if (TRows.Count > 10) { var x = V.Create(a[10]); c10a = V.Fma(x, b0, c10a); c10b = V.Fma(x, b1, c10b); }
            if (TRows.Count > 11) { var x = V.Create(a[11]); c11a = V.Fma(x, b0, c11a); c11b = V.Fma(x, b1, c11b); }
            if (TRows.Count > 12) { var x = V.Create(a[12]); c12a = V.Fma(x, b0, c12a); c12b = V.Fma(x, b1, c12b); }
            if (TRows.Count > 13) { var x = V.Create(a[13]); c13a = V.Fma(x, b0, c13a); c13b = V.Fma(x, b1, c13b); }
            a += TRows.Count;
            b += bStep;
        }
        var av = V.Create(alpha);
        var bv = V.Create(beta);
        bool readC = beta != 0;
        StoreRow(c + 0 * ldc, c0a, c0b, av, bv, readC);
        StoreRow(c + 1 * ldc, c1a, c1b, av, bv, readC);
        StoreRow(c + 2 * ldc, c2a, c2b, av, bv, readC);
        StoreRow(c + 3 * ldc, c3a, c3b, av, bv, readC);
        if (TRows.Count > 4) StoreRow(c + 4 * ldc, c4a, c4b, av, bv, readC);
        if (TRows.Count > 5) StoreRow(c + 5 * ldc, c5a, c5b, av, bv, readC);
        if (TRows.Count > 6) StoreRow(c + 6 * ldc, c6a, c6b, av, bv, readC);
        if (TRows.Count > 7) StoreRow(c + 7 * ldc, c7a, c7b, av, bv, readC);
        if (TRows.Count > 8) StoreRow(c + 8 * ldc, c8a, c8b, av, bv, readC);
        if (TRows.Count > 9) StoreRow(c + 9 * ldc, c9a, c9b, av, bv, readC);
        if (TRows.Count > 10) StoreRow(c + 10 * ldc, c10a, c10b, av, bv, readC);
        if (TRows.Count > 11) StoreRow(c + 11 * ldc, c11a, c11b, av, bv, readC);
        if (TRows.Count > 12) StoreRow(c + 12 * ldc, c12a, c12b, av, bv, readC);
        if (TRows.Count > 13) StoreRow(c + 13 * ldc, c13a, c13b, av, bv, readC);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRow(float* c, V x, V y, V alpha, V beta, bool readC)
    {
        x *= alpha;
        y *= alpha;
        if (readC)
        {
            x = V.Fma(V.Load(c), beta, x);
            y = V.Fma(V.Load(c + V.Count), beta, y);
        }
        V.Store(x, c);
        V.Store(y, c + V.Count);
    }
}
