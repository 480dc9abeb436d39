using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

#pragma warning disable CS1591
// Binary operators.
public readonly struct AddOp : IBinaryOp
{
    public static float Invoke(float a, float b) => a + b;
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => a + b;
}
public readonly struct SubOp : IBinaryOp
{
    public static float Invoke(float a, float b) => a - b;
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => a - b;
}
public readonly struct MulOp : IBinaryOp
{
    public static float Invoke(float a, float b) => a * b;
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => a * b;
}
public readonly struct DivOp : IBinaryOp
{
    public static float Invoke(float a, float b) => a / b;
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => a / b;
}
public readonly struct MaxOp : IBinaryOp
{
    public static float Invoke(float a, float b) => MathF.Max(a, b);
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => V.Max(a, b);
}
public readonly struct MinOp : IBinaryOp
{
    public static float Invoke(float a, float b) => MathF.Min(a, b);
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => V.Min(a, b);
}
public readonly struct PowOp : IBinaryOp
{
    public static float Invoke(float a, float b) => MathF.Pow(a, b);
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => Elementwise.PerLane<PowOp, V>(a, b);
}
public readonly struct GreaterOp : IBinaryOp
{
    public static float Invoke(float a, float b) => a > b ? 1f : 0f;
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => V.GreaterThan(a, b) & V.One;
}
public readonly struct LessOp : IBinaryOp
{
    public static float Invoke(float a, float b) => a < b ? 1f : 0f;
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => V.LessThan(a, b) & V.One;
}
public readonly struct GreaterEqualOp : IBinaryOp
{
    public static float Invoke(float a, float b) => a >= b ? 1f : 0f;
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => V.GreaterThanOrEqual(a, b) & V.One;
}
public readonly struct LessEqualOp : IBinaryOp
{
    public static float Invoke(float a, float b) => a <= b ? 1f : 0f;
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => V.LessThanOrEqual(a, b) & V.One;
}
public readonly struct EqualOp : IBinaryOp
{
    public static float Invoke(float a, float b) => a == b ? 1f : 0f;
    public static V Invoke<V>(V a, V b) where V : unmanaged, IVec<V> => V.Equal(a, b) & V.One;
}

