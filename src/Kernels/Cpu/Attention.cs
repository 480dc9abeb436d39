using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

    /// <summary>
    /// Register-blocked forward: each head is taken R query rows at a time, so every vector of keys or values loaded
    /// feeds R multiply-adds instead of one (see <see cref="AttentionBlocked{V, TRows}"/>). R = 8 with AVX-512's 32
    /// vector registers, 4 with 16. Heads run in parallel.
    /// </summary>
    public static unsafe void ForwardBlocked<V>(int heads, int tq, int tk, int d, float scale, bool causal,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> lse) where V : unmanaged, IVec<V>
    {
        Check(heads, tq, tk, d, q.Length, k.Length, v.Length, o.Length, lse.Length);
        fixed (float* qp = q, kp = k, vp = v, op = o, lp = lse)
        {
            nint Q = (nint)qp, K = (nint)kp, Vv = (nint)vp, O = (nint)op, L = (nint)lp;
            Parallelism.For(heads, 4L * tq * tk * d, h =>
            {
                float* qh = (float*)Q + h * tq * d, kh = (float*)K + h * tk * d, vh = (float*)Vv + h * tk * d, oh = (float*)O + h * tq * d, lh = (float*)L + h * tq;
                if (V.Count >= 16) AttentionBlocked<V, Rows8>.ForwardHead(qh, kh, vh, oh, lh, tq, tk, d, scale, causal);
                else AttentionBlocked<V, Rows4>.ForwardHead(qh, kh, vh, oh, lh, tq, tk, d, scale, causal);
            }, grain: 1 << 16);
        }
    }

    /// <summary>
    /// Register-blocked backward (same math as <see cref="BackwardReference"/>), R query rows at a time: the
    /// probabilities are rebuilt from the saved lse, and each head writes all of its own dQ, dK, dV (so the outputs
    /// need no clearing beforehand), so heads run in parallel.
    /// </summary>
    public static unsafe void BackwardBlocked<V>(int heads, int tq, int tk, int d, float scale, bool causal,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> o, ReadOnlySpan<float> lse,
        ReadOnlySpan<float> dO, Span<float> dq, Span<float> dk, Span<float> dv) where V : unmanaged, IVec<V>
    {
        Check(heads, tq, tk, d, q.Length, k.Length, v.Length, o.Length, lse.Length);
        int nq = heads * tq * d, nk = heads * tk * d;
        if (dO.Length < nq || dq.Length < nq || dk.Length < nk || dv.Length < nk)
            throw new ArgumentException($"Attention: dO/dQ/dK/dV need {nq}/{nq}/{nk}/{nk} floats, got {dO.Length}/{dq.Length}/{dk.Length}/{dv.Length}");
        dq[nq..].Clear(); dk[nk..].Clear(); dv[nk..].Clear();
        fixed (float* qp = q, kp = k, vp = v, op = o, lp = lse, gp = dO, dqp = dq, dkp = dk, dvp = dv)
        {
            nint Q = (nint)qp, K = (nint)kp, Vv = (nint)vp, O = (nint)op, L = (nint)lp, G = (nint)gp, DQ = (nint)dqp, DK = (nint)dkp, DV = (nint)dvp;
            Parallelism.For(heads, 8L * tq * tk * d, h =>
            {
                int qo = h * tq * d, ko = h * tk * d;
                if (V.Count >= 16)
                    AttentionBlocked<V, Rows8>.BackwardHead((float*)Q + qo, (float*)K + ko, (float*)Vv + ko, (float*)O + qo, (float*)L + h * tq,
                        (float*)G + qo, (float*)DQ + qo, (float*)DK + ko, (float*)DV + ko, tq, tk, d, scale, causal);
                else
                    AttentionBlocked<V, Rows4>.BackwardHead((float*)Q + qo, (float*)K + ko, (float*)Vv + ko, (float*)O + qo, (float*)L + h * tq,
                        (float*)G + qo, (float*)DQ + qo, (float*)DK + ko, (float*)DV + ko, tq, tk, d, scale, causal);
            }, grain: 1 << 16);
        }
    }

    /// <summary>Number of keys query <paramref name="i"/> may see.</summary>
    internal static int Visible(int i, int tq, int tk, bool causal) => causal ? Math.Clamp(i + 1 + (tk - tq), 0, tk) : tk;

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
    internal static unsafe float Dot<V>(float* x, float* y, int n) where V : unmanaged, IVec<V>
    {
        var acc = V.Zero;
        int c = 0;
        for (; c <= n - V.Count; c += V.Count) acc = V.Fma(V.Load(x + c), V.Load(y + c), acc);
        float s = V.Sum(acc);
        for (; c < n; c++) s += x[c] * y[c];
        return s;
    }
}

