using Kernels.Cpu;
using static Engine.Tests.NormKernelTests;

namespace Engine.Tests;

/// <summary>
/// The vector widths of the SIMD kernels. The registry lists only the widths accelerated on the machine running the
/// tests, so these call every width directly — AVX-512, AVX2 and the portable Vector&lt;T&gt; — whether or not it is
/// accelerated here (an unaccelerated width is emulated by the runtime: slow but exact), so each path is checked on
/// every machine. Sizes are odd and cover whole vectors plus tails.
/// </summary>
public sealed class SimdWidthTests
{
    public enum Width { Avx512, Avx2, Vector }

    static readonly int[] Lengths = [0, 1, 7, 8, 15, 16, 17, 33, 257];

    [Test]
    public void Fast_defaults_are_the_widest_accelerated_variant()
    {
        string best = Isa.Best;
        Assert.That(KernelRegistry.Gemm.Single(v => v.Run == KernelRegistry.FastGemm).Name, Is.EqualTo($"blocked-{best}"));
        Assert.That(KernelRegistry.AttentionForward.Single(v => v.Run == KernelRegistry.FastAttentionForward).Name, Is.EqualTo($"blocked-{best}"));
        Assert.That(KernelRegistry.AttentionBackward.Single(v => v.Run == KernelRegistry.FastAttentionBackward).Name, Is.EqualTo($"blocked-{best}"));
        Assert.That(KernelRegistry.RowNormForward.Single(v => v.Run == KernelRegistry.FastRowNormForward).Name, Is.EqualTo($"simd-{best}"));
        Assert.That(KernelRegistry.RowNormBackward.Single(v => v.Run == KernelRegistry.FastRowNormBackward).Name, Is.EqualTo($"simd-{best}"));
        Assert.That(KernelRegistry.BatchNormBackward.Single(v => v.Run == KernelRegistry.FastBatchNormBackward).Name, Is.EqualTo($"simd-{best}"));
        Assert.That(KernelRegistry.SoftmaxForward.Single(v => v.Run == KernelRegistry.FastSoftmaxForward).Name, Is.EqualTo($"simd-{best}"));
        Assert.That(KernelRegistry.LogSoftmaxBackward.Single(v => v.Run == KernelRegistry.FastLogSoftmaxBackward).Name, Is.EqualTo($"simd-{best}"));
        Assert.That(KernelRegistry.AdamW.Single(v => v.Run == KernelRegistry.FastAdamW).Name, Is.EqualTo($"simd-{best}"));
    }

    [Test]
    public void Registry_lists_the_portable_width_and_only_accelerated_others()
    {
        var names = KernelRegistry.Gemm.Select(v => v.Name).ToArray();
        Assert.That(names, Does.Contain("blocked-vector"));
        Assert.That(names.Contains("blocked-avx512"), Is.EqualTo(Vec512.IsAccelerated));
        Assert.That(names.Contains("blocked-avx2"), Is.EqualTo(Vec256.IsAccelerated));
        Assert.That(KernelRegistry.SoftmaxForward.Select(v => v.Name), Does.Contain("simd-vector"));
    }

    static GemmKernel BlockedGemm(Width w) => w switch
    {
        Width.Avx512 => GemmBlocked.Run,
        Width.Avx2 => GemmBlocked.RunAvx2,
        _ => GemmBlocked.RunVector,
    };

    [Test, Combinatorial]
    public void Blocked_gemm_of_every_width_matches_reference([Values] Width width, [Values] bool transA, [Values] bool transB)
    {
        foreach (var (m, n, k) in new[] { (1, 1, 1), (7, 17, 5), (33, 9, 65), (13, 47, 70) })
        {
            var rng = new System.Random(m + n + k);
            float[] R(int len) => Enumerable.Range(0, len).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray();
            var a = R(m * k); var b = R(k * n); var c = R(m * n); var expected = (float[])c.Clone();
            int lda = transA ? m : k, ldb = transB ? k : n;
            Gemm.Reference(transA, transB, m, n, k, 0.5f, a, lda, b, ldb, 1.5f, expected, n);
            BlockedGemm(width)(transA, transB, m, n, k, 0.5f, a, lda, b, ldb, 1.5f, c, n);
            AssertClose(expected, c, 1e-5f * (k + 1), $"{width} {m}×{n}×{k}");
        }
    }

