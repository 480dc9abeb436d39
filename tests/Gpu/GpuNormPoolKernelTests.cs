using Kernels.Cpu;
using Kernels.Gpu;
using static Engine.Tests.GpuTestDevice;

namespace Engine.Tests;

/// <summary>
/// The batch-norm, fused norm + SiLU, modulation, pooling and upsampling kernels of <see cref="GpuKernels"/> on the
/// ILGPU CPU accelerator, against the CPU references (Kernels.Cpu) or the CPU ops and their autograd, on odd sizes.
/// </summary>
public sealed class GpuNormPoolKernelTests
{
    static GpuKernels K => GpuBuffers.K;
    static float[] Down(ILGPU.ArrayView<float> v) => GpuBuffers.Down(v);

    [Test]
    public void BatchNorm_stats_forward_and_backward_match_reference()
    {
        foreach (var (n, c, s) in new[] { (2, 3, 5), (1, 7, 33), (3, 1, 1), (5, 2, 70) })
            foreach (bool affine in new[] { true, false })
            {
                using var d = new GpuBuffers();
                int len = n * c * s;
                var x = Values(len, 30); var w = affine ? Values(c, 31) : []; var b = affine ? Values(c, 32) : []; var dy = Values(len, 33);
                float[] mean0 = new float[c], var0 = new float[c];
                Norm.BatchStatsReference(n, c, s, x, mean0, var0);
                var xv = d.Up(x); var mean1 = d.Out(c); var var1 = d.Out(c);
                K.BatchNormStats(n, c, s, xv, mean1, var1);
                AssertClose(mean0, Down(mean1), $"batch-norm mean ({n}, {c}, {s})");
                AssertClose(var0, Down(var1), $"batch-norm variance ({n}, {c}, {s})");

                var rstd = var0.Select(v => (float)(1.0 / Math.Sqrt(v + 1e-5))).ToArray();
                var y0 = new float[len];
                Norm.BatchForwardReference(n, c, s, x, mean0, rstd, w, b, y0);
                var y1 = d.Out(len);
                K.BatchNormForward(n, c, s, xv, d.Up(mean0), d.Up(rstd), d.Up(w), d.Up(b), y1);
                AssertClose(y0, Down(y1), $"batch-norm forward ({n}, {c}, {s}) affine={affine}");

                foreach (bool training in new[] { true, false })
                {
                    float[] dx0 = new float[len], dw0 = new float[w.Length], db0 = new float[b.Length];
                    Norm.BatchBackwardReference(n, c, s, training, x, mean0, rstd, w, dy, dx0, dw0, db0);
                    var dx1 = d.Out(len); var dw1 = d.Out(w.Length); var db1 = d.Out(b.Length);
                    K.BatchNormBackward(n, c, s, training, xv, d.Up(mean0), d.Up(rstd), d.Up(w), d.Up(dy), dx1, dw1, db1);
                    AssertClose(dx0, Down(dx1), $"batch-norm dx ({n}, {c}, {s}) training={training}", 2e-4f);
                    AssertClose(dw0, Down(dw1), "batch-norm dweight", 2e-4f);
                    AssertClose(db0, Down(db1), "batch-norm dbias", 2e-4f);
                }
            }
    }

    [Test]
    public void BatchNorm_train_and_eval_statistics_match_the_op_formulas()
    {
        int n = 3, c = 5, s = 7, count = n * s;
        float momentum = 0.1f, eps = 1e-5f;
        using var d = new GpuBuffers();
        var x = Values(n * c * s, 34); var rm = Values(c, 35); var rv = Values(c, 36).Select(v => Math.Abs(v) + 0.5f).ToArray();
        float[] mean0 = new float[c], var0 = new float[c];
        Norm.BatchStatsReference(n, c, s, x, mean0, var0);
        var rm0 = new float[c]; var rv0 = new float[c]; var rstd0 = new float[c];
        for (int ch = 0; ch < c; ch++)
        {
            rm0[ch] = (float)((1 - momentum) * rm[ch] + momentum * (double)mean0[ch]);
            rv0[ch] = (float)((1 - momentum) * rv[ch] + momentum * (double)var0[ch] * count / (count - 1));
            rstd0[ch] = (float)(1.0 / Math.Sqrt(var0[ch] + (double)eps));
        }
        var mean1 = d.Out(c); var rstd1 = d.Out(c); var rm1 = d.Up(rm); var rv1 = d.Up(rv);
        K.BatchNormTrainStats(n, c, s, momentum, eps, d.Up(x), mean1, rstd1, rm1, rv1);
        AssertClose(mean0, Down(mean1), "train mean"); AssertClose(rstd0, Down(rstd1), "train rstd");
        AssertClose(rm0, Down(rm1), "running mean"); AssertClose(rv0, Down(rv1), "running variance");

        var rstdNoRunning = d.Out(c);
        K.BatchNormTrainStats(n, c, s, momentum, eps, d.Up(x), d.Out(c), rstdNoRunning, default, default);
        AssertClose(rstd0, Down(rstdNoRunning), "train rstd without running buffers");

        var evalMean = d.Out(c); var evalRstd = d.Out(c);
        K.BatchNormEvalStats(c, eps, d.Up(rm), d.Up(rv), evalMean, evalRstd);
        AssertClose(rm, Down(evalMean), "eval mean");
        AssertClose(rv.Select(v => (float)(1.0 / Math.Sqrt(v + (double)eps))).ToArray(), Down(evalRstd), "eval rstd");
    }

