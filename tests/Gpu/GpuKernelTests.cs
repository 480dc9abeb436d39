using Kernels.Cpu;
using static Engine.Tests.GpuTestDevice;

namespace Engine.Tests;

/// <summary>Every GPU kernel (through its span-signature variant) against the CPU reference, on odd sizes, on the ILGPU CPU accelerator.</summary>
public sealed class GpuKernelTests
{
    [Test]
    public void Gemm_matches_reference_on_odd_sizes_transposes_and_alpha_beta()
    {
        foreach (var (m, n, k) in new[] { (1, 1, 1), (7, 33, 5), (65, 3, 17), (70, 66, 19), (5, 9, 0) })
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    int pad = 3, lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
                    var a = Values((ta ? k : m) * lda, 1); var b = Values((tb ? n : k) * ldb, 2);
                    var c0 = Values(m * ldc, 3); var c1 = (float[])c0.Clone();
                    Gemm.Reference(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, -1.5f, c0, ldc);
                    Variants.Gemm.Run(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, -1.5f, c1, ldc);
                    AssertClose(c0, c1, $"gemm {m}×{n}×{k} ta={ta} tb={tb}");
                }
    }

    [Test]
    public void Attention_forward_and_backward_match_reference([Values(false, true)] bool causal)
    {
        foreach (var (heads, tq, tk, d) in new[] { (2, 5, 7, 3), (1, 33, 37, 16), (3, 6, 6, 64) })
        {
            float scale = 1f / MathF.Sqrt(d);
            var q = Values(heads * tq * d, 4); var k = Values(heads * tk * d, 5); var v = Values(heads * tk * d, 6); var g = Values(heads * tq * d, 7);
            var o0 = new float[q.Length]; var l0 = new float[heads * tq]; var o1 = new float[q.Length]; var l1 = new float[heads * tq];
            Attention.ForwardReference(heads, tq, tk, d, scale, causal, q, k, v, o0, l0);
            Variants.AttentionForward.Run(heads, tq, tk, d, scale, causal, q, k, v, o1, l1);
            AssertClose(o0, o1, $"attention out {heads}×{tq}×{tk}×{d}", 2e-4f);
            AssertClose(l0, l1, "attention lse", 2e-4f);
            float[] dq0 = new float[q.Length], dk0 = new float[k.Length], dv0 = new float[v.Length];
            float[] dq1 = new float[q.Length], dk1 = new float[k.Length], dv1 = new float[v.Length];
            Attention.BackwardReference(heads, tq, tk, d, scale, causal, q, k, v, o0, l0, g, dq0, dk0, dv0);
            Variants.AttentionBackward.Run(heads, tq, tk, d, scale, causal, q, k, v, o0, l0, g, dq1, dk1, dv1);
            AssertClose(dq0, dq1, "attention dq", 5e-4f); AssertClose(dk0, dk1, "attention dk", 5e-4f); AssertClose(dv0, dv1, "attention dv", 5e-4f);
        }
    }

    static IEnumerable<Conv2dGeometry> ConvGeometries() =>
    [
        Conv2dGeometry.Of(2, 3, 7, 5, 4, 3, 3, padH: 1, padW: 1),
        Conv2dGeometry.Of(1, 4, 9, 7, 6, 3, 2, 2, 2, 1, 1, 2, 2, groups: 2),
        Conv2dGeometry.Of(2, 5, 7, 7, 3, 1, 1, 2, 2),
        Conv2dGeometry.Of(2, 3, 8, 9, 4, 3, 3, 2, 2, 1, 1) with { OutH = 3, OutW = 4 },
        // K = 2·16² = 512 positions for 4×27 weights: the weight gradient's GEMM splits K on the test device.
        Conv2dGeometry.Of(2, 3, 16, 16, 4, 3, 3, padH: 1, padW: 1),
    ];

    [Test]
    public void Conv2d_forward_and_gradients_match_reference()
    {
        foreach (var g in ConvGeometries())
        {
            var x = Values(g.InputLength, 8); var w = Values(g.WeightLength, 9); var bias = Values(g.OutChannels, 10); var dy = Values(g.OutputLength, 11);
            float[] y0 = new float[g.OutputLength], y1 = new float[g.OutputLength];
            ConvReference.Forward(g, x, w, bias, y0);
            Variants.Conv2dForward.Run(g, x, w, bias, y1);
            AssertClose(y0, y1, $"conv forward {g}");
            float[] dx0 = new float[g.InputLength], dx1 = new float[g.InputLength];
            ConvReference.InputGrad(g, dy, w, dx0);
            Variants.Conv2dInputGrad.Run(g, dy, w, dx1);
            AssertClose(dx0, dx1, $"conv input grad {g}");
            float[] dw0 = new float[g.WeightLength], dw1 = new float[g.WeightLength];
            ConvReference.WeightGrad(g, x, dy, dw0);
            Variants.Conv2dWeightGrad.Run(g, x, dy, dw1);
            AssertClose(dw0, dw1, $"conv weight grad {g}");
        }
    }

    [Test]
    public void Row_norms_match_reference()
    {
        // GroupNorm (N=3, C=6, S=5, G=3), LayerNorm (7 rows of 33), RMS norm (5 rows of 257, no affine).
        foreach (var (rows, len, groups, spatial, center, affine) in new[] { (9, 10, 3, 5, true, true), (7, 33, 1, 1, true, true), (5, 257, 1, 1, false, false) })
        {
            int channels = groups * len / spatial;
            var x = Values(rows * len, 12); var w = affine ? Values(channels, 13) : []; var b = affine ? Values(channels, 14) : []; var dy = Values(rows * len, 15);
            float[] y0 = new float[x.Length], m0 = new float[rows], r0 = new float[rows], y1 = new float[x.Length], m1 = new float[rows], r1 = new float[rows];
            Norm.RowForwardReference(rows, len, groups, spatial, 1e-5f, center, x, w, b, y0, m0, r0);
            Variants.RowNormForward.Run(rows, len, groups, spatial, 1e-5f, center, x, w, b, y1, m1, r1);
            AssertClose(y0, y1, $"norm forward {rows}×{len}"); AssertClose(r0, r1, "norm rstd");
            float[] dx0 = new float[x.Length], dw0 = new float[w.Length], db0 = new float[b.Length];
            float[] dx1 = new float[x.Length], dw1 = new float[w.Length], db1 = new float[b.Length];
            Norm.RowBackwardReference(rows, len, groups, spatial, center, x, w, m0, r0, dy, dx0, dw0, db0);
            Variants.RowNormBackward.Run(rows, len, groups, spatial, center, x, w, m0, r0, dy, dx1, dw1, db1);
            AssertClose(dx0, dx1, "norm dx", 2e-4f); AssertClose(dw0, dw1, "norm dweight", 2e-4f); AssertClose(db0, db1, "norm dbias", 2e-4f);
        }
    }

    [Test]
    public void Softmax_and_log_softmax_match_reference()
    {
        foreach (var (outer, len, inner) in new[] { (3, 7, 1), (2, 33, 5), (1, 1, 3) })
        {
            int n = outer * len * inner;
            var x = Values(n, 16); var g = Values(n, 17);
            var pairs = new (Variant<SoftmaxForwardKernel> F, SoftmaxForwardKernel RefF, Variant<SoftmaxBackwardKernel> B, SoftmaxBackwardKernel RefB)[]
            {
                (Variants.SoftmaxForward, Softmax.ForwardReference, Variants.SoftmaxBackward, Softmax.BackwardReference),
                (Variants.LogSoftmaxForward, Softmax.LogForwardReference, Variants.LogSoftmaxBackward, Softmax.LogBackwardReference),
            };
            foreach (var (f, refF, b, refB) in pairs)
            {
                float[] y0 = new float[n], y1 = new float[n], d0 = new float[n], d1 = new float[n];
                refF(outer, len, inner, x, y0); f.Run(outer, len, inner, x, y1);
                AssertClose(y0, y1, $"softmax forward ({outer}, {len}, {inner})");
                refB(outer, len, inner, y0, g, d0); b.Run(outer, len, inner, y0, g, d1);
                AssertClose(d0, d1, $"softmax backward ({outer}, {len}, {inner})");
            }
        }
    }

    [Test]
    public void AdamW_matches_reference_over_steps()
    {
        int n = 257;
        var p0 = Values(n, 18); var p1 = (float[])p0.Clone();
        float[] m0 = new float[n], v0 = new float[n], m1 = new float[n], v1 = new float[n];
        for (int step = 1; step <= 3; step++)
        {
            var g = Values(n, 19 + (ulong)step);
            AdamW.Reference(p0, g, m0, v0, 1e-2, 0.9, 0.999, 1e-8, 0.01, step);
            Variants.AdamW.Run(p1, g, m1, v1, 1e-2, 0.9, 0.999, 1e-8, 0.01, step);
        }
        AssertClose(p0, p1, "adamw param", 1e-5f); AssertClose(m0, m1, "adamw m", 1e-5f); AssertClose(v0, v1, "adamw v", 1e-5f);
    }
}
