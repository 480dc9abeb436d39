using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
/// The raw SIMD register of one width, as the runtime's own vector type. The register tiles keep their accumulators
/// in this type rather than in an <see cref="IVec{TSelf}"/> wrapper struct: with the wrapper the JIT forms the second
/// multiply-add of each broadcast into the broadcast's register and copies the result back into the accumulator
/// (one extra register move per row per depth step, which on cores without vector move elimination costs a vector
/// ALU slot beside the FMAs); with the raw type every multiply-add accumulates in place.
/// </summary>
internal unsafe interface IRegister<R> where R : unmanaged
{
    static abstract int Count { get; }
    static abstract R Load(float* p);
    static abstract R Broadcast(float x);
    static abstract R Fma(R a, R b, R c);
    static abstract R Multiply(R a, R b);
    static abstract void Store(R x, float* p);
}

/// <summary>A zmm register: 16 floats (AVX-512).</summary>
internal readonly unsafe struct Zmm : IRegister<Vector512<float>>
{
    public static int Count => 16;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> x, float* p) => x.Store(p);
}

/// <summary>A ymm register: 8 floats (AVX2 with FMA).</summary>
internal readonly unsafe struct Ymm : IRegister<Vector256<float>>
{
    public static int Count => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> x, float* p) => x.Store(p);
}

/// <summary>The portable <see cref="Vector{T}"/> register, whatever width the runtime gives it.</summary>
internal readonly unsafe struct VectorRegister : IRegister<Vector<float>>
{
    public static int Count => Vector<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector<float> Load(float* p) => Vector.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector<float> Broadcast(float x) => new(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector<float> Fma(Vector<float> a, Vector<float> b, Vector<float> c) => Vector.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector<float> Multiply(Vector<float> a, Vector<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector<float> x, float* p) => x.Store(p);
}

/// <summary>
/// The AVX-512 instantiation of <see cref="GemmMicroKernel{TReg, R}"/>: the 14×32 tile that the blocked GEMM
/// (<see cref="Avx512Shape"/>) and the blocked convolution sweep over blocks packed by <see cref="GemmPacking"/>.
/// </summary>
internal static unsafe class GemmMicroKernel
{
    /// <summary>Columns of C per tile: two 512-bit vectors.</summary>
    public const int Nr = 32;

    /// <summary>Rows of C per full tile.</summary>
    public const int Mr = 14;

    /// <inheritdoc cref="GemmMicroKernel{TReg, R}.Tile{TRows}"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile<TRows>(int kc, float* a, float* b, nint bStep, float* c, nint ldc, float alpha, float beta,
        int segments = 1, nint* offsets = null)
        where TRows : struct, IMicroRows =>
        GemmMicroKernel<Zmm, Vector512<float>>.Tile<TRows>(kc, a, b, bStep, c, ldc, alpha, beta, segments, offsets);
}