    static (AttentionForwardKernel, AttentionBackwardKernel) AttentionKernels(Width w, bool blocked) => (w, blocked) switch
    {
        (Width.Avx512, false) => (Attention.Forward<Vec512>, Attention.Backward<Vec512>),
        (Width.Avx2, false) => (Attention.Forward<Vec256>, Attention.Backward<Vec256>),
        (_, false) => (Attention.Forward<VecT>, Attention.Backward<VecT>),
        (Width.Avx512, true) => (Attention.ForwardBlocked<Vec512>, Attention.BackwardBlocked<Vec512>),
        (Width.Avx2, true) => (Attention.ForwardBlocked<Vec256>, Attention.BackwardBlocked<Vec256>),
        (_, true) => (Attention.ForwardBlocked<VecT>, Attention.BackwardBlocked<VecT>),
    };

    /// <summary>
    /// Flash and blocked attention at every width: odd sizes (whole vectors plus tails of keys and of D), query rows
    /// not a multiple of the block, fewer keys than a vector, and causal T_q &gt; T_k, where the first rows see no key
    /// (NaN output and lse −∞, as the reference; no gradient).
    /// </summary>
    [Test, Combinatorial]
    public void Attention_of_every_width_matches_reference([Values] Width width, [Values] bool causal, [Values] bool blocked)
    {
        foreach (var (tq, tk, d) in new[] { (19, 23, 13), (1, 1, 1), (9, 5, 3), (20, 20, 17), (11, 40, 64), (33, 18, 32) })
        {
            const int heads = 2;
            string what = $"{(blocked ? "blocked" : "flash")} {width} {tq}×{tk}×{d}{(causal ? " causal" : "")}";
            var q = Normal(heads * tq * d, 1); var k = Normal(heads * tk * d, 2); var v = Normal(heads * tk * d, 3); var dO = Normal(heads * tq * d, 4);
            float scale = 1f / MathF.Sqrt(d);
            var (forward, backward) = AttentionKernels(width, blocked);
            var oRef = new float[q.Length]; var lRef = new float[heads * tq];
            Attention.ForwardReference(heads, tq, tk, d, scale, causal, q, k, v, oRef, lRef);
            float[] Stale(int n) => Enumerable.Repeat(float.NaN, n).ToArray();       // every output must be written
            var o = Stale(q.Length); var l = Stale(heads * tq);
            forward(heads, tq, tk, d, scale, causal, q, k, v, o, l);
            AssertCloseOrBothNaN(oRef, o, 1e-4f, $"{what} O");
            AssertCloseOrBothNaN(lRef, l, 1e-4f, $"{what} lse");
            var (dqRef, dkRef, dvRef) = (new float[q.Length], new float[k.Length], new float[v.Length]);
            Attention.BackwardReference(heads, tq, tk, d, scale, causal, q, k, v, oRef, lRef, dO, dqRef, dkRef, dvRef);
            var (dq, dk, dv) = (Stale(q.Length), Stale(k.Length), Stale(v.Length));
            backward(heads, tq, tk, d, scale, causal, q, k, v, oRef, lRef, dO, dq, dk, dv);
            AssertClose(dqRef, dq, 2e-4f, $"{what} dQ");
            AssertClose(dkRef, dk, 2e-4f, $"{what} dK");
            AssertClose(dvRef, dv, 2e-4f, $"{what} dV");
        }
    }

    /// <summary><see cref="AssertClose"/>, where NaN matches NaN and an infinity the same infinity.</summary>
    static void AssertCloseOrBothNaN(float[] expected, float[] actual, float tol, string what)
    {
        (expected, actual) = ((float[])expected.Clone(), (float[])actual.Clone());
        for (int i = 0; i < expected.Length; i++)
            if (!float.IsFinite(expected[i]) && (expected[i].Equals(actual[i]) || float.IsNaN(expected[i]) && float.IsNaN(actual[i])))
                expected[i] = actual[i] = 0;
        AssertClose(expected, actual, tol, what);
    }

    static (RowNormForwardKernel, RowNormBackwardKernel, SoftmaxForwardKernel, SoftmaxBackwardKernel, AdamWKernel) MemoryBound(Width w) => w switch
    {
        Width.Avx512 => (NormSimd<Vec512>.RowForward, NormSimd<Vec512>.RowBackward, SoftmaxSimd<Vec512>.Forward, SoftmaxSimd<Vec512>.LogBackward, AdamW.Simd<Vec512>),
        Width.Avx2 => (NormSimd<Vec256>.RowForward, NormSimd<Vec256>.RowBackward, SoftmaxSimd<Vec256>.Forward, SoftmaxSimd<Vec256>.LogBackward, AdamW.Simd<Vec256>),
        _ => (NormSimd<VecT>.RowForward, NormSimd<VecT>.RowBackward, SoftmaxSimd<VecT>.Forward, SoftmaxSimd<VecT>.LogBackward, AdamW.Simd<VecT>),
    };

