using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>An elementwise unary op: a scalar form (the reference), a vector form for any width, and its derivative dy/dx given x and y.</summary>
public interface IUnaryOp
{
    static abstract float Invoke(float x);
    static abstract V Invoke<V>(V x) where V : unmanaged, IVec<V>;
    static abstract float Derivative(float x, float y);

    /// <summary>Whether <see cref="Derivative{V}"/> is implemented; ops without it run the scalar derivative.</summary>
    static virtual bool HasVectorDerivative => false;

    /// <summary>The derivative at vector width (same formula as the scalar form).</summary>
    static virtual V Derivative<V>(V x, V y) where V : unmanaged, IVec<V> => throw new NotSupportedException("this op has only the scalar derivative");
}

/// <summary>An elementwise binary op: a scalar form (the reference) and a vector form for any width.</summary>
public interface IBinaryOp
{
    static abstract float Invoke(float a, float b);
    static abstract V Invoke<V>(V a, V b) where V : unmanaged, IVec<V>;
}

/// <summary>
/// Drivers for elementwise ops (the <c>TensorPrimitives</c> idiom): one generic loop per arity, whole vectors while
/// they remain, the scalar form for the tail. The scalar form alone is the reference. Each driver comes in two forms:
/// <c>Unary&lt;T&gt;</c> runs at the widest width accelerated here (see <see cref="Isa"/>), <c>Unary&lt;T, V&gt;</c>
/// at the width <typeparamref name="V"/> named (the tests run every width on every machine).
/// </summary>
public static unsafe class Elementwise
{
    /// <summary>Arrays at least this long are split into contiguous chunks over the threads (each chunk at the widest width).</summary>
    public const int ParallelGrain = 1 << 17;

    /// <summary>Whether an array of <paramref name="n"/> values is split over the threads.</summary>
    static bool Split(int n) => n >= ParallelGrain && Parallelism.MaxThreads > 1;

    /// <summary>body(start, length) over one contiguous chunk of [0, n) per thread. Elementwise results do not depend on the split.</summary>
    static void Chunks(int n, Action<int, int> body)
    {
        int chunks = Math.Min(Parallelism.MaxThreads, n / (ParallelGrain / 2));
        Parallelism.Run(chunks, c =>
        {
            int start = (int)((long)n * c / chunks), end = (int)((long)n * (c + 1) / chunks);
            body(start, end - start);
        });
    }

    public static void Unary<T>(ReadOnlySpan<float> x, Span<float> y) where T : IUnaryOp
    {
        if (y.Length < x.Length) throw new ArgumentException($"Unary: destination ({y.Length}) shorter than source ({x.Length})");
        if (!Split(x.Length)) { UnaryWidest<T>(x, y); return; }
        fixed (float* xp = x, yp = y)
        {
            nint xa = (nint)xp, ya = (nint)yp;
            Chunks(x.Length, (s, len) => UnaryWidest<T>(new ReadOnlySpan<float>((float*)xa + s, len), new Span<float>((float*)ya + s, len)));
        }
    }

    static void UnaryWidest<T>(ReadOnlySpan<float> x, Span<float> y) where T : IUnaryOp
    {
        if (Vec512.IsAccelerated) Unary<T, Vec512>(x, y);
        else if (Vec256.IsAccelerated) Unary<T, Vec256>(x, y);
        else Unary<T, VecT>(x, y);
    }

    public static void Unary<T, V>(ReadOnlySpan<float> x, Span<float> y) where T : IUnaryOp where V : unmanaged, IVec<V>
    {
        if (y.Length < x.Length) throw new ArgumentException($"Unary: destination ({y.Length}) shorter than source ({x.Length})");
        int i = 0, n = x.Length;
        fixed (float* xs = x, ys = y)
        {
            for (; i <= n - V.Count; i += V.Count) V.Store(T.Invoke(V.Load(xs + i)), ys + i);
            for (; i < n; i++) ys[i] = T.Invoke(xs[i]);
        }
    }

    /// <summary>The reference: the scalar form only.</summary>
    public static void UnaryReference<T>(ReadOnlySpan<float> x, Span<float> y) where T : IUnaryOp
    {
        for (int i = 0; i < x.Length; i++) y[i] = T.Invoke(x[i]);
    }

