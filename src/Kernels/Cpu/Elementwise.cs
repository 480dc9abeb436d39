using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kernels.Cpu;

/// <summary>An elementwise unary op: a scalar form (the reference), a 512-bit form, and its derivative dy/dx given x and y.</summary>
public interface IUnaryOp
{
    static abstract float Invoke(float x);
    static abstract Vector512<float> Invoke(Vector512<float> x);
    static abstract float Derivative(float x, float y);
}

/// <summary>An elementwise binary op: a scalar form (the reference) and a 512-bit form.</summary>
public interface IBinaryOp
{
    static abstract float Invoke(float a, float b);
    static abstract Vector512<float> Invoke(Vector512<float> a, Vector512<float> b);
}

/// <summary>
/// Drivers for elementwise ops (the <c>TensorPrimitives</c> idiom): one generic loop per arity, 512-bit
/// vectors while whole vectors remain, the scalar form for the tail. The scalar form alone is the reference.
/// </summary>
public static class Elementwise
{
    public static void Unary<T>(ReadOnlySpan<float> x, Span<float> y) where T : IUnaryOp
    {
        if (y.Length < x.Length) throw new ArgumentException("Unary: destination shorter than source");
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        int i = 0, n = x.Length;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
                T.Invoke(Vector512.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref ys, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref ys, i) = T.Invoke(Unsafe.Add(ref xs, i));
    }

    /// <summary>The reference: the scalar form only.</summary>
    public static void UnaryReference<T>(ReadOnlySpan<float> x, Span<float> y) where T : IUnaryOp
    {
        for (int i = 0; i < x.Length; i++) y[i] = T.Invoke(x[i]);
    }

    /// <summary>dx[i] = g[i] · T'(x[i], y[i]) — the backward of a unary op in one pass.</summary>
    public static void UnaryBackward<T>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx) where T : IUnaryOp
    {
        for (int i = 0; i < x.Length; i++) dx[i] = g[i] * T.Derivative(x[i], y[i]);
    }

    public static void Binary<T>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where T : IBinaryOp
    {
        if (a.Length != b.Length || y.Length < a.Length) throw new ArgumentException("Binary: operand lengths differ");
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0, n = a.Length;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
                T.Invoke(Vector512.LoadUnsafe(ref ar, (nuint)i), Vector512.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref yr, i) = T.Invoke(Unsafe.Add(ref ar, i), Unsafe.Add(ref br, i));
    }

    /// <summary>y = op(a, b) with b a single value broadcast along the row.</summary>
    public static void BinaryScalarB<T>(ReadOnlySpan<float> a, float b, Span<float> y) where T : IBinaryOp
    {
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0, n = a.Length;
        if (Vector512.IsHardwareAccelerated)
        {
            var bv = Vector512.Create(b);
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
                T.Invoke(Vector512.LoadUnsafe(ref ar, (nuint)i), bv).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = T.Invoke(Unsafe.Add(ref ar, i), b);
    }

    /// <summary>y = op(a, b) with a a single value broadcast along the row.</summary>
    public static void BinaryScalarA<T>(float a, ReadOnlySpan<float> b, Span<float> y) where T : IBinaryOp
    {
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0, n = b.Length;
        if (Vector512.IsHardwareAccelerated)
        {
            var av = Vector512.Create(a);
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
                T.Invoke(av, Vector512.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = T.Invoke(a, Unsafe.Add(ref br, i));
    }

    /// <summary>y[i] = op(a[i·sa], b[i·sb]) for arbitrary strides (the general broadcast row).</summary>
    public static void BinaryStrided<T>(ReadOnlySpan<float> a, int sa, ReadOnlySpan<float> b, int sb, Span<float> y, int n) where T : IBinaryOp
    {
        for (int i = 0; i < n; i++) y[i] = T.Invoke(a[i * sa], b[i * sb]);
    }

    /// <summary>Sum of all elements, accumulated in double (the reference).</summary>
    public static double SumReference(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (var v in x) s += v;
        return s;
    }

    /// <summary>Sum of all elements with 512-bit partial sums (4 accumulators), folded into double at the end.</summary>
    public static float Sum(ReadOnlySpan<float> x)
    {
        ref float xs = ref MemoryMarshal.GetReference(x);
        int i = 0, n = x.Length;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && n >= 64)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= n - 64; i += 64)
            {
                s0 += Vector512.LoadUnsafe(ref xs, (nuint)i);
                s1 += Vector512.LoadUnsafe(ref xs, (nuint)(i + 16));
                s2 += Vector512.LoadUnsafe(ref xs, (nuint)(i + 32));
                s3 += Vector512.LoadUnsafe(ref xs, (nuint)(i + 48));
            }
            total = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) total += Unsafe.Add(ref xs, i);
        return (float)total;
    }

    /// <summary>y += a·x.</summary>
    public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        int i = 0, n = x.Length;
        if (Vector512.IsHardwareAccelerated)
        {
            var av = Vector512.Create(a);
            for (; i <= n - 16; i += 16)
                Vector512.FusedMultiplyAdd(av, Vector512.LoadUnsafe(ref xs, (nuint)i), Vector512.LoadUnsafe(ref ys, (nuint)i)).StoreUnsafe(ref ys, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref ys, i) += a * Unsafe.Add(ref xs, i);
    }
}