    [Test]
    public void Norm_softmax_and_adamw_of_every_width_match_reference([Values] Width width)
    {
        var (normForward, normBackward, softmax, logSoftmaxBackward, adamW) = MemoryBound(width);
        foreach (int len in new[] { 7, 33, 257 })
        {
            const int rows = 5;
            var x = Normal(rows * len, 1, mean: 2f); var dy = Normal(rows * len, 2); var w = Normal(len, 3); var b = Normal(len, 4);
            var (y, mean, rstd) = (new float[x.Length], new float[rows], new float[rows]);
            var (yv, mv, rv) = (new float[x.Length], new float[rows], new float[rows]);
            Norm.RowForwardReference(rows, len, 1, 1, 1e-5f, true, x, w, b, y, mean, rstd);
            normForward(rows, len, 1, 1, 1e-5f, true, x, w, b, yv, mv, rv);
            AssertClose(y, yv, 1e-5f, $"{width} LayerNorm y, len {len}");
            var (dx, dw, db) = (new float[x.Length], new float[len], new float[len]);
            var (dxv, dwv, dbv) = (new float[x.Length], new float[len], new float[len]);
            Norm.RowBackwardReference(rows, len, 1, 1, true, x, w, mean, rstd, dy, dx, dw, db);
            normBackward(rows, len, 1, 1, true, x, w, mean, rstd, dy, dxv, dwv, dbv);
            AssertClose(dx, dxv, 1e-4f, $"{width} LayerNorm dx, len {len}");
            AssertClose(dw, dwv, 1e-4f, $"{width} LayerNorm dweight, len {len}");

            // Softmax along contiguous rows, then across strided lines (whole vectors of lines plus single ones).
            var s = new float[x.Length]; var sv = new float[x.Length];
            Softmax.ForwardReference(rows, len, 1, x, s);
            softmax(rows, len, 1, x, sv);
            AssertClose(s, sv, 1e-5f, $"{width} softmax, len {len}");
            Softmax.ForwardReference(1, rows, len, x, s);
            softmax(1, rows, len, x, sv);
            AssertClose(s, sv, 1e-5f, $"{width} softmax over strided lines, inner {len}");
            var ls = new float[x.Length]; Softmax.LogForwardReference(rows, len, 1, x, ls);
            var g = new float[x.Length]; var gv = new float[x.Length];
            Softmax.LogBackwardReference(rows, len, 1, ls, dy, g);
            logSoftmaxBackward(rows, len, 1, ls, dy, gv);
            AssertClose(g, gv, 1e-5f, $"{width} log-softmax backward, len {len}");

            var p = Normal(len, 5); var pv = (float[])p.Clone();
            var (m1, v1, m2, v2) = (new float[len], new float[len], new float[len], new float[len]);
            AdamW.Reference(p, dy.AsSpan(0, len), m1, v1, 1e-2, 0.9, 0.999, 1e-8, 0.01, 1);
            adamW(pv, dy.AsSpan(0, len), m2, v2, 1e-2, 0.9, 0.999, 1e-8, 0.01, 1);
            AssertClose(p, pv, 1e-5f, $"{width} AdamW, n {len}");
        }
    }

    static void CheckUnary<T>(Width width, float lo, float hi, float tol) where T : IUnaryOp
    {
        foreach (int n in Lengths)
        {
            var rng = new System.Random(n);
            var x = Enumerable.Range(0, n).Select(_ => lo + (float)rng.NextDouble() * (hi - lo)).ToArray();
            var expected = new float[n];
            Elementwise.UnaryReference<T>(x, expected);
            var y = Enumerable.Repeat(float.NaN, n).ToArray();
            switch (width)
            {
                case Width.Avx512: Elementwise.Unary<T, Vec512>(x, y); break;
                case Width.Avx2: Elementwise.Unary<T, Vec256>(x, y); break;
                default: Elementwise.Unary<T, VecT>(x, y); break;
            }
            AssertClose(expected, y, tol, $"{typeof(T).Name} {width} n={n}");
            if (!T.HasVectorDerivative) continue;
            var g = x.Select((_, i) => MathF.Sin(i + 0.5f)).ToArray();
            var dxExpected = new float[n];
            Elementwise.UnaryBackwardReference<T>(x, expected, g, dxExpected);
            var dx = Enumerable.Repeat(float.NaN, n).ToArray();
            switch (width)
            {
                case Width.Avx512: Elementwise.UnaryBackward<T, Vec512>(x, expected, g, dx); break;
                case Width.Avx2: Elementwise.UnaryBackward<T, Vec256>(x, expected, g, dx); break;
                default: Elementwise.UnaryBackward<T, VecT>(x, expected, g, dx); break;
            }
            AssertClose(dxExpected, dx, Math.Max(tol, 1e-5f), $"{typeof(T).Name} backward {width} n={n}");
        }
    }

