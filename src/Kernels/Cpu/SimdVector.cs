using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Cpu;

/// <summary>
/// One SIMD register of floats, whatever its width: the SIMD kernels are written once against this interface
/// and instantiated per instruction set (<see cref="Vec512"/> for AVX-512, <see cref="Vec256"/> for AVX2+FMA,
/// <see cref="VecT"/> for the portable <see cref="Vector{T}"/>: SSE, NEON, or whatever the runtime offers). Each
/// implementation is a struct holding one hardware vector; with the generic argument a struct, the JIT compiles a
/// separate copy of the kernel per width and inlines every operation to one instruction (measured: the generic
/// 512-bit reduction runs as fast as the one written against <see cref="Vector512{T}"/> directly).
/// </summary>
/// <example><c>static float Sum&lt;V&gt;(float* x, int n) where V : unmanaged, IVec&lt;V&gt; { var s = V.Zero; for (int i = 0; i &lt;= n - V.Count; i += V.Count) s += V.Load(x + i); return V.Sum(s); }</c></example>
public unsafe interface IVec<TSelf> where TSelf : unmanaged, IVec<TSelf>
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }
    /// <summary>The short name of the instruction set, used in variant names ("avx512", "avx2", "vector").</summary>
    static abstract string Name { get; }
    /// <summary>Whether this width runs in hardware here (otherwise it is emulated: correct but slow).</summary>
    static abstract bool IsAccelerated { get; }

    static abstract TSelf Zero { get; }
    static abstract TSelf One { get; }
    static abstract TSelf Create(float x);
    static abstract TSelf Load(float* p);
    static abstract void Store(TSelf v, float* p);

    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator *(TSelf a, TSelf b);
    static abstract TSelf operator /(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a);
    static abstract TSelf operator &(TSelf a, TSelf b);

    /// <summary>a·b + c, fused where the hardware has FMA.</summary>
    static abstract TSelf Fma(TSelf a, TSelf b, TSelf c);
    static abstract TSelf Max(TSelf a, TSelf b);
    static abstract TSelf Min(TSelf a, TSelf b);
    static abstract TSelf Abs(TSelf a);
    static abstract TSelf Sqrt(TSelf a);
    static abstract TSelf Exp(TSelf a);
    static abstract TSelf Log(TSelf a);

    /// <summary>All-ones lanes where the comparison holds, zero elsewhere (combine with &amp; or <see cref="Select"/>).</summary>
    static abstract TSelf GreaterThan(TSelf a, TSelf b);
    static abstract TSelf LessThan(TSelf a, TSelf b);
    static abstract TSelf GreaterThanOrEqual(TSelf a, TSelf b);
    static abstract TSelf LessThanOrEqual(TSelf a, TSelf b);
    static abstract TSelf Equal(TSelf a, TSelf b);
    /// <summary>Lanes of <paramref name="ifTrue"/> where <paramref name="mask"/> is set, of <paramref name="ifFalse"/> elsewhere.</summary>
    static abstract TSelf Select(TSelf mask, TSelf ifTrue, TSelf ifFalse);

    /// <summary>The sum of the lanes.</summary>
    static abstract float Sum(TSelf a);
    /// <summary>The largest lane.</summary>
    static abstract float MaxLane(TSelf a);
}