// Unary operators, each with its derivative dy/dx written from x and the saved output y.
public readonly struct NegOp : IUnaryOp
{
    public static float Invoke(float x) => -x;
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => -x;
    public static float Derivative(float x, float y) => -1f;
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V> => -V.One;
}
public readonly struct ExpOp : IUnaryOp
{
    public static float Invoke(float x) => MathF.Exp(x);
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => V.Exp(x);
    public static float Derivative(float x, float y) => y;
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V> => y;
}
public readonly struct LogOp : IUnaryOp
{
    public static float Invoke(float x) => MathF.Log(x);
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => V.Log(x);
    public static float Derivative(float x, float y) => 1f / x;
}
public readonly struct SqrtOp : IUnaryOp
{
    public static float Invoke(float x) => MathF.Sqrt(x);
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => V.Sqrt(x);
    public static float Derivative(float x, float y) => 0.5f / y;
}
public readonly struct AbsOp : IUnaryOp
{
    public static float Invoke(float x) => MathF.Abs(x);
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => V.Abs(x);
    public static float Derivative(float x, float y) => x > 0 ? 1f : x < 0 ? -1f : 0f;
}
/// <summary>
/// x·σ(z), accurate to a few ulps over the whole range, the building block of sigmoid, SiLU and the tanh GELU.
/// With h = e^(−|z|/2) and r = 1/(1 + h²) = σ(|z|): σ(z) = r for z ≥ 0 and h·(h·r) = e^z·σ(|z|) for z &lt; 0. The two
/// half exponentials keep each factor a normal float down to z ≈ −174, so the result (x·h)·(h·r) rounds once, even
/// where it is subnormal; 1/(1 + e^−z) instead loses everything below z ≈ −88 (e^−z overflows, σ comes out 0 where
/// it is 10⁻³⁹…10⁻⁴⁵, and SiLU/softplus lose their tails too). NaN stays NaN; x·σ(z) is NaN for x = z = −∞, as PyTorch's SiLU.
/// </summary>
public static class XSigmoid
{
    public static float Invoke(float x, float z)
    {
        float h = MathF.Exp(-0.5f * MathF.Abs(z)), r = 1f / (1f + h * h);
        return z < 0 ? (x * h) * (h * r) : x * r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V Invoke<V>(V x, V z) where V : unmanaged, IVec<V>
    {
        var h = V.Exp(V.Create(-0.5f) * V.Abs(z));
        var r = V.One / V.Fma(h, h, V.One);
        var negative = V.LessThan(z, V.Zero);
        return V.Select(negative, x * h, x) * V.Select(negative, h * r, r);
    }
}

public readonly struct SigmoidOp : IUnaryOp
{
    public static float Invoke(float x) => XSigmoid.Invoke(1f, x);
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => XSigmoid.Invoke(V.One, x);
    public static float Derivative(float x, float y) => y * (1f - y);
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V> => y * (V.One - y);
}
public readonly struct TanhOp : IUnaryOp
{
    public static float Invoke(float x) => MathF.Tanh(x);
    /// <summary>
    /// Below |x| = 0.625, Cephes' odd polynomial x·(1 + z·P(z)), z = x² (1 − 2/(e^2x + 1) cancels there: at 10⁻⁶ it
    /// gave 9.5·10⁻⁷); above, 1 − 2/(e^2|x| + 1) with the sign of x put back (the exponent clamped below overflow).
    /// </summary>
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V>
    {
        var a = V.Abs(x);
        var z = x * x;
        var p = V.Fma(V.Create(-5.70498872745e-3f), z, V.Create(2.06390887954e-2f));
        p = V.Fma(p, z, V.Create(-5.37397155531e-2f));
        p = V.Fma(p, z, V.Create(1.33314422036e-1f));
        p = V.Fma(p, z, V.Create(-3.33332819422e-1f));
        var small = x * V.Fma(p, z, V.One);                                    // x·(1 + z·P): keeps the sign of −0
        var e = V.Exp(V.Min(a * V.Create(2f), V.Create(88f)));
        var large = V.One - V.Create(2f) / (e + V.One);
        large = V.Select(V.LessThan(x, V.Zero), -large, large);
        return V.Select(V.LessThan(a, V.Create(0.625f)), small, large);
    }
    public static float Derivative(float x, float y) => 1f - y * y;
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V> => V.One - y * y;
}
public readonly struct ReluOp : IUnaryOp
{
    public static float Invoke(float x) => x <= 0 ? 0f : x;                   // NaN stays NaN, as V.Max and PyTorch
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => V.Max(x, V.Zero);
    // 0 at x ≤ 0 (Relu'(0) = 0), 1 elsewhere, NaN included: PyTorch's threshold_backward (result ≤ 0 ? 0 : grad).
    public static float Derivative(float x, float y) => x <= 0 ? 0f : 1f;
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V> => V.Select(V.LessThanOrEqual(x, V.Zero), V.Zero, V.One);
}
public readonly struct SiluOp : IUnaryOp
{
    public static float Invoke(float x) => XSigmoid.Invoke(x, x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]                         // into the fused norm kernels' loops: exp makes it too long for the JIT's default
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => XSigmoid.Invoke(x, x);
    public static float Derivative(float x, float y)
    {
        float s = SigmoidOp.Invoke(x);
        return s * (1f + x * (1f - s));
    }
    public static bool HasVectorDerivative => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V>
    {
        var s = SigmoidOp.Invoke(x);
        return s * (V.One + x * (V.One - s));
    }
}
/// <summary>
/// log(1 + e^x) = max(x, 0) + log1p(e^−|x|), with log1p(t) = log(u)·t/(u − 1), u = 1 + t (Goldberg's correction: the
/// rounding of 1 + t cancels), and t itself where u rounds to 1. The plain log(1 + t) gave 0 below x ≈ −17.
/// </summary>
public readonly struct SoftplusOp : IUnaryOp
{
    public static float Invoke(float x)
    {
        float t = MathF.Exp(-MathF.Abs(x)), u = 1f + t, d = u - 1f;
        return MathF.Max(x, 0f) + (d == 0 ? t : MathF.Log(u) * t / d);
    }
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V>
    {
        var t = V.Exp(-V.Abs(x));
        var u = V.One + t;
        var d = u - V.One;
        return V.Max(x, V.Zero) + V.Select(V.Equal(d, V.Zero), t, V.Log(u) * t / d);
    }
    public static float Derivative(float x, float y) => SigmoidOp.Invoke(x);
}
/// <summary>
/// GELU with the tanh approximation: 0.5·x·(1 + tanh u), u = √(2/π)(x + 0.044715x³), computed as the identical
/// x·σ(2u) (<see cref="XSigmoid"/>): 1 + tanh u cancels in the negative tail (−5 lost all its digits). The derivative
/// is σ + 2x·σ(1 − σ)·u′ with σ = σ(2u), the same as 0.5(1 + t) + 0.5x(1 − t²)u′.
/// </summary>
public readonly struct GeluTanhOp : IUnaryOp
{
    const float C = 0.7978845608028654f, A = 0.044715f;
    public static float Invoke(float x) => XSigmoid.Invoke(x, 2f * C * (x + A * x * x * x));
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => XSigmoid.Invoke(x, V.Create(2f * C) * V.Fma(V.Create(A) * x * x, x, x));
    public static float Derivative(float x, float y)
    {
        float s = SigmoidOp.Invoke(2f * C * (x + A * x * x * x));
        return s + 2f * x * s * (1f - s) * C * (1f + 3f * A * x * x);
    }
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V>
    {
        var x2 = x * x;
        var s = SigmoidOp.Invoke(V.Create(2f * C) * V.Fma(V.Create(A) * x2, x, x));
        return s + V.Create(2f * C) * x * s * (V.One - s) * V.Fma(V.Create(3f * A), x2, V.One);
    }
}
/// <summary>
/// Exact GELU, x·Φ(x), in double with Φ from erfc (Numerical Recipes' Chebyshev fit, relative error &lt; 1.2·10⁻⁷
/// everywhere): Φ(x) = erfc(−x/√2)/2 for x &lt; 0, so the negative tail keeps its digits (1 + erf(x/√2) cancelled
/// to 0 or even below, from x ≈ −5 on).
/// </summary>
public readonly struct GeluOp : IUnaryOp
{
    public static float Invoke(float x) => (float)(x * NormalCdf(x));
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => Elementwise.PerLane<GeluOp, V>(x);
    public static float Derivative(float x, float y) => (float)(NormalCdf(x) + x * Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI));

    /// <summary>Φ(x), without cancellation in either tail.</summary>
    public static double NormalCdf(double x) => x < 0 ? 0.5 * Erfc(-x / Math.Sqrt(2.0)) : 1 - 0.5 * Erfc(x / Math.Sqrt(2.0));

    /// <summary>erfc(z) for z ≥ 0 (and NaN for NaN), relative error under 1.2·10⁻⁷.</summary>
    public static double Erfc(double z)
    {
        double t = 1.0 / (1.0 + 0.5 * z);
        return t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    }

    /// <summary>erf(z).</summary>
    public static double Erf(double z) => z >= 0 ? 1 - Erfc(z) : Erfc(-z) - 1;
}
