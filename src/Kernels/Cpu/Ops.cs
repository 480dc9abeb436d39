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
public readonly struct SigmoidOp : IUnaryOp
{
    public static float Invoke(float x) => 1f / (1f + MathF.Exp(-x));
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => V.One / (V.One + V.Exp(-x));
    public static float Derivative(float x, float y) => y * (1f - y);
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V> => y * (V.One - y);
}
public readonly struct TanhOp : IUnaryOp
{
    public static float Invoke(float x) => MathF.Tanh(x);
    // tanh x = 1 - 2 / (exp(2x) + 1), clamped so exp does not overflow.
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V>
    {
        var e = V.Exp(V.Min(x * V.Create(2f), V.Create(88f)));
        return V.One - V.Create(2f) / (e + V.One);
    }
    public static float Derivative(float x, float y) => 1f - y * y;
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V> => V.One - y * y;
}
public readonly struct ReluOp : IUnaryOp
{
    public static float Invoke(float x) => x > 0 ? x : 0f;
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => V.Max(x, V.Zero);
    public static float Derivative(float x, float y) => x > 0 ? 1f : 0f;
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V> => V.Select(V.GreaterThan(x, V.Zero), V.One, V.Zero);
}
public readonly struct SiluOp : IUnaryOp
{
    public static float Invoke(float x) => x / (1f + MathF.Exp(-x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]                         // into the fused norm kernels' loops: exp makes it too long for the JIT's default
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => x / (V.One + V.Exp(-x));
    public static float Derivative(float x, float y)
    {
        float s = 1f / (1f + MathF.Exp(-x));
        return s * (1f + x * (1f - s));
    }
    public static bool HasVectorDerivative => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V>
    {
        var s = V.One / (V.One + V.Exp(-x));
        return s * (V.One + x * (V.One - s));
    }
}
public readonly struct SoftplusOp : IUnaryOp
{
    // log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), stable for large |x|.
    public static float Invoke(float x) => MathF.Max(x, 0f) + MathF.Log(1f + MathF.Exp(-MathF.Abs(x)));
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> =>
        V.Max(x, V.Zero) + V.Log(V.One + V.Exp(-V.Abs(x)));
    public static float Derivative(float x, float y) => 1f / (1f + MathF.Exp(-x));
}
/// <summary>GELU with the tanh approximation: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
public readonly struct GeluTanhOp : IUnaryOp
{
    const float C = 0.7978845608028654f, A = 0.044715f;
    public static float Invoke(float x) => 0.5f * x * (1f + MathF.Tanh(C * (x + A * x * x * x)));
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> =>
        V.Create(0.5f) * x * (V.One + TanhOp.Invoke<V>(V.Create(C) * (x + V.Create(A) * x * x * x)));
    public static float Derivative(float x, float y)
    {
        float u = C * (x + A * x * x * x), t = MathF.Tanh(u);
        return 0.5f * (1f + t) + 0.5f * x * (1f - t * t) * C * (1f + 3f * A * x * x);
    }
    public static bool HasVectorDerivative => true;
    public static V Derivative<V>(V x, V y) where V : unmanaged, IVec<V>
    {
        var x2 = x * x;
        var t = TanhOp.Invoke<V>(V.Create(C) * (x + V.Create(A) * x2 * x));
        var half = V.Create(0.5f);
        return half * (V.One + t) + half * x * (V.One - t * t) * V.Create(C) * (V.One + V.Create(3f * A) * x2);
    }
}
/// <summary>Exact GELU, x·Φ(x), with erf from Abramowitz–Stegun 7.1.26 refined (|error| &lt; 1.5e-7).</summary>
public readonly struct GeluOp : IUnaryOp
{
    public static float Invoke(float x) => (float)(0.5 * x * (1.0 + Erf(x / Math.Sqrt(2.0))));
    public static V Invoke<V>(V x) where V : unmanaged, IVec<V> => Elementwise.PerLane<GeluOp, V>(x);
    public static float Derivative(float x, float y) =>
        (float)(0.5 * (1.0 + Erf(x / Math.Sqrt(2.0))) + x * Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI));

    /// <summary>erf(z) to about 1e-7.</summary>
    public static double Erf(double z)
    {
        double t = 1.0 / (1.0 + 0.5 * Math.Abs(z));
        double y = 1 - t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return z >= 0 ? y : -y;
    }
}