    [Test]
    public void GroupNorm_silu_forward_and_backward_match_reference()
    {
        // GroupNorm (N=3, C=6, S=5, G=3), (N=1, C=7, S=33, G=7), one row of 257 without affine parameters.
        foreach (var (rows, len, groups, spatial, affine) in new[] { (9, 10, 3, 5, true), (7, 33, 7, 33, true), (1, 257, 1, 1, false), (2, 1, 1, 1, true) })
        {
            using var d = new GpuBuffers();
            int channels = groups * len / spatial;
            var x = Values(rows * len, 40); var w = affine ? Values(channels, 41) : []; var b = affine ? Values(channels, 42) : []; var dy = Values(rows * len, 43);
            float[] y0 = new float[x.Length], m0 = new float[rows], r0 = new float[rows];
            Norm.RowForwardSiluReference(rows, len, groups, spatial, 1e-5f, true, x, w, b, y0, m0, r0);
            var y1 = d.Out(x.Length); var m1 = d.Out(rows); var r1 = d.Out(rows);
            K.RowNormSiluForward(rows, len, groups, spatial, 1e-5f, true, d.Up(x), d.Up(w), d.Up(b), y1, m1, r1);
            AssertClose(y0, Down(y1), $"norm+silu forward {rows}×{len}"); AssertClose(m0, Down(m1), "norm+silu mean"); AssertClose(r0, Down(r1), "norm+silu rstd");

            float[] dx0 = new float[x.Length], dw0 = new float[w.Length], db0 = new float[b.Length];
            Norm.RowBackwardSiluReference(rows, len, groups, spatial, true, x, w, b, m0, r0, dy, dx0, dw0, db0);
            var dx1 = d.Out(x.Length); var dw1 = d.Out(w.Length); var db1 = d.Out(b.Length);
            K.RowNormSiluBackward(rows, len, groups, spatial, true, d.Up(x), d.Up(w), d.Up(b), d.Up(m0), d.Up(r0), d.Up(dy), dx1, dw1, db1);
            AssertClose(dx0, Down(dx1), $"norm+silu dx {rows}×{len}", 2e-4f);
            AssertClose(dw0, Down(dw1), "norm+silu dweight", 2e-4f); AssertClose(db0, Down(db1), "norm+silu dbias", 2e-4f);
        }
    }

    [Test]
    public void Modulate_and_gated_add_match_reference()
    {
        foreach (var (b, t, dd) in new[] { (1, 1, 1), (2, 7, 33), (3, 5, 4) })
        {
            using var d = new GpuBuffers();
            int n = b * t * dd, m = b * dd;
            var x = Values(n, 50); var shift = Values(m, 51); var scale = Values(m, 52); var branch = Values(n, 53); var g = Values(n, 54);
            var y0 = new float[n]; var y1 = d.Out(n);
            Modulation.ModulateReference(b, t, dd, x, shift, scale, y0);
            K.Modulate(b, t, dd, d.Up(x), d.Up(shift), d.Up(scale), y1);
            AssertClose(y0, Down(y1), $"modulate ({b}, {t}, {dd})");
            float[] dx0 = new float[n], dshift0 = new float[m], dscale0 = new float[m];
            Modulation.ModulateBackwardReference(b, t, dd, x, scale, g, dx0, dshift0, dscale0);
            var dx1 = d.Out(n); var dshift1 = d.Out(m); var dscale1 = d.Out(m);
            K.ModulateBackward(b, t, dd, d.Up(x), d.Up(scale), d.Up(g), dx1, dshift1, dscale1);
            AssertClose(dx0, Down(dx1), "modulate dx"); AssertClose(dshift0, Down(dshift1), "modulate dshift"); AssertClose(dscale0, Down(dscale1), "modulate dscale");

            var z0 = new float[n]; var z1 = d.Out(n);
            Modulation.GatedAddReference(b, t, dd, x, shift, branch, z0);
            K.GatedAdd(b, t, dd, d.Up(x), d.Up(shift), d.Up(branch), z1);
            AssertClose(z0, Down(z1), $"gated add ({b}, {t}, {dd})");
            float[] dbranch0 = new float[n], dgate0 = new float[m];
            Modulation.GatedAddBackwardReference(b, t, dd, shift, branch, g, dbranch0, dgate0);
            var dbranch1 = d.Out(n); var dgate1 = d.Out(m);
            K.GatedAddBackward(b, t, dd, d.Up(shift), d.Up(branch), d.Up(g), dbranch1, dgate1);
            AssertClose(dbranch0, Down(dbranch1), "gated add dbranch"); AssertClose(dgate0, Down(dgate1), "gated add dgate");
            var dgateOnly = d.Out(m);
            K.GatedAddBackward(b, t, dd, d.Up(shift), d.Up(branch), d.Up(g), default, dgateOnly);
            AssertClose(dgate0, Down(dgateOnly), "gated add dgate without dbranch");
        }
    }