    [Test]
    public void Long_arrays_split_over_threads_give_the_same_values()
    {
        int n = 3 * Elementwise.ParallelGrain + 5;
        var x = Normal(n, 11); var b = Normal(n, 12); var g = Normal(n, 13);
        var one = new float[n]; var split = new float[n];
        Elementwise.Unary<SiluOp, VecT>(x, one);
        Elementwise.Unary<SiluOp>(x, split);
        AssertClose(one, split, 1e-6f, "SiLU");
        var dOne = new float[n]; var dSplit = new float[n];
        Elementwise.UnaryBackwardReference<SiluOp>(x, one, g, dOne);
        Elementwise.UnaryBackward<SiluOp>(x, split, g, dSplit);
        AssertClose(dOne, dSplit, 1e-5f, "SiLU backward");
        Elementwise.UnaryBackwardReference<LogOp>(b, one, g, dOne);        // scalar-only derivative, split too
        Elementwise.UnaryBackward<LogOp>(b, one, g, dSplit);
        Assert.That(dSplit, Is.EqualTo(dOne), "log backward");
        Elementwise.Binary<MulOp, VecT>(x, b, one);
        Elementwise.Binary<MulOp>(x, b, split);
        Assert.That(split, Is.EqualTo(one), "mul");
        Elementwise.BinaryScalarB<AddOp, VecT>(x, 0.25f, one);
        Elementwise.BinaryScalarB<AddOp>(x, 0.25f, split);
        Assert.That(split, Is.EqualTo(one), "add scalar");
    }

    /// <summary>The single-precision exp behind Vec512.Exp and Vec256.Exp, against double precision and at the edges.</summary>
    [Test]
    public void Vector_exp_is_within_a_float_ulp_and_keeps_the_special_values([Values(Width.Avx512, Width.Avx2)] Width width)
    {
        if (width == Width.Avx512 ? !Vec512.IsAccelerated : !Vec256.IsAccelerated) Assert.Ignore($"{width} does not run here");
        float[] Exp(float[] x)
        {
            var y = new float[x.Length];
            if (width == Width.Avx512) Elementwise.Unary<ExpOp, Vec512>(x, y); else Elementwise.Unary<ExpOp, Vec256>(x, y);
            return y;
        }
        var sweep = Enumerable.Range(0, 20001).Select(i => -87f + i * (175.5f / 20000)).ToArray();   // −87 … 88.5
        var y = Exp(sweep);
        for (int i = 0; i < sweep.Length; i++)
        {
            double e = Math.Exp(sweep[i]);
            Assert.That(Math.Abs(y[i] - e) / e, Is.LessThan(1.5e-7), $"exp({sweep[i]:R})");
        }
        var special = Exp([float.NaN, float.NegativeInfinity, float.PositiveInfinity, -200f, 0f, 88.72f, 88.75f, 100f, -1e-30f]);
        Assert.That(special[0], Is.NaN);
        Assert.That(special[1..4], Is.EqualTo(new[] { 0f, float.PositiveInfinity, 0f }));
        Assert.That(special[4], Is.EqualTo(1f));
        Assert.That(float.IsFinite(special[5]) && special[5] > 3.3e38f, $"exp(88.72) = {special[5]}");
        Assert.That(special[6..8], Is.EqualTo(new[] { float.PositiveInfinity, float.PositiveInfinity }));
        Assert.That(special[8], Is.EqualTo(1f));
    }

    [Test]
    public void Unary_ops_of_every_width_match_their_scalar_form([Values] Width width)
    {
        CheckUnary<NegOp>(width, -5, 5, 0);
        CheckUnary<ExpOp>(width, -20, 20, 1e-6f);
        CheckUnary<LogOp>(width, 1e-3f, 100, 1e-6f);
        CheckUnary<SqrtOp>(width, 0, 100, 1e-6f);
        CheckUnary<AbsOp>(width, -5, 5, 0);
        CheckUnary<SigmoidOp>(width, -30, 30, 1e-6f);
        CheckUnary<TanhOp>(width, -30, 30, 1e-6f);
        CheckUnary<ReluOp>(width, -5, 5, 0);
        CheckUnary<SiluOp>(width, -30, 30, 1e-6f);
        CheckUnary<SoftplusOp>(width, -30, 30, 1e-6f);
        CheckUnary<GeluTanhOp>(width, -10, 10, 1e-6f);
        CheckUnary<GeluOp>(width, -10, 10, 0);
    }