/// <summary>
/// The register tile of the blocked GEMM, written once for every register width <typeparamref name="R"/>: up to
/// 14 rows × 2 vectors of C held in accumulators, fed per k-step by two vector loads of the packed B micro-panel and
/// one broadcast per row of the packed A micro-panel. With AVX-512 that is 14×32 in 28 zmm (2 more for B, 1 for the
/// broadcast: 31 of the 32 registers); with 16 registers (AVX2) the tile is 6×16 in 12 ymm. Rows beyond
/// <typeparamref name="TRows"/> are constants the JIT folds away, so each instantiation keeps only its own accumulators.
/// </summary>
internal static unsafe class GemmMicroKernel<TReg, R> where TReg : struct, IRegister<R> where R : unmanaged
{
    /// <summary>
    /// C[0..R, 0..2W] = alpha·(Ap·Bp) + beta·C for one tile, R = <typeparamref name="TRows"/>.Count, W = the register width.
    /// <paramref name="a"/> is a packed A micro-panel (kc steps of R floats), <paramref name="b"/> a B micro-panel
    /// (kc steps of 2W floats, <paramref name="bStep"/> apart: 2W when packed, ldb when read in place).
    /// With <paramref name="beta"/> = 0, C is written without being read.
    /// With <paramref name="segments"/> &gt; 1 the depth is that many runs of kc steps, the A panel's steps consecutive
    /// across them and run s reading B from b + <paramref name="offsets"/>[s]: the taps of a convolution, summed in the
    /// accumulators instead of through C.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TRows>(int kc, float* a, float* b, nint bStep, float* c, nint ldc, float alpha, float beta,
        int segments = 1, nint* offsets = null)
        where TRows : struct, IMicroRows
    {
        int w = TReg.Count;
        R c0a = default, c0b = default;
        R c1a = default, c1b = default;
        R c2a = default, c2b = default;
        R c3a = default, c3b = default;
        R c4a = default, c4b = default;
        R c5a = default, c5b = default;
        R c6a = default, c6b = default;
        R c7a = default, c7b = default;
        R c8a = default, c8b = default;
        R c9a = default, c9b = default;
        R c10a = default, c10b = default;
        R c11a = default, c11b = default;
        R c12a = default, c12b = default;
        R c13a = default, c13b = default;
        for (int s = 0; s < segments; s++)
        {
            float* bs = offsets == null ? b : b + offsets[s];
            for (int p = 0; p < kc; p++)
            {
                var b0 = TReg.Load(bs);
                var b1 = TReg.Load(bs + w);
                { var x = TReg.Broadcast(a[0]); c0a = TReg.Fma(x, b0, c0a); c0b = TReg.Fma(x, b1, c0b); }
                { var x = TReg.Broadcast(a[1]); c1a = TReg.Fma(x, b0, c1a); c1b = TReg.Fma(x, b1, c1b); }
                { var x = TReg.Broadcast(a[2]); c2a = TReg.Fma(x, b0, c2a); c2b = TReg.Fma(x, b1, c2b); }
                { var x = TReg.Broadcast(a[3]); c3a = TReg.Fma(x, b0, c3a); c3b = TReg.Fma(x, b1, c3b); }
                if (TRows.Count > 4) { var x = TReg.Broadcast(a[4]); c4a = TReg.Fma(x, b0, c4a); c4b = TReg.Fma(x, b1, c4b); }
                if (TRows.Count > 5) { var x = TReg.Broadcast(a[5]); c5a = TReg.Fma(x, b0, c5a); c5b = TReg.Fma(x, b1, c5b); }
                if (TRows.Count > 6) { var x = TReg.Broadcast(a[6]); c6a = TReg.Fma(x, b0, c6a); c6b = TReg.Fma(x, b1, c6b); }
                if (TRows.Count > 7) { var x = TReg.Broadcast(a[7]); c7a = TReg.Fma(x, b0, c7a); c7b = TReg.Fma(x, b1, c7b); }
                if (TRows.Count > 8) { var x = TReg.Broadcast(a[8]); c8a = TReg.Fma(x, b0, c8a); c8b = TReg.Fma(x, b1, c8b); }
                if (TRows.Count > 9) { var x = TReg.Broadcast(a[9]); c9a = TReg.Fma(x, b0, c9a); c9b = TReg.Fma(x, b1, c9b); }
                if (TRows.Count > 10) { var x = TReg.Broadcast(a[10]); c10a = TReg.Fma(x, b0, c10a); c10b = TReg.Fma(x, b1, c10b); }
                if (TRows.Count > 11) { var x = TReg.Broadcast(a[11]); c11a = TReg.Fma(x, b0, c11a); c11b = TReg.Fma(x, b1, c11b); }
                if (TRows.Count > 12) { var x = TReg.Broadcast(a[12]); c12a = TReg.Fma(x, b0, c12a); c12b = TReg.Fma(x, b1, c12b); }
                if (TRows.Count > 13) { var x = TReg.Broadcast(a[13]); c13a = TReg.Fma(x, b0, c13a); c13b = TReg.Fma(x, b1, c13b); }
                a += TRows.Count;
                bs += bStep;
            }
        }
        var av = TReg.Broadcast(alpha);
        var bv = TReg.Broadcast(beta);
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
    static void StoreRow(float* c, R x, R y, R alpha, R beta, bool readC)
    {
        x = TReg.Multiply(x, alpha);
        y = TReg.Multiply(y, alpha);
        if (readC)
        {
            x = TReg.Fma(TReg.Load(c), beta, x);
            y = TReg.Fma(TReg.Load(c + TReg.Count), beta, y);
        }
        TReg.Store(x, c);
        TReg.Store(y, c + TReg.Count);
    }
}