    /// <summary>Values on a grid of halves, so windows hold ties and max pooling's choice of the first maximum is tested.</summary>
    static float[] Coarse(int n, ulong seed) => Values(n, seed).Select(v => MathF.Round(v * 2f) / 2f).ToArray();

    static IEnumerable<(int N, int C, int H, int W, int K, int S, int P)> PoolGeometries() =>
    [
        (1, 1, 1, 1, 1, 1, 0), (2, 3, 7, 5, 3, 2, 1), (1, 2, 9, 8, 2, 2, 0), (1, 1, 7, 7, 3, 1, 1), (2, 1, 6, 11, 4, 3, 2), (1, 1, 33, 5, 5, 4, 0),
    ];

    [Test]
    public void Avg_and_max_pooling_forward_and_backward_match_the_cpu_ops()
    {
        foreach (var (n, c, h, w, k, s, p) in PoolGeometries())
        {
            using var d = new GpuBuffers();
            var geo = PoolArgs.Of(n * c, h, w, k, s, p);
            var xData = Coarse(n * c * h * w, 60); var gData = Values((int)geo.OutputLength, 61);
            string what = $"({n}, {c}, {h}, {w}) kernel {k} stride {s} padding {p}";
            foreach (bool max in new[] { false, true })
            {
                var x = Tensor.FromArray(xData, n, c, h, w).RequireGrad();
                var y = max ? x.MaxPool2d(k, s, p) : x.AvgPool2d(k, s, p);
                Assert.That(y.Shape, Is.EqualTo(new[] { n, c, geo.OutH, geo.OutW }), what);
                (y * Tensor.FromArray(gData, y.Shape)).Sum().Backward();
                var xv = d.Up(xData); var gv = d.Up(gData); var y1 = d.Out((int)geo.OutputLength); var dx1 = d.Out(xData.Length);
                if (max)
                {
                    var argmax = d.OutInt((int)geo.OutputLength);
                    K.MaxPool2dForward(geo, xv, y1, argmax);
                    K.MaxPool2dBackward(geo, gv, argmax, dx1);
                }
                else
                {
                    K.AvgPool2dForward(geo, xv, y1);
                    K.AvgPool2dBackward(geo, gv, dx1);
                }
                AssertClose(y.ToArray(), Down(y1), $"{(max ? "max" : "avg")} pool forward {what}");
                AssertClose(x.Grad!.ToArray(), Down(dx1), $"{(max ? "max" : "avg")} pool backward {what}");
            }
        }
    }

    [Test]
    public void Upsample_nearest_forward_and_backward_match_the_cpu_op()
    {
        foreach (var (n, c, h, w, scale) in new[] { (1, 1, 1, 1, 1), (2, 3, 5, 7, 2), (1, 2, 3, 1, 3) })
        {
            using var d = new GpuBuffers();
            var xData = Values(n * c * h * w, 62);
            var x = Tensor.FromArray(xData, n, c, h, w).RequireGrad();
            var y = x.UpsampleNearest2d(scale);
            var gData = Values(y.Numel, 63);
            (y * Tensor.FromArray(gData, y.Shape)).Sum().Backward();
            var y1 = d.Out(y.Numel); var dx1 = d.Out(xData.Length);
            K.UpsampleNearest2dForward(n * c, h, w, scale, d.Up(xData), y1);
            K.UpsampleNearest2dBackward(n * c, h, w, scale, d.Up(gData), dx1);
            AssertClose(y.ToArray(), Down(y1), $"upsample forward ({n}, {c}, {h}, {w}) ×{scale}");
            AssertClose(x.Grad!.ToArray(), Down(dx1), $"upsample backward ({n}, {c}, {h}, {w}) ×{scale}");
        }
    }