    /// <summary>
    /// dx[i] = g[i] · T'(x[i], y[i]) — the backward of a unary op in one pass: at vector width where the op has a
    /// vector derivative, else the scalar form; chunked over the threads for long arrays.
    /// </summary>
    public static void UnaryBackward<T>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx) where T : IUnaryOp
    {
        int n = x.Length;
        if (y.Length < n || g.Length < n || dx.Length < n)
            throw new ArgumentException($"UnaryBackward: x has {n} values but y {y.Length}, g {g.Length}, dx {dx.Length}");
        if (!Split(n)) { UnaryBackwardWidest<T>(x, y, g, dx); return; }
        fixed (float* xp = x, yp = y, gp = g, dp = dx)
        {
            nint xa = (nint)xp, ya = (nint)yp, ga = (nint)gp, da = (nint)dp;
            Chunks(n, (s, len) => UnaryBackwardWidest<T>(new ReadOnlySpan<float>((float*)xa + s, len), new ReadOnlySpan<float>((float*)ya + s, len),
                new ReadOnlySpan<float>((float*)ga + s, len), new Span<float>((float*)da + s, len)));
        }
    }

    static void UnaryBackwardWidest<T>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx) where T : IUnaryOp
    {
        if (!T.HasVectorDerivative) UnaryBackwardReference<T>(x, y, g, dx);
        else if (Vec512.IsAccelerated) UnaryBackward<T, Vec512>(x, y, g, dx);
        else if (Vec256.IsAccelerated) UnaryBackward<T, Vec256>(x, y, g, dx);
        else UnaryBackward<T, VecT>(x, y, g, dx);
    }

    /// <summary>The backward at the width <typeparamref name="V"/> (the op must have a vector derivative).</summary>
    public static void UnaryBackward<T, V>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx) where T : IUnaryOp where V : unmanaged, IVec<V>
    {
        int i = 0, n = x.Length;
        if (y.Length < n || g.Length < n || dx.Length < n)
            throw new ArgumentException($"UnaryBackward: x has {n} values but y {y.Length}, g {g.Length}, dx {dx.Length}");
        fixed (float* xp = x, yp = y, gp = g, dp = dx)
        {
            for (; i <= n - V.Count; i += V.Count) V.Store(V.Load(gp + i) * T.Derivative(V.Load(xp + i), V.Load(yp + i)), dp + i);
            for (; i < n; i++) dp[i] = gp[i] * T.Derivative(xp[i], yp[i]);
        }
    }

    /// <summary>The reference backward: the scalar derivative only.</summary>
    public static void UnaryBackwardReference<T>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx) where T : IUnaryOp
    {
        for (int i = 0; i < x.Length; i++) dx[i] = g[i] * T.Derivative(x[i], y[i]);
    }

    public static void Binary<T>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where T : IBinaryOp
    {
        if (a.Length != b.Length || y.Length < a.Length) throw new ArgumentException($"Binary: operand lengths {a.Length} and {b.Length}, destination {y.Length}");
        if (!Split(a.Length)) { BinaryWidest<T>(a, b, y); return; }
        fixed (float* ap = a, bp = b, yp = y)
        {
            nint aa = (nint)ap, ba = (nint)bp, ya = (nint)yp;
            Chunks(a.Length, (s, len) => BinaryWidest<T>(new ReadOnlySpan<float>((float*)aa + s, len), new ReadOnlySpan<float>((float*)ba + s, len),
                new Span<float>((float*)ya + s, len)));
        }
    }

    static void BinaryWidest<T>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where T : IBinaryOp
    {
        if (Vec512.IsAccelerated) Binary<T, Vec512>(a, b, y);
        else if (Vec256.IsAccelerated) Binary<T, Vec256>(a, b, y);
        else Binary<T, VecT>(a, b, y);
    }

    public static void Binary<T, V>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where T : IBinaryOp where V : unmanaged, IVec<V>
    {
        if (a.Length != b.Length || y.Length < a.Length) throw new ArgumentException($"Binary: operand lengths {a.Length} and {b.Length}, destination {y.Length}");
        int i = 0, n = a.Length;
        fixed (float* ap = a, bp = b, yp = y)
        {
            for (; i <= n - V.Count; i += V.Count) V.Store(T.Invoke(V.Load(ap + i), V.Load(bp + i)), yp + i);
            for (; i < n; i++) yp[i] = T.Invoke(ap[i], bp[i]);
        }
    }

    /// <summary>y = op(a, b) with b a single value broadcast along the row.</summary>
    public static void BinaryScalarB<T>(ReadOnlySpan<float> a, float b, Span<float> y) where T : IBinaryOp
    {
        if (y.Length < a.Length) throw new ArgumentException($"BinaryScalarB: destination ({y.Length}) shorter than source ({a.Length})");
        if (!Split(a.Length)) { BinaryScalarBWidest<T>(a, b, y); return; }
        fixed (float* ap = a, yp = y)
        {
            nint aa = (nint)ap, ya = (nint)yp;
            Chunks(a.Length, (s, len) => BinaryScalarBWidest<T>(new ReadOnlySpan<float>((float*)aa + s, len), b, new Span<float>((float*)ya + s, len)));
        }
    }

    static void BinaryScalarBWidest<T>(ReadOnlySpan<float> a, float b, Span<float> y) where T : IBinaryOp
    {
        if (Vec512.IsAccelerated) BinaryScalarB<T, Vec512>(a, b, y);
        else if (Vec256.IsAccelerated) BinaryScalarB<T, Vec256>(a, b, y);
        else BinaryScalarB<T, VecT>(a, b, y);
    }

    public static void BinaryScalarB<T, V>(ReadOnlySpan<float> a, float b, Span<float> y) where T : IBinaryOp where V : unmanaged, IVec<V>
    {
        if (y.Length < a.Length) throw new ArgumentException($"BinaryScalarB: destination ({y.Length}) shorter than source ({a.Length})");
        int i = 0, n = a.Length;
        var bv = V.Create(b);
        fixed (float* ap = a, yp = y)
        {
            for (; i <= n - V.Count; i += V.Count) V.Store(T.Invoke(V.Load(ap + i), bv), yp + i);
            for (; i < n; i++) yp[i] = T.Invoke(ap[i], b);
        }
    }

    /// <summary>y = op(a, b) with a a single value broadcast along the row.</summary>
    public static void BinaryScalarA<T>(float a, ReadOnlySpan<float> b, Span<float> y) where T : IBinaryOp
    {
        if (Vec512.IsAccelerated) BinaryScalarA<T, Vec512>(a, b, y);
        else if (Vec256.IsAccelerated) BinaryScalarA<T, Vec256>(a, b, y);
        else BinaryScalarA<T, VecT>(a, b, y);
    }

    public static void BinaryScalarA<T, V>(float a, ReadOnlySpan<float> b, Span<float> y) where T : IBinaryOp where V : unmanaged, IVec<V>
    {
        if (y.Length < b.Length) throw new ArgumentException($"BinaryScalarA: destination ({y.Length}) shorter than source ({b.Length})");
        int i = 0, n = b.Length;
        var av = V.Create(a);
        fixed (float* bp = b, yp = y)
        {
            for (; i <= n - V.Count; i += V.Count) V.Store(T.Invoke(av, V.Load(bp + i)), yp + i);
            for (; i < n; i++) yp[i] = T.Invoke(a, bp[i]);
        }
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

    /// <summary>Sum of all elements with vector partial sums (4 accumulators), folded into double at the end.</summary>
    public static float Sum(ReadOnlySpan<float> x) =>
        Vec512.IsAccelerated ? Sum<Vec512>(x) : Vec256.IsAccelerated ? Sum<Vec256>(x) : Sum<VecT>(x);

    public static float Sum<V>(ReadOnlySpan<float> x) where V : unmanaged, IVec<V>
    {
        int i = 0, n = x.Length, w = V.Count;
        double total = 0;
        fixed (float* xs = x)
        {
            if (n >= 4 * w)
            {
                V s0 = default, s1 = default, s2 = default, s3 = default;
                for (; i <= n - 4 * w; i += 4 * w)
                {
                    s0 += V.Load(xs + i);
                    s1 += V.Load(xs + i + w);
                    s2 += V.Load(xs + i + 2 * w);
                    s3 += V.Load(xs + i + 3 * w);
                }
                total = V.Sum((s0 + s1) + (s2 + s3));
            }
            for (; i < n; i++) total += xs[i];
        }
        return (float)total;
    }

    /// <summary>y += a·x.</summary>
    public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException($"Axpy: y ({y.Length}) shorter than x ({x.Length})");
        if (!Split(x.Length)) { AxpyWidest(a, x, y); return; }
        fixed (float* xp = x, yp = y)
        {
            nint xa = (nint)xp, ya = (nint)yp;
            Chunks(x.Length, (s, len) => AxpyWidest(a, new ReadOnlySpan<float>((float*)xa + s, len), new Span<float>((float*)ya + s, len)));
        }
    }

    static void AxpyWidest(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        if (Vec512.IsAccelerated) Axpy<Vec512>(a, x, y);
        else if (Vec256.IsAccelerated) Axpy<Vec256>(a, x, y);
        else Axpy<VecT>(a, x, y);
    }

    public static void Axpy<V>(float a, ReadOnlySpan<float> x, Span<float> y) where V : unmanaged, IVec<V>
    {
        if (y.Length < x.Length) throw new ArgumentException($"Axpy: y ({y.Length}) shorter than x ({x.Length})");
        int i = 0, n = x.Length;
        var av = V.Create(a);
        fixed (float* xs = x, ys = y)
        {
            for (; i <= n - V.Count; i += V.Count) V.Store(V.Fma(av, V.Load(xs + i), V.Load(ys + i)), ys + i);
            for (; i < n; i++) ys[i] += a * xs[i];
        }
    }

    /// <summary>A vector op applied lane by lane through its scalar form (for ops with no vector formula, such as pow).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V PerLane<T, V>(V x) where T : IUnaryOp where V : unmanaged, IVec<V>
    {
        float* lanes = stackalloc float[V.Count];
        V.Store(x, lanes);
        for (int i = 0; i < V.Count; i++) lanes[i] = T.Invoke(lanes[i]);
        return V.Load(lanes);
    }

    /// <inheritdoc cref="PerLane{T, V}(V)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V PerLane<T, V>(V a, V b) where T : IBinaryOp where V : unmanaged, IVec<V>
    {
        float* lanes = stackalloc float[2 * V.Count];
        V.Store(a, lanes);
        V.Store(b, lanes + V.Count);
        for (int i = 0; i < V.Count; i++) lanes[i] = T.Invoke(lanes[i], lanes[V.Count + i]);
        return V.Load(lanes);
    }
}
