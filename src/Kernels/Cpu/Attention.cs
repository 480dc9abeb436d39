using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>The signature of every attention-forward variant (see <see cref="Attention"/>).</summary>
public delegate void AttentionForwardKernel(int heads, int tq, int tk, int d, float scale, bool causal,
    ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> lse);

/// <summary>The signature of every attention-backward variant.</summary>
public delegate void AttentionBackwardKernel(int heads, int tq, int tk, int d, float scale, bool causal,
    ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> o, ReadOnlySpan<float> lse,
    ReadOnlySpan<float> dO, Span<float> dq, Span<float> dk, Span<float> dv);

/// <summary>
/// Scaled dot-product attention over (B·H) independent heads, each T_q×D queries against T_k×D keys and values,
/// row-major and contiguous: O = softmax(Q·Kᵀ·scale + mask)·V. The forward also writes the log-sum-exp of each
/// score row (lse), which is all the backward needs to rebuild the probabilities (FlashAttention's recomputation).
/// Causal masking lets query i see keys j ≤ i + (T_k − T_q).
/// </summary>
public static class Attention
{
    /// <summary>The reference forward: scores, softmax and the weighted sum, in double, one head at a time.</summary>
    public static void ForwardReference(int heads, int tq, int tk, int d, float scale, bool causal,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> lse)
    {
        Check(heads, tq, tk, d, q.Length, k.Length, v.Length, o.Length, lse.Length);
        var s = new double[tk];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < tq; i++)
            {
                int qi = (h * tq + i) * d, visible = Visible(i, tq, tk, causal);
                double max = double.NegativeInfinity;
                for (int j = 0; j < visible; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += (double)q[qi + c] * k[(h * tk + j) * d + c];
                    s[j] = dot * scale;
                    max = Math.Max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < visible; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                for (int c = 0; c < d; c++)
                {
                    double acc = 0;
                    for (int j = 0; j < visible; j++) acc += s[j] * v[(h * tk + j) * d + c];
                    o[qi + c] = (float)(acc / sum);
                }
                lse[h * tq + i] = (float)(max + Math.Log(sum));
            }
    }

