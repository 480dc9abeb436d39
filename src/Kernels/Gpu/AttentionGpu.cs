using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>Sizes of one attention call (see <see cref="Cpu.Attention"/>): heads × (Tq queries, Tk keys) of width D.</summary>
public struct AttentionArgs
{
    public int Tq, Tk, D, Causal;
    public float Scale;

    /// <summary>Keys query i may see: j &lt; Visible(i) (j ≤ i + Tk − Tq when causal).</summary>
    public readonly int Visible(int i) => Causal != 0 ? Math.Min(Math.Max(i + 1 + Tk - Tq, 0), Tk) : Tk;
}

/// <summary>
/// FlashAttention on the GPU: the Tq×Tk score matrix never exists. Forward: a group of 32 threads owns 32 queries
/// (one each, its query and output rows in shared memory) and streams the keys and values through shared memory
/// 32 at a time, keeping a running maximum and normaliser per query (online softmax); it saves each row's
/// log-sum-exp. Backward (FlashAttention-2's split): Δᵢ = dOᵢ·Oᵢ; one kernel owns query blocks and accumulates
/// dQ while streaming keys, another owns key blocks and accumulates dK and dV while streaming queries, each
/// rebuilding the probabilities from the saved log-sum-exp, so no atomics are needed. Head width D ≤ 64.
/// </summary>
static class AttentionGpu
{
    public const int Block = 32, MaxD = 64, QueryTile = 16;
    const int Pad = MaxD + 1; // row stride of per-thread rows in shared memory (odd, so rows fall in distinct banks)