/// <summary>
/// The register-blocked attention kernels behind <see cref="Attention.ForwardBlocked{V}"/> and
/// <see cref="Attention.BackwardBlocked{V}"/>, for one head at a time, R = <typeparamref name="TRows"/> query rows per
/// block. The flash kernels score one query row against a vector of keys, so each FMA needs its own load of Kᵀ or V;
/// here every product is a small GEMM with a register tile of R rows × 1 or 2 vectors of columns (<see cref="Tile"/>),
/// in which one load of the right-hand operand feeds R FMAs and the left-hand one is broadcast per row:
/// <list type="number">
/// <item>S = Q_blk·Kᵀ·scale (R × T_k), Kᵀ packed once per head (D × T_k, padded to whole vectors of keys);</item>
/// <item>softmax of each row of S in vectors: keys a causal row may not see and the padding set to −∞, max, exp, sum, lse;</item>
/// <item>O_blk = P·V, then each row divided by its sum.</item>
/// </list>
/// The backward rebuilds P from the saved lse and dP = dO_blk·Vᵀ with the same tile, forms dS = P ⊙ (dP − rowsum(dO ⊙ O))·scale,
/// and gets dQ_blk = dS·K with the tile too. dV += Pᵀ·dO_blk and dK += dSᵀ·Q_blk use the transposed tile
/// (<see cref="TileTransposed"/>), which holds the R rows of dO (or Q) in registers and passes over the keys once, so each
/// row of dV and dK is loaded and stored once per block rather than once per query row. Only R × T_k scores are ever
/// formed, in per-thread scratch (no allocation per call once warm). A D that is not a multiple of the vector width goes
/// through zero-padded copies (V, K, the block's rows of Q and dO, and the dK, dV sums); the causal mask sees
/// keys j ≤ i + (T_k − T_q); a row that sees no key gets NaN and lse −∞, as the reference does.
/// </summary>
internal static unsafe class AttentionBlocked<V, TRows> where V : unmanaged, IVec<V> where TRows : struct, IMicroRows
{
    /// <summary>Vectors of columns per register tile: a constant the JIT folds away.</summary>
    interface IColumns { static abstract bool Two { get; } }
    readonly struct OneVector : IColumns { public static bool Two => false; }
    readonly struct TwoVectors : IColumns { public static bool Two => true; }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ForwardHead(float* q, float* k, float* v, float* o, float* lse, int tq, int tk, int d, float scale, bool causal)
    {
        int w = V.Count, R = TRows.Count;
        int tkPad = RoundUp(tk, w), dPad = RoundUp(d, w);
        bool padD = dPad != d;
        float* at = Scratch.ForThisThread(Size(d * tkPad) + Size(R * tkPad) + Size(R * dPad) + Size(R) + (padD ? Size(tk * dPad) : 0));
        float* kt = Take(ref at, d * tkPad), s = Take(ref at, R * tkPad), oTile = Take(ref at, R * dPad), inv = Take(ref at, R);
        PackTransposed(k, tk, d, kt, tkPad);
        float* vRows = padD ? PackPadded(v, tk, d, Take(ref at, tk * dPad), dPad) : v;
        int ldv = padD ? dPad : d;
        for (int i0 = 0; i0 < tq; i0 += R)
        {
            int rows = Math.Min(R, tq - i0);
            int keys = Attention.Visible(i0 + rows - 1, tq, tk, causal);     // the most keys any row of the block sees
            int kEnd = RoundUp(keys, w);
            Product(d, q + i0 * d, d, kt, tkPad, s, tkPad, rows, kEnd, scale);
            for (int r = 0; r < rows; r++)
            {
                float* sr = s + r * tkPad;
                int visible = Attention.Visible(i0 + r, tq, tk, causal);
                for (int j = visible; j < kEnd; j++) sr[j] = float.NegativeInfinity;
                var mv = V.Create(float.NegativeInfinity);
                for (int j = 0; j < kEnd; j += w) mv = V.Max(mv, V.Load(sr + j));
                float max = V.MaxLane(mv);
                var shift = V.Create(float.IsNegativeInfinity(max) ? 0 : max);     // a row that sees nothing: all p = 0
                var sv = V.Zero;
                for (int j = 0; j < kEnd; j += w)
                {
                    var p = V.Exp(V.Load(sr + j) - shift);
                    V.Store(p, sr + j);
                    sv += p;
                }
                float sum = V.Sum(sv);
                inv[r] = 1f / sum;
                lse[i0 + r] = max + MathF.Log(sum);
            }
            float* dst = padD ? oTile : o + i0 * d;
            int ldo = padD ? dPad : d;
            Product(keys, s, tkPad, vRows, ldv, dst, ldo, rows, dPad, 1f);
            for (int r = 0; r < rows; r++)
            {
                float* from = dst + r * ldo, to = o + (i0 + r) * d;
                var iv = V.Create(inv[r]);
                int c = 0;
                for (; c <= d - w; c += w) V.Store(V.Load(from + c) * iv, to + c);
                for (; c < d; c++) to[c] = from[c] * inv[r];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BackwardHead(float* q, float* k, float* v, float* o, float* lse, float* dO, float* dq, float* dk, float* dv,
        int tq, int tk, int d, float scale, bool causal)
    {
        int w = V.Count, R = TRows.Count;
        int tkPad = RoundUp(tk, w), dPad = RoundUp(d, w);
        bool padD = dPad != d;
        float* at = Scratch.ForThisThread(2 * Size(d * tkPad) + 2 * Size(R * tkPad) + (padD ? 3 * Size(tk * dPad) + 3 * Size(R * dPad) : 0));
        float* kt = Take(ref at, d * tkPad), vt = Take(ref at, d * tkPad), s = Take(ref at, R * tkPad), ds = Take(ref at, R * tkPad);
        PackTransposed(k, tk, d, kt, tkPad);
        PackTransposed(v, tk, d, vt, tkPad);
        float* kRows = k, dkSum = dk, dvSum = dv, qPad = null, gPad = null, dqTile = null;
        int ld = d;                                        // row stride of K, dK, dV, and the blocks of Q, dO, dQ
        if (padD)
        {
            ld = dPad;
            kRows = PackPadded(k, tk, d, Take(ref at, tk * dPad), dPad);
            dkSum = Take(ref at, tk * dPad);
            dvSum = Take(ref at, tk * dPad);
            qPad = Take(ref at, R * dPad); gPad = Take(ref at, R * dPad); dqTile = Take(ref at, R * dPad);
        }
        new Span<float>(dkSum, tk * ld).Clear();           // dQ is stored block by block; dK and dV are sums
        new Span<float>(dvSum, tk * ld).Clear();
        var scaleV = V.Create(scale);
        for (int i0 = 0; i0 < tq; i0 += R)
        {
            int rows = Math.Min(R, tq - i0);
            int keys = Attention.Visible(i0 + rows - 1, tq, tk, causal);
            int kEnd = RoundUp(keys, w);
            float* qb = q + i0 * d, gb = dO + i0 * d;
            Product(d, qb, d, kt, tkPad, s, tkPad, rows, kEnd, scale);       // S = Q·Kᵀ·scale
            Product(d, gb, d, vt, tkPad, ds, tkPad, rows, kEnd, 1f);         // dP = dO·Vᵀ
            for (int r = 0; r < rows; r++)
            {
                float* sr = s + r * tkPad, dr = ds + r * tkPad;
                int visible = Attention.Visible(i0 + r, tq, tk, causal);
                var l = V.Create(lse[i0 + r]);
                var delta = V.Create(Attention.Dot<V>(gb + r * d, o + (i0 + r) * d, d));
                for (int j = 0; j < kEnd; j += w)
                {
                    var p = V.Exp(V.Load(sr + j) - l);
                    V.Store(p, sr + j);
                    V.Store(p * (V.Load(dr + j) - delta) * scaleV, dr + j);
                }
                for (int j = visible; j < kEnd; j++) sr[j] = dr[j] = 0;       // masked keys and padding (whatever exp gave)
            }
            if (padD)
            {
                qb = PackPadded(qb, rows, d, qPad, dPad);
                gb = PackPadded(gb, rows, d, gPad, dPad);
                Product(keys, ds, tkPad, kRows, ld, dqTile, ld, rows, dPad, 1f);
                for (int r = 0; r < rows; r++) new Span<float>(dqTile + r * ld, d).CopyTo(new Span<float>(dq + (i0 + r) * d, d));
            }
            else Product(keys, ds, tkPad, kRows, ld, dq + i0 * d, ld, rows, dPad, 1f);   // dQ = dS·K
            ProductTransposed(keys, s, tkPad, gb, ld, dvSum, ld, rows, dPad);           // dV += Pᵀ·dO
            ProductTransposed(keys, ds, tkPad, qb, ld, dkSum, ld, rows, dPad);          // dK += dSᵀ·Q
        }
        if (padD)
            for (int j = 0; j < tk; j++)
            {
                new Span<float>(dkSum + j * dPad, d).CopyTo(new Span<float>(dk + j * d, d));
                new Span<float>(dvSum + j * dPad, d).CopyTo(new Span<float>(dv + j * d, d));
            }
    }

    /// <summary>
    /// C[r, 0..n) = alpha · A[r, 0..depth)·B[0..depth, 0..n) for r &lt; rows ≤ R, n a multiple of the vector width:
    /// tiles of two vectors of columns, then one. A row r at a + r·lda, B row p at b + p·ldb.
    /// </summary>
    static void Product(int depth, float* a, int lda, float* b, int ldb, float* c, int ldc, int rows, int n, float alpha)
    {
        int w = V.Count, j = 0;
        for (; j + 2 * w <= n; j += 2 * w) Tile<TwoVectors>(depth, a, lda, b + j, ldb, c + j, ldc, rows, alpha);
        if (j < n) Tile<OneVector>(depth, a, lda, b + j, ldb, c + j, ldc, rows, alpha);
    }

    /// <summary>C[0..keys, 0..n) += A[0..rows, 0..keys)ᵀ·B[0..rows, 0..n), n a multiple of the vector width, in tiles as <see cref="Product"/>.</summary>
    static void ProductTransposed(int keys, float* a, int lda, float* b, int ldb, float* c, int ldc, int rows, int n)
    {
        int w = V.Count, j = 0;
        for (; j + 2 * w <= n; j += 2 * w) TileTransposed<TwoVectors>(keys, a, lda, b + j, ldb, c + j, ldc, rows);
        if (j < n) TileTransposed<OneVector>(keys, a, lda, b + j, ldb, c + j, ldc, rows);
    }

    /// <summary>
    /// The register tile: C[r, 0..N) = alpha · Σ_p A[r, p]·B[p, 0..N) for r &lt; rows, N = 1 or 2 vectors. Per step p,
    /// one or two loads of B feed R FMAs each, against a broadcast of A[r, p]. Rows from <paramref name="rows"/> to R
    /// read row rows − 1 (so no load strays) and are not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile<TCols>(int depth, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int rows, float alpha)
        where TCols : struct, IColumns
    {
        int w = V.Count, last = rows - 1;
        bool two = TCols.Two, eight = TRows.Count > 4;
        float* a0 = a, a1 = a + Math.Min(1, last) * lda, a2 = a + Math.Min(2, last) * lda, a3 = a + Math.Min(3, last) * lda;
        float* a4 = a + Math.Min(4, last) * lda, a5 = a + Math.Min(5, last) * lda, a6 = a + Math.Min(6, last) * lda, a7 = a + Math.Min(7, last) * lda;
        V c0a = default, c0b = default, c1a = default, c1b = default, c2a = default, c2b = default, c3a = default, c3b = default;
        V c4a = default, c4b = default, c5a = default, c5b = default, c6a = default, c6b = default, c7a = default, c7b = default;
        for (int p = 0; p < depth; p++, b += ldb)
        {
            var b0 = V.Load(b);
            var b1 = two ? V.Load(b + w) : default;
            { var x = V.Create(a0[p]); c0a = V.Fma(x, b0, c0a); if (two) c0b = V.Fma(x, b1, c0b); }
            { var x = V.Create(a1[p]); c1a = V.Fma(x, b0, c1a); if (two) c1b = V.Fma(x, b1, c1b); }
            { var x = V.Create(a2[p]); c2a = V.Fma(x, b0, c2a); if (two) c2b = V.Fma(x, b1, c2b); }
            { var x = V.Create(a3[p]); c3a = V.Fma(x, b0, c3a); if (two) c3b = V.Fma(x, b1, c3b); }
            if (eight)
            {
                { var x = V.Create(a4[p]); c4a = V.Fma(x, b0, c4a); if (two) c4b = V.Fma(x, b1, c4b); }
                { var x = V.Create(a5[p]); c5a = V.Fma(x, b0, c5a); if (two) c5b = V.Fma(x, b1, c5b); }
                { var x = V.Create(a6[p]); c6a = V.Fma(x, b0, c6a); if (two) c6b = V.Fma(x, b1, c6b); }
                { var x = V.Create(a7[p]); c7a = V.Fma(x, b0, c7a); if (two) c7b = V.Fma(x, b1, c7b); }
            }
        }
        var av = V.Create(alpha);
        StoreRow<TCols>(c, c0a, c0b, av);
        if (rows > 1) StoreRow<TCols>(c + ldc, c1a, c1b, av);
        if (rows > 2) StoreRow<TCols>(c + 2 * ldc, c2a, c2b, av);
        if (rows > 3) StoreRow<TCols>(c + 3 * ldc, c3a, c3b, av);
        if (eight)
        {
            if (rows > 4) StoreRow<TCols>(c + 4 * ldc, c4a, c4b, av);
            if (rows > 5) StoreRow<TCols>(c + 5 * ldc, c5a, c5b, av);
            if (rows > 6) StoreRow<TCols>(c + 6 * ldc, c6a, c6b, av);
            if (rows > 7) StoreRow<TCols>(c + 7 * ldc, c7a, c7b, av);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRow<TCols>(float* c, V x, V y, V alpha) where TCols : struct, IColumns
    {
        V.Store(x * alpha, c);
        if (TCols.Two) V.Store(y * alpha, c + V.Count);
    }

    /// <summary>
    /// The transposed register tile: C[j, 0..N) += Σ_{r &lt; rows} A[r, j]·B[r, 0..N) for j &lt; keys, N = 1 or 2 vectors.
    /// The R rows of B stay in registers (zero past <paramref name="rows"/>); per key, C's row is loaded and stored once
    /// and takes R FMAs against broadcasts of A[r, j], summed in two chains of R/2 to shorten the dependency.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void TileTransposed<TCols>(int keys, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int rows)
        where TCols : struct, IColumns
    {
        int w = V.Count, last = rows - 1;
        bool two = TCols.Two, eight = TRows.Count > 4;
        float* a0 = a, a1 = a + Math.Min(1, last) * lda, a2 = a + Math.Min(2, last) * lda, a3 = a + Math.Min(3, last) * lda;
        float* a4 = a + Math.Min(4, last) * lda, a5 = a + Math.Min(5, last) * lda, a6 = a + Math.Min(6, last) * lda, a7 = a + Math.Min(7, last) * lda;
        V b0a = LoadRow(b, 0, rows, 0), b0b = two ? LoadRow(b, 0, rows, w) : default;
        V b1a = LoadRow(b + ldb, 1, rows, 0), b1b = two ? LoadRow(b + ldb, 1, rows, w) : default;
        V b2a = LoadRow(b + 2 * ldb, 2, rows, 0), b2b = two ? LoadRow(b + 2 * ldb, 2, rows, w) : default;
        V b3a = LoadRow(b + 3 * ldb, 3, rows, 0), b3b = two ? LoadRow(b + 3 * ldb, 3, rows, w) : default;
        V b4a = default, b4b = default, b5a = default, b5b = default, b6a = default, b6b = default, b7a = default, b7b = default;
        if (eight)
        {
            b4a = LoadRow(b + 4 * ldb, 4, rows, 0); b4b = two ? LoadRow(b + 4 * ldb, 4, rows, w) : default;
            b5a = LoadRow(b + 5 * ldb, 5, rows, 0); b5b = two ? LoadRow(b + 5 * ldb, 5, rows, w) : default;
            b6a = LoadRow(b + 6 * ldb, 6, rows, 0); b6b = two ? LoadRow(b + 6 * ldb, 6, rows, w) : default;
            b7a = LoadRow(b + 7 * ldb, 7, rows, 0); b7b = two ? LoadRow(b + 7 * ldb, 7, rows, w) : default;
        }
        for (int j = 0; j < keys; j++, c += ldc)
        {
            var xa = V.Load(c);
            var xb = two ? V.Load(c + w) : default;
            V ya, yb = default;
            { var s = V.Create(a0[j]); xa = V.Fma(s, b0a, xa); if (two) xb = V.Fma(s, b0b, xb); }
            { var s = V.Create(a1[j]); ya = s * b1a; if (two) yb = s * b1b; }
            { var s = V.Create(a2[j]); xa = V.Fma(s, b2a, xa); if (two) xb = V.Fma(s, b2b, xb); }
            { var s = V.Create(a3[j]); ya = V.Fma(s, b3a, ya); if (two) yb = V.Fma(s, b3b, yb); }
            if (eight)
            {
                { var s = V.Create(a4[j]); xa = V.Fma(s, b4a, xa); if (two) xb = V.Fma(s, b4b, xb); }
                { var s = V.Create(a5[j]); ya = V.Fma(s, b5a, ya); if (two) yb = V.Fma(s, b5b, yb); }
                { var s = V.Create(a6[j]); xa = V.Fma(s, b6a, xa); if (two) xb = V.Fma(s, b6b, xb); }
                { var s = V.Create(a7[j]); ya = V.Fma(s, b7a, ya); if (two) yb = V.Fma(s, b7b, yb); }
            }
            V.Store(xa + ya, c);
            if (two) V.Store(xb + yb, c + w);
        }
    }

    /// <summary>Row <paramref name="r"/> of B from column <paramref name="offset"/>, or zero for a row past the block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static V LoadRow(float* row, int r, int rows, int offset) => r < rows ? V.Load(row + offset) : V.Zero;

    /// <summary>
    /// Kᵀ (or Vᵀ): t[c·ld + j] = x[j·d + c], with the padding columns j ≥ n zero. With AVX-512, 16×16 blocks go
    /// through registers (<see cref="GemmPacking.Transpose16"/>: five times as fast as element by element), the edges element by element.
    /// </summary>
    static void PackTransposed(float* x, int n, int d, float* t, int ld)
    {
        int n16 = 0, d16 = 0;
        if (typeof(V) == typeof(Vec512) && Avx512F.IsSupported)
        {
            n16 = n & ~15; d16 = d & ~15;
            for (int j = 0; j < n16; j += 16)
                for (int c = 0; c < d16; c += 16) GemmPacking.Transpose16(x + j * d + c, d, 16, 16, t + c * ld + j, ld);
        }
        for (int j = 0; j < n; j++)                        // what the blocks left: the last rows, then the last columns
        {
            float* xj = x + j * d, tj = t + j;
            for (int c = j < n16 ? d16 : 0; c < d; c++) tj[c * ld] = xj[c];
        }
        for (int c = 0; c < d; c++)
            for (int j = n; j < ld; j++) t[c * ld + j] = 0;
    }

    /// <summary>Copies n rows of d floats to rows of <paramref name="ld"/> floats, zero-padded; returns the copy.</summary>
    static float* PackPadded(float* x, int n, int d, float* to, int ld)
    {
        for (int j = 0; j < n; j++)
        {
            new Span<float>(x + j * d, d).CopyTo(new Span<float>(to + j * ld, d));
            new Span<float>(to + j * ld + d, ld - d).Clear();
        }
        return to;
    }

    static int RoundUp(int n, int unit) => (n + unit - 1) / unit * unit;

    /// <summary>Floats a scratch array of <paramref name="n"/> floats takes, rounded up to whole 64-byte lines.</summary>
    static nint Size(int n) => RoundUp(n, 16);

    /// <summary>The next <paramref name="n"/> floats of scratch (64-byte aligned).</summary>
    static float* Take(ref float* at, int n)
    {
        float* p = at;
        at += Size(n);
        return p;
    }

    /// <summary>A thread's scratch: 64-byte aligned native memory, grown on demand and reused by every later head.</summary>
    sealed class Scratch
    {
        [ThreadStatic] static Scratch? current;
        float* buffer;
        nint floats;

        public static float* ForThisThread(nint need)
        {
            var s = current ??= new Scratch();
            if (s.floats < need) s.buffer = GemmBlocked.PackBuffers.Grow(s.buffer, ref s.floats, need);
            return s.buffer;
        }

        ~Scratch() => NativeMemory.AlignedFree(buffer);
    }
}