/// <summary>AVX-512: 16 floats in a zmm register.</summary>
public unsafe readonly struct Vec512(Vector512<float> v) : IVec<Vec512>
{
    readonly Vector512<float> v = v;
    public static int Count => Vector512<float>.Count;
    public static string Name => "avx512";
    public static bool IsAccelerated => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;
    public static Vec512 Zero => default;
    public static Vec512 One => new(Vector512<float>.One);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Create(float x) => new(Vector512.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Load(float* p) => new(Vector512.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vec512 x, float* p) => x.v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator +(Vec512 a, Vec512 b) => new(a.v + b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator -(Vec512 a, Vec512 b) => new(a.v - b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator *(Vec512 a, Vec512 b) => new(a.v * b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator /(Vec512 a, Vec512 b) => new(a.v / b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator -(Vec512 a) => new(-a.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 operator &(Vec512 a, Vec512 b) => new(a.v & b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Fma(Vec512 a, Vec512 b, Vec512 c) => new(Vector512.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Max(Vec512 a, Vec512 b) => new(Vector512.Max(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Min(Vec512 a, Vec512 b) => new(Vector512.Min(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Abs(Vec512 a) => new(Vector512.Abs(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Sqrt(Vec512 a) => new(Vector512.Sqrt(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Exp(Vec512 a) => new(Avx512F.IsSupported ? SimdExp.Exp(a.v) : Vector512.Exp(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Log(Vec512 a) => new(Vector512.Log(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 GreaterThan(Vec512 a, Vec512 b) => new(Vector512.GreaterThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 LessThan(Vec512 a, Vec512 b) => new(Vector512.LessThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 GreaterThanOrEqual(Vec512 a, Vec512 b) => new(Vector512.GreaterThanOrEqual(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 LessThanOrEqual(Vec512 a, Vec512 b) => new(Vector512.LessThanOrEqual(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Equal(Vec512 a, Vec512 b) => new(Vector512.Equals(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec512 Select(Vec512 m, Vec512 t, Vec512 f) => new(Vector512.ConditionalSelect(m.v, t.v, f.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vec512 a) => Vector512.Sum(a.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxLane(Vec512 a) => Vec256.MaxLane(new Vec256(Vector256.Max(a.v.GetLower(), a.v.GetUpper())));
}

/// <summary>AVX2 with FMA: 8 floats in a ymm register.</summary>
public unsafe readonly struct Vec256(Vector256<float> v) : IVec<Vec256>
{
    readonly Vector256<float> v = v;
    public static int Count => Vector256<float>.Count;
    public static string Name => "avx2";
    public static bool IsAccelerated => Vector256.IsHardwareAccelerated && Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported;
    public static Vec256 Zero => default;
    public static Vec256 One => new(Vector256<float>.One);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Create(float x) => new(Vector256.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Load(float* p) => new(Vector256.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vec256 x, float* p) => x.v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator +(Vec256 a, Vec256 b) => new(a.v + b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator -(Vec256 a, Vec256 b) => new(a.v - b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator *(Vec256 a, Vec256 b) => new(a.v * b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator /(Vec256 a, Vec256 b) => new(a.v / b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator -(Vec256 a) => new(-a.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 operator &(Vec256 a, Vec256 b) => new(a.v & b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Fma(Vec256 a, Vec256 b, Vec256 c) => new(Vector256.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Max(Vec256 a, Vec256 b) => new(Vector256.Max(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Min(Vec256 a, Vec256 b) => new(Vector256.Min(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Abs(Vec256 a) => new(Vector256.Abs(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Sqrt(Vec256 a) => new(Vector256.Sqrt(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Exp(Vec256 a) => new(Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported ? SimdExp.Exp(a.v) : Vector256.Exp(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Log(Vec256 a) => new(Vector256.Log(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 GreaterThan(Vec256 a, Vec256 b) => new(Vector256.GreaterThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 LessThan(Vec256 a, Vec256 b) => new(Vector256.LessThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 GreaterThanOrEqual(Vec256 a, Vec256 b) => new(Vector256.GreaterThanOrEqual(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 LessThanOrEqual(Vec256 a, Vec256 b) => new(Vector256.LessThanOrEqual(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Equal(Vec256 a, Vec256 b) => new(Vector256.Equals(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vec256 Select(Vec256 m, Vec256 t, Vec256 f) => new(Vector256.ConditionalSelect(m.v, t.v, f.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vec256 a) => Vector256.Sum(a.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxLane(Vec256 a)
    {
        var q = Vector128.Max(a.v.GetLower(), a.v.GetUpper());
        return MathF.Max(MathF.Max(q[0], q[1]), MathF.Max(q[2], q[3]));
    }
}

/// <summary>
/// The portable width: <see cref="Vector{T}"/> of floats, whatever the runtime maps it to (8 lanes on x64 with AVX2,
/// 4 with SSE or ARM NEON). The multiply-add is fused only where the hardware has it.
/// </summary>
public unsafe readonly struct VecT(Vector<float> v) : IVec<VecT>
{
    readonly Vector<float> v = v;
    public static int Count => Vector<float>.Count;
    public static string Name => "vector";
    public static bool IsAccelerated => Vector.IsHardwareAccelerated;
    public static VecT Zero => default;
    public static VecT One => new(Vector<float>.One);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Create(float x) => new(new Vector<float>(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Load(float* p) => new(Vector.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(VecT x, float* p) => x.v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT operator +(VecT a, VecT b) => new(a.v + b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT operator -(VecT a, VecT b) => new(a.v - b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT operator *(VecT a, VecT b) => new(a.v * b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT operator /(VecT a, VecT b) => new(a.v / b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT operator -(VecT a) => new(-a.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT operator &(VecT a, VecT b) => new(a.v & b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Fma(VecT a, VecT b, VecT c) => new(Vector.MultiplyAddEstimate(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Max(VecT a, VecT b) => new(Vector.Max(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Min(VecT a, VecT b) => new(Vector.Min(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Abs(VecT a) => new(Vector.Abs(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Sqrt(VecT a) => new(Vector.SquareRoot(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Exp(VecT a) => new(Vector.Exp(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Log(VecT a) => new(Vector.Log(a.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT GreaterThan(VecT a, VecT b) => new(Vector.AsVectorSingle(Vector.GreaterThan(a.v, b.v)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT LessThan(VecT a, VecT b) => new(Vector.AsVectorSingle(Vector.LessThan(a.v, b.v)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT GreaterThanOrEqual(VecT a, VecT b) => new(Vector.AsVectorSingle(Vector.GreaterThanOrEqual(a.v, b.v)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT LessThanOrEqual(VecT a, VecT b) => new(Vector.AsVectorSingle(Vector.LessThanOrEqual(a.v, b.v)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Equal(VecT a, VecT b) => new(Vector.AsVectorSingle(Vector.Equals(a.v, b.v)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static VecT Select(VecT m, VecT t, VecT f) => new(Vector.ConditionalSelect(m.v, t.v, f.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(VecT a) => Vector.Sum(a.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxLane(VecT a)
    {
        float m = a.v[0];
        for (int i = 1; i < Vector<float>.Count; i++) m = MathF.Max(m, a.v[i]);
        return m;
    }
}

/// <summary>
/// Which vector width the SIMD kernels use on this machine, decided at run time: AVX-512 where the CPU has it,
/// else AVX2 with FMA, else the portable <see cref="Vector{T}"/> (which also covers ARM).
/// </summary>
public static class Isa
{
    /// <summary>The name of the widest accelerated width ("avx512", "avx2" or "vector").</summary>
    public static string Best => Vec512.IsAccelerated ? Vec512.Name : Vec256.IsAccelerated ? Vec256.Name : VecT.Name;

    /// <summary>The kernel for the widest accelerated width.</summary>
    /// <example><c>FastRowNormForward = Isa.Pick&lt;RowNormForwardKernel&gt;(NormSimd&lt;Vec512&gt;.RowForward, NormSimd&lt;Vec256&gt;.RowForward, NormSimd&lt;VecT&gt;.RowForward);</c></example>
    public static T Pick<T>(T avx512, T avx2, T vector) => Vec512.IsAccelerated ? avx512 : Vec256.IsAccelerated ? avx2 : vector;

    /// <summary>
    /// The three width variants of a kernel, named <c>prefix-avx512</c>, <c>prefix-avx2</c>, <c>prefix-vector</c>, keeping
    /// only those accelerated here (the portable one always), so a race never times emulated code.
    /// </summary>
    public static IEnumerable<Variant<T>> Variants<T>(string prefix, T avx512, T avx2, T vector) where T : Delegate
    {
        if (Vec512.IsAccelerated) yield return new($"{prefix}-{Vec512.Name}", avx512);
        if (Vec256.IsAccelerated) yield return new($"{prefix}-{Vec256.Name}", avx2);
        yield return new($"{prefix}-{VecT.Name}", vector);
    }
}