    public static void ForwardKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, AttentionArgs p)
    {
        var qs = SharedMemory.Allocate<float>(Block * Pad);
        var os = SharedMemory.Allocate<float>(Block * Pad);
        var ks = SharedMemory.Allocate<float>(Block * MaxD);
        var vs = SharedMemory.Allocate<float>(Block * MaxD);
        int t = Group.IdxX, h = Grid.IdxY, i0 = Grid.IdxX * Block, i = i0 + t, d = p.D;
        bool active = i < p.Tq;
        for (int c = 0; c < d; c++)
        {
            qs[t * Pad + c] = active ? q[(h * p.Tq + i) * d + c] : 0f;
            os[t * Pad + c] = 0f;
        }
        float m = float.NegativeInfinity, l = 0;
        int keyEnd = p.Visible(Math.Min(i0 + Block, p.Tq) - 1);
        for (int k0 = 0; k0 < keyEnd; k0 += Block)
        {
            Group.Barrier();
            for (int e = t; e < Block * d; e += Block)
            {
                int j = e / d, c = e % d, key = k0 + j;
                ks[j * MaxD + c] = key < p.Tk ? k[(h * p.Tk + key) * d + c] : 0f;
                vs[j * MaxD + c] = key < p.Tk ? v[(h * p.Tk + key) * d + c] : 0f;
            }
            Group.Barrier();
            int count = active ? Math.Min(Block, p.Visible(i) - k0) : 0;
            float tileMax = float.NegativeInfinity;
            for (int j = 0; j < count; j++) tileMax = Math.Max(tileMax, Dot(qs, t * Pad, ks, j * MaxD, d) * p.Scale);
            if (count > 0)
            {
                float mNew = Math.Max(m, tileMax), correction = MathF.Exp(m - mNew);
                l *= correction;
                for (int c = 0; c < d; c++) os[t * Pad + c] *= correction;
                for (int j = 0; j < count; j++)
                {
                    float pj = MathF.Exp(Dot(qs, t * Pad, ks, j * MaxD, d) * p.Scale - mNew);
                    l += pj;
                    for (int c = 0; c < d; c++) os[t * Pad + c] += pj * vs[j * MaxD + c];
                }
                m = mNew;
            }
        }
        if (!active) return;
        float inv = 1f / l;
        for (int c = 0; c < d; c++) o[(h * p.Tq + i) * d + c] = os[t * Pad + c] * inv;
        lse[h * p.Tq + i] = m + MathF.Log(l);
    }

    static float Dot(ArrayView<float> a, int ao, ArrayView<float> b, int bo, int d)
    {
        float s = 0;
        for (int c = 0; c < d; c++) s += a[ao + c] * b[bo + c];
        return s;
    }

    /// <summary>Δᵢ = Σ_c dO[i, c]·O[i, c], one thread per query row.</summary>
    public static void DeltaKernel(Index1D row, ArrayView<float> o, ArrayView<float> dO, ArrayView<float> delta, int d)
    {
        float s = 0;
        for (int c = 0; c < d; c++) s += o[row * d + c] * dO[row * d + c];
        delta[row] = s;
    }

    /// <summary>dQᵢ = scale · Σⱼ Pᵢⱼ (dOᵢ·Vⱼ − Δᵢ) Kⱼ, one thread per query, keys streamed through shared memory.</summary>
    public static void QueryGradKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse, ArrayView<float> delta,
        ArrayView<float> dO, ArrayView<float> dq, AttentionArgs p)
    {
        var qs = SharedMemory.Allocate<float>(Block * Pad);
        var gs = SharedMemory.Allocate<float>(Block * Pad);
        var dqs = SharedMemory.Allocate<float>(Block * Pad);
        var ks = SharedMemory.Allocate<float>(Block * MaxD);
        var vs = SharedMemory.Allocate<float>(Block * MaxD);
        int t = Group.IdxX, h = Grid.IdxY, i0 = Grid.IdxX * Block, i = i0 + t, d = p.D;
        bool active = i < p.Tq;
        for (int c = 0; c < d; c++)
        {
            qs[t * Pad + c] = active ? q[(h * p.Tq + i) * d + c] : 0f;
            gs[t * Pad + c] = active ? dO[(h * p.Tq + i) * d + c] : 0f;
            dqs[t * Pad + c] = 0f;
        }
        float rowLse = active ? lse[h * p.Tq + i] : 0f, rowDelta = active ? delta[h * p.Tq + i] : 0f;
        int keyEnd = p.Visible(Math.Min(i0 + Block, p.Tq) - 1);
        for (int k0 = 0; k0 < keyEnd; k0 += Block)
        {
            Group.Barrier();
            for (int e = t; e < Block * d; e += Block)
            {
                int j = e / d, c = e % d, key = k0 + j;
                ks[j * MaxD + c] = key < p.Tk ? k[(h * p.Tk + key) * d + c] : 0f;
                vs[j * MaxD + c] = key < p.Tk ? v[(h * p.Tk + key) * d + c] : 0f;
            }
            Group.Barrier();
            int count = active ? Math.Min(Block, p.Visible(i) - k0) : 0;
            for (int j = 0; j < count; j++)
            {
                float pj = MathF.Exp(Dot(qs, t * Pad, ks, j * MaxD, d) * p.Scale - rowLse);
                float ds = pj * (Dot(gs, t * Pad, vs, j * MaxD, d) - rowDelta) * p.Scale;
                for (int c = 0; c < d; c++) dqs[t * Pad + c] += ds * ks[j * MaxD + c];
            }
        }
        if (!active) return;
        for (int c = 0; c < d; c++) dq[(h * p.Tq + i) * d + c] = dqs[t * Pad + c];
    }

    /// <summary>dVⱼ = Σᵢ Pᵢⱼ dOᵢ and dKⱼ = scale · Σᵢ Pᵢⱼ (dOᵢ·Vⱼ − Δᵢ) Qᵢ, one thread per key, queries streamed 16 at a time.</summary>
    public static void KeyValueGradKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse, ArrayView<float> delta,
        ArrayView<float> dO, ArrayView<float> dk, ArrayView<float> dv, AttentionArgs p)
    {
        var ks = SharedMemory.Allocate<float>(Block * Pad);
        var vs = SharedMemory.Allocate<float>(Block * Pad);
        var dks = SharedMemory.Allocate<float>(Block * Pad);
        var dvs = SharedMemory.Allocate<float>(Block * Pad);
        var qt = SharedMemory.Allocate<float>(QueryTile * MaxD);
        var gt = SharedMemory.Allocate<float>(QueryTile * MaxD);
        var lt = SharedMemory.Allocate<float>(QueryTile);
        var dt = SharedMemory.Allocate<float>(QueryTile);
        int t = Group.IdxX, h = Grid.IdxY, j0 = Grid.IdxX * Block, j = j0 + t, d = p.D;
        bool active = j < p.Tk;
        for (int c = 0; c < d; c++)
        {
            ks[t * Pad + c] = active ? k[(h * p.Tk + j) * d + c] : 0f;
            vs[t * Pad + c] = active ? v[(h * p.Tk + j) * d + c] : 0f;
            dks[t * Pad + c] = 0f;
            dvs[t * Pad + c] = 0f;
        }
        // With a causal mask, key j is seen by queries i ≥ j − (Tk − Tq): earlier query tiles are skipped.
        int firstQuery = p.Causal != 0 ? Math.Max(0, j0 - (p.Tk - p.Tq)) : 0;
        for (int i0 = firstQuery; i0 < p.Tq; i0 += QueryTile)
        {
            Group.Barrier();
            for (int e = t; e < QueryTile * d; e += Block)
            {
                int r = e / d, c = e % d, query = i0 + r;
                qt[r * MaxD + c] = query < p.Tq ? q[(h * p.Tq + query) * d + c] : 0f;
                gt[r * MaxD + c] = query < p.Tq ? dO[(h * p.Tq + query) * d + c] : 0f;
            }
            if (t < QueryTile)
            {
                int query = i0 + t;
                lt[t] = query < p.Tq ? lse[h * p.Tq + query] : 0f;
                dt[t] = query < p.Tq ? delta[h * p.Tq + query] : 0f;
            }
            Group.Barrier();
            if (!active) continue;
            for (int r = 0; r < QueryTile; r++)
            {
                int query = i0 + r;
                if (query >= p.Tq || j >= p.Visible(query)) continue;
                float pij = MathF.Exp(Dot(qt, r * MaxD, ks, t * Pad, d) * p.Scale - lt[r]);
                float ds = pij * (Dot(gt, r * MaxD, vs, t * Pad, d) - dt[r]) * p.Scale;
                for (int c = 0; c < d; c++)
                {
                    dvs[t * Pad + c] += pij * gt[r * MaxD + c];
                    dks[t * Pad + c] += ds * qt[r * MaxD + c];
                }
            }
        }
        if (!active) return;
        for (int c = 0; c < d; c++)
        {
            dk[(h * p.Tk + j) * d + c] = dks[t * Pad + c];
            dv[(h * p.Tk + j) * d + c] = dvs[t * Pad + c];
        }
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>? attentionForward;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? attentionDelta;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>? attentionQueryGrad;
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>? attentionKeyValueGrad;

    /// <summary>The widest head the fused attention kernels take; wider heads go through MatMul and Softmax.</summary>
    public const int AttentionMaxHeadDim = AttentionGpu.MaxD;

    static AttentionArgs AttentionArgsOf(int tq, int tk, int d, float scale, bool causal)
    {
        if (d < 1 || d > AttentionGpu.MaxD) throw new ArgumentException($"Attention (GPU): head width {d} is outside [1, {AttentionGpu.MaxD}]");
        return new AttentionArgs { Tq = tq, Tk = tk, D = d, Scale = scale, Causal = causal ? 1 : 0 };
    }

    /// <summary>O = softmax(Q·Kᵀ·scale)·V per head, and each query's log-sum-exp (see <see cref="Cpu.Attention"/>).</summary>
    public void AttentionForward(int heads, int tq, int tk, int d, float scale, bool causal,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse)
    {
        var p = AttentionArgsOf(tq, tk, d, scale, causal);
        if (heads * tq == 0) return;
        attentionForward ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>(AttentionGpu.ForwardKernel);
        attentionForward(Stream, new KernelConfig(new Index2D(Groups(tq, AttentionGpu.Block), heads), new Index2D(AttentionGpu.Block, 1)), q, k, v, o, lse, p);
    }

    /// <summary>dQ, dK and dV (overwritten) from the forward's inputs, output, log-sum-exp and the output gradient dO.</summary>
    public void AttentionBackward(int heads, int tq, int tk, int d, float scale, bool causal,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dO,
        ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv)
    {
        var p = AttentionArgsOf(tq, tk, d, scale, causal);
        if (heads == 0) return;
        if (tq == 0) { Fill(dk, 0f); Fill(dv, 0f); return; }
        attentionDelta ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(AttentionGpu.DeltaKernel);
        attentionQueryGrad ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>(AttentionGpu.QueryGradKernel);
        attentionKeyValueGrad ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>(AttentionGpu.KeyValueGradKernel);
        var delta = Scratch((long)heads * tq);
        attentionDelta(Stream, heads * tq, o, dO, delta, d);
        var group = new Index2D(AttentionGpu.Block, 1);
        attentionQueryGrad(Stream, new KernelConfig(new Index2D(Groups(tq, AttentionGpu.Block), heads), group), q, k, v, lse, delta, dO, dq, p);
        attentionKeyValueGrad(Stream, new KernelConfig(new Index2D(Groups(tk, AttentionGpu.Block), heads), group), q, k, v, lse, delta, dO, dk, dv, p);
    }
}