    [Test]
    public void Span_variants_of_batch_norm_norm_silu_and_modulation_match_reference()
    {
        int n = 3, c = 5, sp = 7, len = n * c * sp;
        var x = Values(len, 64); var w = Values(c, 65); var b = Values(c, 66); var dy = Values(len, 67);
        float[] m0 = new float[c], v0 = new float[c], m1 = new float[c], v1 = new float[c];
        Norm.BatchStatsReference(n, c, sp, x, m0, v0); Variants.BatchNormStats.Run(n, c, sp, x, m1, v1);
        AssertClose(m0, m1, "variant batch-norm mean"); AssertClose(v0, v1, "variant batch-norm variance");
        var rstd = v0.Select(v => 1f / MathF.Sqrt(v + 1e-5f)).ToArray();
        float[] y0 = new float[len], y1 = new float[len];
        Norm.BatchForwardReference(n, c, sp, x, m0, rstd, w, b, y0); Variants.BatchNormForward.Run(n, c, sp, x, m0, rstd, w, b, y1);
        AssertClose(y0, y1, "variant batch-norm forward");
        float[] dx0 = new float[len], dw0 = new float[c], db0 = new float[c], dx1 = new float[len], dw1 = new float[c], db1 = new float[c];
        Norm.BatchBackwardReference(n, c, sp, true, x, m0, rstd, w, dy, dx0, dw0, db0);
        Variants.BatchNormBackward.Run(n, c, sp, true, x, m0, rstd, w, dy, dx1, dw1, db1);
        AssertClose(dx0, dx1, "variant batch-norm dx", 2e-4f); AssertClose(dw0, dw1, "variant batch-norm dweight", 2e-4f); AssertClose(db0, db1, "variant batch-norm dbias", 2e-4f);

        // GroupNorm + SiLU of (N=3, C=5, S=7) with G=5: rows 15 of 7.
        float[] r0 = new float[15], q0 = new float[15], r1 = new float[15], q1 = new float[15];
        Norm.RowForwardSiluReference(15, 7, 5, 7, 1e-5f, true, x, w, b, y0, r0, q0);
        Variants.RowNormSiluForward.Run(15, 7, 5, 7, 1e-5f, true, x, w, b, y1, r1, q1);
        AssertClose(y0, y1, "variant norm+silu forward");
        Norm.RowBackwardSiluReference(15, 7, 5, 7, true, x, w, b, r0, q0, dy, dx0, dw0, db0);
        Variants.RowNormSiluBackward.Run(15, 7, 5, 7, true, x, w, b, r0, q0, dy, dx1, dw1, db1);
        AssertClose(dx0, dx1, "variant norm+silu dx", 2e-4f); AssertClose(dw0, dw1, "variant norm+silu dweight", 2e-4f); AssertClose(db0, db1, "variant norm+silu dbias", 2e-4f);

        // Modulation of tokens (B=3, T=7, D=5) by (3, 5) rows.
        var shift = Values(15, 68); var scale = Values(15, 69);
        Modulation.ModulateReference(3, 7, 5, x, shift, scale, y0); Variants.Modulate.Run(3, 7, 5, x, shift, scale, y1);
        AssertClose(y0, y1, "variant modulate");
        float[] a0 = new float[15], s0 = new float[15], a1 = new float[15], s1 = new float[15];
        Modulation.ModulateBackwardReference(3, 7, 5, x, scale, dy, dx0, a0, s0); Variants.ModulateBackward.Run(3, 7, 5, x, scale, dy, dx1, a1, s1);
        AssertClose(dx0, dx1, "variant modulate dx"); AssertClose(a0, a1, "variant modulate dshift"); AssertClose(s0, s1, "variant modulate dscale");
        Modulation.GatedAddReference(3, 7, 5, x, shift, dy, y0); Variants.GatedAdd.Run(3, 7, 5, x, shift, dy, y1);
        AssertClose(y0, y1, "variant gated add");
        Modulation.GatedAddBackwardReference(3, 7, 5, shift, x, dy, dx0, a0); Variants.GatedAddBackward.Run(3, 7, 5, shift, x, dy, dx1, a1);
        AssertClose(dx0, dx1, "variant gated add dbranch"); AssertClose(a0, a1, "variant gated add dgate");
    }
}