    static void CheckBinary<T>(Width width, float tol) where T : IBinaryOp
    {
        foreach (int n in Lengths)
        {
            var rng = new System.Random(n + 1);
            // Positive values on a 0.1 grid: no division by zero or negative base of pow, and some ties for the comparisons.
            float[] R() => Enumerable.Range(0, n).Select(_ => MathF.Round(0.1f + (float)rng.NextDouble() * 7.9f, 1)).ToArray();
            var a = R(); var b = R();
            var expected = a.Zip(b, T.Invoke).ToArray();
            var expectedA = b.Select(e => T.Invoke(1.5f, e)).ToArray();
            var expectedB = a.Select(e => T.Invoke(e, 1.5f)).ToArray();
            var y = new float[n]; var ya = new float[n]; var yb = new float[n];
            switch (width)
            {
                case Width.Avx512: Elementwise.Binary<T, Vec512>(a, b, y); Elementwise.BinaryScalarA<T, Vec512>(1.5f, b, ya); Elementwise.BinaryScalarB<T, Vec512>(a, 1.5f, yb); break;
                case Width.Avx2: Elementwise.Binary<T, Vec256>(a, b, y); Elementwise.BinaryScalarA<T, Vec256>(1.5f, b, ya); Elementwise.BinaryScalarB<T, Vec256>(a, 1.5f, yb); break;
                default: Elementwise.Binary<T, VecT>(a, b, y); Elementwise.BinaryScalarA<T, VecT>(1.5f, b, ya); Elementwise.BinaryScalarB<T, VecT>(a, 1.5f, yb); break;
            }
            AssertClose(expected, y, tol, $"{typeof(T).Name} {width} n={n}");
            AssertClose(expectedA, ya, tol, $"{typeof(T).Name} {width} scalar a, n={n}");
            AssertClose(expectedB, yb, tol, $"{typeof(T).Name} {width} scalar b, n={n}");
        }
    }

    [Test]
    public void Binary_ops_of_every_width_match_their_scalar_form([Values] Width width)
    {
        CheckBinary<AddOp>(width, 0);
        CheckBinary<SubOp>(width, 0);
        CheckBinary<MulOp>(width, 0);
        CheckBinary<DivOp>(width, 1e-7f);
        CheckBinary<MaxOp>(width, 0);
        CheckBinary<MinOp>(width, 0);
        CheckBinary<PowOp>(width, 0);
        CheckBinary<GreaterOp>(width, 0);
        CheckBinary<LessOp>(width, 0);
        CheckBinary<GreaterEqualOp>(width, 0);
        CheckBinary<LessEqualOp>(width, 0);
        CheckBinary<EqualOp>(width, 0);
    }

    [Test]
    public void Sum_and_axpy_of_every_width_match_reference([Values] Width width)
    {
        foreach (int n in Lengths.Append(1000))
        {
            var x = Normal(n, 7, mean: 1f); var y = Normal(n, 8); var expected = (float[])y.Clone();
            for (int i = 0; i < n; i++) expected[i] += 0.5f * x[i];
            float sum;
            switch (width)
            {
                case Width.Avx512: sum = Elementwise.Sum<Vec512>(x); Elementwise.Axpy<Vec512>(0.5f, x, y); break;
                case Width.Avx2: sum = Elementwise.Sum<Vec256>(x); Elementwise.Axpy<Vec256>(0.5f, x, y); break;
                default: sum = Elementwise.Sum<VecT>(x); Elementwise.Axpy<VecT>(0.5f, x, y); break;
            }
            Assert.That(sum, Is.EqualTo(Elementwise.SumReference(x)).Within(1e-5 * (n + 1)), $"{width} sum n={n}");
            AssertClose(expected, y, 1e-6f, $"{width} axpy n={n}");
        }
    }

    [Test]
    public void Mismatched_elementwise_lengths_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => Elementwise.Binary<AddOp>(new float[3], new float[4], new float[4]));
        Assert.Throws<ArgumentException>(() => Elementwise.Unary<ExpOp, VecT>(new float[5], new float[4]));
        Assert.Throws<ArgumentException>(() => Elementwise.Axpy(1f, new float[5], new float[4]));
    }
}