    /// <summary>The reference backward: dV = Pᵀ·dO, dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O)), dQ = dS·K·scale, dK = dSᵀ·Q·scale.</summary>
    public static void BackwardReference(int heads, int tq, int tk, int d, float scale, bool causal,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> o, ReadOnlySpan<float> lse,
        ReadOnlySpan<float> dO, Span<float> dq, Span<float> dk, Span<float> dv)
    {
        Check(heads, tq, tk, d, q.Length, k.Length, v.Length, o.Length, lse.Length);
        dq.Clear(); dk.Clear(); dv.Clear();
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < tq; i++)
            {
                int qi = (h * tq + i) * d, visible = Visible(i, tq, tk, causal);
                double delta = 0;
                for (int c = 0; c < d; c++) delta += (double)dO[qi + c] * o[qi + c];
                for (int j = 0; j < visible; j++)
                {
                    int kj = (h * tk + j) * d;
                    double dot = 0, dp = 0;
                    for (int c = 0; c < d; c++) { dot += (double)q[qi + c] * k[kj + c]; dp += (double)dO[qi + c] * v[kj + c]; }
                    double p = Math.Exp(dot * scale - lse[h * tq + i]);
                    double ds = p * (dp - delta) * scale;
                    for (int c = 0; c < d; c++)
                    {
                        dv[kj + c] += (float)(p * dO[qi + c]);
                        dq[qi + c] += (float)(ds * k[kj + c]);
                        dk[kj + c] += (float)(ds * q[qi + c]);
                    }
                }
            }
    }

    /// <summary>
    /// Flash-style forward: for each query row, key blocks of one vector width (<typeparamref name="V"/>: 16 keys for
    /// AVX-512) are scored with the keys held transposed (so one FMA scores a whole block), folded into a running max
    /// and sum (online softmax), and the T×T matrix is never formed. Heads run in parallel.
    /// </summary>
    public static unsafe void Forward<V>(int heads, int tq, int tk, int d, float scale, bool causal,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> lse) where V : unmanaged, IVec<V>
    {
        Check(heads, tq, tk, d, q.Length, k.Length, v.Length, o.Length, lse.Length);
        fixed (float* qp = q, kp = k, vp = v, op = o, lp = lse)
        {
            nint Q = (nint)qp, K = (nint)kp, Vv = (nint)vp, O = (nint)op, L = (nint)lp;
            Parallelism.For(heads, 4L * tq * tk * d, h => ForwardHead<V>((float*)Q + h * tq * d, (float*)K + h * tk * d, (float*)Vv + h * tk * d,
                (float*)O + h * tq * d, (float*)L + h * tq, tq, tk, d, scale, causal), grain: 1 << 16);
        }
    }

    static unsafe void ForwardHead<V>(float* q, float* k, float* v, float* o, float* lse, int tq, int tk, int d, float scale, bool causal)
        where V : unmanaged, IVec<V>
    {
        int w = V.Count;
        int tkPad = (tk + 15) & ~15;
        var kt = new float[d * tkPad];                     // Kᵀ, padded to whole vectors of keys (16 covers every width)
        for (int j = 0; j < tk; j++)
            for (int c = 0; c < d; c++) kt[c * tkPad + j] = k[j * d + c];
        var scores = new float[tkPad];
        var acc = new float[d];
        fixed (float* ktp = kt, sp = scores, ap = acc)
            for (int i = 0; i < tq; i++)
            {
                float* qi = q + i * d;
                int visible = Visible(i, tq, tk, causal);
                float max = float.NegativeInfinity, sum = 0;
                new Span<float>(ap, d).Clear();
                for (int j0 = 0; j0 < visible; j0 += w)
                {
                    // w scores at once: s[j0..j0+w) = Σ_c q[c] · Kᵀ[c, j0..j0+w)
                    var s = V.Zero;
                    for (int c = 0; c < d; c++) s = V.Fma(V.Create(qi[c]), V.Load(ktp + c * tkPad + j0), s);
                    s *= V.Create(scale);
                    int n = Math.Min(w, visible - j0);
                    V.Store(s, sp);
                    float blockMax = float.NegativeInfinity;
                    for (int j = 0; j < n; j++) blockMax = MathF.Max(blockMax, sp[j]);
                    if (blockMax > max)
                    {
                        float rescale = MathF.Exp(max - blockMax);      // exp(−∞) = 0 on the first block
                        sum *= rescale;
                        Scale<V>(ap, d, rescale);
                        max = blockMax;
                    }
                    for (int j = 0; j < n; j++)
                    {
                        float p = MathF.Exp(sp[j] - max);
                        sum += p;
                        Axpy<V>(p, v + (j0 + j) * d, ap, d);
                    }
                }
                float inv = 1f / sum;
                for (int c = 0; c < d; c++) o[i * d + c] = ap[c] * inv;
                lse[i] = max + MathF.Log(sum);
            }
    }

    /// <summary>
    /// Backward with recomputation: probabilities are rebuilt from Q, K and the saved lse, one query row at a
    /// time; dQ, dK, dV accumulate per head, so heads run in parallel without sharing writes.
    /// </summary>
    public static unsafe void Backward<V>(int heads, int tq, int tk, int d, float scale, bool causal,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> o, ReadOnlySpan<float> lse,
        ReadOnlySpan<float> dO, Span<float> dq, Span<float> dk, Span<float> dv) where V : unmanaged, IVec<V>
    {
        Check(heads, tq, tk, d, q.Length, k.Length, v.Length, o.Length, lse.Length);
        dq.Clear(); dk.Clear(); dv.Clear();
        fixed (float* qp = q, kp = k, vp = v, op = o, lp = lse, gp = dO, dqp = dq, dkp = dk, dvp = dv)
        {
            nint Q = (nint)qp, K = (nint)kp, Vv = (nint)vp, O = (nint)op, L = (nint)lp, G = (nint)gp, DQ = (nint)dqp, DK = (nint)dkp, DV = (nint)dvp;
            Parallelism.For(heads, 8L * tq * tk * d, h =>
            {
                int qo = h * tq * d, ko = h * tk * d;
                BackwardHead<V>((float*)Q + qo, (float*)K + ko, (float*)Vv + ko, (float*)O + qo, (float*)L + h * tq, (float*)G + qo,
                    (float*)DQ + qo, (float*)DK + ko, (float*)DV + ko, tq, tk, d, scale, causal);
            }, grain: 1 << 16);
        }
    }

    static unsafe void BackwardHead<V>(float* q, float* k, float* v, float* o, float* lse, float* dO, float* dq, float* dk, float* dv,
        int tq, int tk, int d, float scale, bool causal) where V : unmanaged, IVec<V>
    {
        int tkPad = (tk + 15) & ~15;
        var kt = new float[d * tkPad];
        var vt = new float[d * tkPad];
        for (int j = 0; j < tk; j++)
            for (int c = 0; c < d; c++) { kt[c * tkPad + j] = k[j * d + c]; vt[c * tkPad + j] = v[j * d + c]; }
        var p = new float[tkPad];
        var ds = new float[tkPad];
        fixed (float* ktp = kt, vtp = vt, pp = p, dsp = ds)
            for (int i = 0; i < tq; i++)
            {
                float* qi = q + i * d, gi = dO + i * d;
                int visible = Visible(i, tq, tk, causal);
                float delta = Dot<V>(gi, o + i * d, d);
                var scaleV = V.Create(scale);
                for (int j0 = 0; j0 < visible; j0 += V.Count)
                {
                    V s = V.Zero, dp = V.Zero;
                    for (int c = 0; c < d; c++)
                    {
                        s = V.Fma(V.Create(qi[c]), V.Load(ktp + c * tkPad + j0), s);
                        dp = V.Fma(V.Create(gi[c]), V.Load(vtp + c * tkPad + j0), dp);
                    }
                    var prob = V.Exp(s * scaleV - V.Create(lse[i]));
                    V.Store(prob, pp + j0);
                    V.Store(prob * (dp - V.Create(delta)) * scaleV, dsp + j0);
                }
                for (int j = 0; j < visible; j++)
                {
                    Axpy<V>(pp[j], gi, dv + j * d, d);          // dV_j += p_ij · dO_i
                    Axpy<V>(dsp[j], k + j * d, dq + i * d, d);  // dQ_i += dS_ij · K_j
                    Axpy<V>(dsp[j], qi, dk + j * d, d);         // dK_j += dS_ij · Q_i
                }
            }
    }

    /// <summary>Number of keys query <paramref name="i"/> may see.</summary>
    static int Visible(int i, int tq, int tk, bool causal) => causal ? Math.Clamp(i + 1 + (tk - tq), 0, tk) : tk;

    static void Check(int heads, int tq, int tk, int d, int qLen, int kLen, int vLen, int oLen, int lseLen)
    {
        if (heads < 0 || tq < 0 || tk < 1 || d < 1) throw new ArgumentException($"Attention: invalid sizes heads={heads}, Tq={tq}, Tk={tk}, D={d}");
        if (qLen < heads * tq * d || oLen < heads * tq * d) throw new ArgumentException($"Attention: Q/O need {heads * tq * d} floats, got {qLen}/{oLen}");
        if (kLen < heads * tk * d || vLen < heads * tk * d) throw new ArgumentException($"Attention: K/V need {heads * tk * d} floats, got {kLen}/{vLen}");
        if (lseLen < heads * tq) throw new ArgumentException($"Attention: lse needs {heads * tq} floats, got {lseLen}");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Axpy<V>(float a, float* x, float* y, int n) where V : unmanaged, IVec<V>
    {
        int c = 0;
        var av = V.Create(a);
        for (; c <= n - V.Count; c += V.Count) V.Store(V.Fma(av, V.Load(x + c), V.Load(y + c)), y + c);
        for (; c < n; c++) y[c] += a * x[c];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Scale<V>(float* y, int n, float a) where V : unmanaged, IVec<V>
    {
        int c = 0;
        var av = V.Create(a);
        for (; c <= n - V.Count; c += V.Count) V.Store(V.Load(y + c) * av, y + c);
        for (; c < n; c++) y[c] *= a;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe float Dot<V>(float* x, float* y, int n) where V : unmanaged, IVec<V>
    {
        var acc = V.Zero;
        int c = 0;
        for (; c <= n - V.Count; c += V.Count) acc = V.Fma(V.Load(x + c), V.Load(y + c), acc);
        float s = V.Sum(acc);
        for (; c < n; c++) s += x[c] * y[c];
        return s;
    }
}
