namespace Kernels.Cpu;

// Dimension letters: as in each kernel's file (Conv.cs: N C H W; Attention.cs: heads T_q T_k D; Norm.cs: rows, len).

/// <summary>
/// Every kernel case, declared once. <see cref="Checks"/> are small, odd shapes (1, 7, 33, 257 …) that the NUnit tests
/// run every variant on against the reference; <see cref="Races"/> are the workload shapes that <c>engine kernels</c>
/// and the BenchmarkDotNet suites time. A new variant registered in <see cref="KernelRegistry"/> is checked, raced and
/// benchmarked with no other change; a new shape is one line here.
/// </summary>
public static class KernelCases
{
    // ---- Declarations, one per family: buffers in the kernel's order, the call, the work ----

    static Tolerance Conv(string variant) => new(1e-4, variant.StartsWith("winograd4") ? 5e-5 : 0);

    /// <summary>The forward, input-gradient, weight-gradient and bias-gradient cases of one convolution geometry.</summary>
    public static IEnumerable<KernelCase> Conv2d(string name, Conv2dGeometry g, bool bias = true, Func<Conv2dGeometry, Conv2dGeometry>? cut = null)
    {
        var f = KernelRegistry.Conv2dForward; var ig = KernelRegistry.Conv2dInputGrad; var wg = KernelRegistry.Conv2dWeightGrad;
        Func<KernelCase>? Small(Func<Conv2dGeometry, bool, KernelCase> make, bool top) => top && cut is not null ? () => make(cut(g), false) : null;
        KernelCase Forward(Conv2dGeometry g, bool top) => new KernelCase<Conv2dForwardKernel>(f, name + (bias ? "" : " no bias"),
            [new("x", g.InputLength), new("w", g.WeightLength), new("bias", bias ? g.OutChannels : 0), CaseBuffer.Out("y", g.OutputLength)],
            (k, b) => k(g, b[0], b[1], b[2], b[3]), 2.0 * g.MacCount, tolerance: Conv, applies: v => f.Applies(v, g), runs: () => f.Resolve(g).Name,
            errorCase: Small(Forward, top));
        KernelCase InputGrad(Conv2dGeometry g, bool top) => new KernelCase<Conv2dInputGradKernel>(ig, name,
            [new("dy", g.OutputLength), new("w", g.WeightLength), CaseBuffer.Out("dx", g.InputLength)],
            (k, b) => k(g, b[0], b[1], b[2]), 2.0 * g.MacCount, tolerance: Conv, applies: v => ig.Applies(v, g), runs: () => ig.Resolve(g).Name,
            errorCase: Small(InputGrad, top));
        KernelCase WeightGrad(Conv2dGeometry g, bool top) => new KernelCase<Conv2dWeightGradKernel>(wg, name,
            [new("x", g.InputLength), new("dy", g.OutputLength), CaseBuffer.Out("dw", g.WeightLength)],
            (k, b) => k(g, b[0], b[1], b[2]), 2.0 * g.MacCount, tolerance: Conv, applies: v => wg.Applies(v, g), runs: () => wg.Resolve(g).Name,
            errorCase: Small(WeightGrad, top));
        yield return Forward(g, true);
        if (!bias) yield break;
        yield return InputGrad(g, true);
        yield return WeightGrad(g, true);
        yield return new KernelCase<Conv2dBiasGradKernel>(KernelRegistry.Conv2dBiasGrad, name,
            [new("dy", g.OutputLength), CaseBuffer.Out("db", g.OutChannels)],
            (k, b) => k(g.Batch, g.OutChannels, g.OutPlane, b[0], b[1]), tolerance: Conv);
    }

    /// <summary>C = α·op(A)·op(B) + β·C, m×n×k, rows padded by <paramref name="pad"/> floats.</summary>
    public static KernelCase Gemm(bool ta, bool tb, int m, int n, int k, float alpha = 1f, float beta = 0f, int pad = 0, string? name = null, Func<KernelCase>? errorCase = null)
    {
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        int aLen = Math.Max(0, ((ta ? k : m) - 1) * lda + (ta ? m : k)), bLen = Math.Max(0, ((tb ? n : k) - 1) * ldb + (tb ? k : n)), cLen = Math.Max(0, (m - 1) * ldc + n);
        var c = beta == 0 ? CaseBuffer.Out("C", cLen) : new CaseBuffer("C", cLen, Compared: true);
        return new KernelCase<GemmKernel>(KernelRegistry.Gemm, name ?? $"{m}×{n}×{k}{(ta ? " Aᵀ" : "")}{(tb ? " Bᵀ" : "")}{(alpha != 1 || beta != 0 ? $" α={alpha} β={beta}" : "")}{(pad > 0 ? $" pad {pad}" : "")}",
            [new("A", aLen), new("B", bLen), c],
            (kern, b) => kern(ta, tb, m, n, k, alpha, b[0], lda, b[1], ldb, beta, b[2], ldc),
            flops: 2.0 * m * n * k, tolerance: _ => new Tolerance(1e-5 * (k + 1) * (Math.Abs(alpha) + Math.Abs(beta) + 1)), errorCase: errorCase);
    }

    /// <summary>Attention forward and backward over <paramref name="heads"/> heads (the backward starts from the reference forward's O and lse).</summary>
    public static IEnumerable<KernelCase> Attention(int heads, int tq, int tk, int d, bool causal, string? name = null, int? checkedHeads = null)
    {
        name ??= $"{heads}×{tq}×{tk}×{d}{(causal ? " causal" : "")}";
        float scale = 1f / MathF.Sqrt(d);
        double flops = 4.0 * heads * tq * tk * d;
        Func<KernelCase>? Small(Func<int, KernelCase> make) => checkedHeads is int h ? () => make(h) : null;
        KernelCase Forward(int heads) => new KernelCase<AttentionForwardKernel>(KernelRegistry.AttentionForward, name,
            [new("q", heads * tq * d), new("k", heads * tk * d), new("v", heads * tk * d), CaseBuffer.Out("o", heads * tq * d), CaseBuffer.Out("lse", heads * tq)],
            (kern, b) => kern(heads, tq, tk, d, scale, causal, b[0], b[1], b[2], b[3], b[4]), flops, tolerance: _ => new Tolerance(1e-4),
            errorCase: heads == checkedHeads ? null : Small(Forward));
        KernelCase Backward(int heads) => new KernelCase<AttentionBackwardKernel>(KernelRegistry.AttentionBackward, name,
            [new("q", heads * tq * d), new("k", heads * tk * d), new("v", heads * tk * d), new("o", heads * tq * d, Fill.Zero), new("lse", heads * tq, Fill.Zero),
             new("dO", heads * tq * d), CaseBuffer.Out("dq", heads * tq * d), CaseBuffer.Out("dk", heads * tk * d), CaseBuffer.Out("dv", heads * tk * d)],
            (kern, b) => kern(heads, tq, tk, d, scale, causal, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]), 2 * flops,
            tolerance: _ => new Tolerance(2e-4), setup: b => Cpu.Attention.ForwardReference(heads, tq, tk, d, scale, causal, b[0], b[1], b[2], b[3], b[4]),
            errorCase: heads == checkedHeads ? null : Small(Backward));
        yield return Forward(heads);
        yield return Backward(heads);
    }

    /// <summary>How rows map to channels in a row norm: LayerNorm, RMSNorm, GroupNorm (several channels a row).</summary>
    public readonly record struct RowLayout(string Name, int Groups, int Spatial, bool Center, bool Affine);

    /// <summary>Row norm forward and backward, and the same followed by SiLU (x offset by 3: the statistics keep their precision away from 0).</summary>
    public static IEnumerable<KernelCase> RowNorm(int rows, int len, RowLayout l, bool silu = true, string? name = null)
    {
        name ??= $"{rows}×{len} {l.Name}";
        int channels = l.Groups * (len / l.Spatial), n = rows * len;
        int wl = l.Affine ? channels : 0;
        yield return new KernelCase<RowNormForwardKernel>(KernelRegistry.RowNormForward, name,
            [new("x", n, Offset: 3f), new("w", wl), new("b", wl), CaseBuffer.Out("y", n), CaseBuffer.Out("mean", rows), CaseBuffer.Out("rstd", rows)],
            (k, b) => k(rows, len, l.Groups, l.Spatial, 1e-5f, l.Center, b[0], b[1], b[2], b[3], b[4], b[5]));
        yield return new KernelCase<RowNormBackwardKernel>(KernelRegistry.RowNormBackward, name,
            [new("x", n, Scale: 1.5f, Offset: -2f), new("w", wl), new("mean", rows, Fill.Zero), new("rstd", rows, Fill.Zero), new("dy", n),
             CaseBuffer.Out("dx", n), CaseBuffer.Out("dw", wl), CaseBuffer.Out("db", wl)],
            (k, b) => k(rows, len, l.Groups, l.Spatial, l.Center, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]),
            tolerance: _ => new Tolerance(1e-4),
            setup: b => Norm.RowForwardReference(rows, len, l.Groups, l.Spatial, 1e-5f, l.Center, b[0], b[1], [], new float[n], b[2], b[3]));
        if (!silu) yield break;
        yield return new KernelCase<RowNormForwardKernel>(KernelRegistry.RowNormSiluForward, name,
            [new("x", n, Scale: 2f, Offset: 1f), new("w", wl), new("b", wl), CaseBuffer.Out("y", n), CaseBuffer.Out("mean", rows), CaseBuffer.Out("rstd", rows)],
            (k, b) => k(rows, len, l.Groups, l.Spatial, 1e-5f, l.Center, b[0], b[1], b[2], b[3], b[4], b[5]));
        yield return new KernelCase<RowNormSiluBackwardKernel>(KernelRegistry.RowNormSiluBackward, name,
            [new("x", n, Scale: 2f, Offset: 1f), new("w", wl), new("b", wl), new("mean", rows, Fill.Zero), new("rstd", rows, Fill.Zero), new("dy", n),
             CaseBuffer.Out("dx", n), CaseBuffer.Out("dw", wl), CaseBuffer.Out("db", wl)],
            (k, b) => k(rows, len, l.Groups, l.Spatial, l.Center, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]),
            tolerance: _ => new Tolerance(1e-4),
            setup: b => Norm.RowForwardSiluReference(rows, len, l.Groups, l.Spatial, 1e-5f, l.Center, b[0], b[1], b[2], new float[n], b[3], b[4]));
    }

    /// <summary>Batch-norm statistics, forward and backward over (N, C, S) (x offset by 1.5).</summary>
    public static IEnumerable<KernelCase> BatchNorm(int n, int c, int s, bool training)
    {
        string name = $"{n}×{c}×{s}{(training ? " training" : " eval")}";
        int len = n * c * s;
        if (training)
            yield return new KernelCase<BatchNormStatsKernel>(KernelRegistry.BatchNormStats, name,
                [new("x", len, Offset: 1.5f), CaseBuffer.Out("mean", c), CaseBuffer.Out("variance", c)], (k, b) => k(n, c, s, b[0], b[1], b[2]));
        void Stats(float[][] b)
        {
            var variance = new float[c];
            Norm.BatchStatsReference(n, c, s, b[0], b[1], variance);
            for (int i = 0; i < c; i++) b[2][i] = (float)(1 / Math.Sqrt(variance[i] + 1e-5));
        }
        if (training)
            yield return new KernelCase<BatchNormForwardKernel>(KernelRegistry.BatchNormForward, name,
                [new("x", len, Offset: 1.5f), new("mean", c, Fill.Zero), new("rstd", c, Fill.Zero), new("w", c), new("b", c), CaseBuffer.Out("y", len)],
                (k, b) => k(n, c, s, b[0], b[1], b[2], b[3], b[4], b[5]), setup: Stats);
        yield return new KernelCase<BatchNormBackwardKernel>(KernelRegistry.BatchNormBackward, name,
            [new("x", len, Offset: 1.5f), new("mean", c, Fill.Zero), new("rstd", c, Fill.Zero), new("w", c), new("dy", len),
             CaseBuffer.Out("dx", len), CaseBuffer.Out("dw", c), CaseBuffer.Out("db", c)],
            (k, b) => k(n, c, s, training, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]), tolerance: _ => new Tolerance(1e-4), setup: Stats);
    }

    /// <summary>Softmax and log-softmax, forward and backward, along the middle axis of (outer, len, inner) (x of standard deviation 3).</summary>
    public static IEnumerable<KernelCase> Softmax(int outer, int len, int inner, string? name = null)
    {
        name ??= inner == 1 ? $"{outer}×{len}" : $"{outer}×{len}×{inner}";
        int n = outer * len * inner;
        foreach (var (fwd, bwd, reference) in new[]
                 {
                     (KernelRegistry.SoftmaxForward, KernelRegistry.SoftmaxBackward, (SoftmaxForwardKernel)Cpu.Softmax.ForwardReference),
                     (KernelRegistry.LogSoftmaxForward, KernelRegistry.LogSoftmaxBackward, Cpu.Softmax.LogForwardReference),
                 })
        {
            yield return new KernelCase<SoftmaxForwardKernel>(fwd, name, [new("x", n, Scale: 3f), CaseBuffer.Out("y", n)], (k, b) => k(outer, len, inner, b[0], b[1]));
            yield return new KernelCase<SoftmaxBackwardKernel>(bwd, name, [new("y", n, Scale: 3f), new("dy", n), CaseBuffer.Out("dx", n)],
                (k, b) => k(outer, len, inner, b[0], b[1], b[2]), setup: b => reference(outer, len, inner, (float[])b[0].Clone(), b[0]));
        }
    }

    /// <summary>Five AdamW steps' worth of state: one update of n parameters from moments of earlier steps (m normal, v = m² + 0.01).</summary>
    public static KernelCase AdamW(int n, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01, int step = 5, string? name = null) =>
        new KernelCase<AdamWKernel>(KernelRegistry.AdamW, name ?? $"{n} β1={beta1} β2={beta2} λ={weightDecay} ε={eps}",
            [new("param", n, Compared: true), new("grad", n, Scale: 0.1f), new("m", n, Compared: true, Scale: 0.05f), new("v", n, Fill.Zero, Compared: true)],
            (k, b) => k(b[0], b[1], b[2], b[3], lr, beta1, beta2, eps, weightDecay, step),
            bytes: 4.0 * n * 7, tolerance: _ => new Tolerance(1e-5),
            setup: b => { for (int i = 0; i < n; i++) b[3][i] = b[2][i] * b[2][i] + 0.01f; });

    /// <summary>adaLN modulation and the gated residual over (batch, tokens, width), forward and backward.</summary>
    public static IEnumerable<KernelCase> Modulation(int batch, int tokens, int width)
    {
        string name = $"{batch}×{tokens}×{width}";
        int n = batch * tokens * width, c = batch * width;
        yield return new KernelCase<ModulateKernel>(KernelRegistry.Modulate, name, [new("x", n), new("shift", c), new("scale", c), CaseBuffer.Out("y", n)],
            (k, b) => k(batch, tokens, width, b[0], b[1], b[2], b[3]));
        yield return new KernelCase<ModulateBackwardKernel>(KernelRegistry.ModulateBackward, name,
            [new("x", n), new("scale", c), new("g", n), CaseBuffer.Out("dx", n), CaseBuffer.Out("dshift", c), CaseBuffer.Out("dscale", c)],
            (k, b) => k(batch, tokens, width, b[0], b[1], b[2], b[3], b[4], b[5]), tolerance: _ => new Tolerance(1e-4));
        yield return new KernelCase<GatedAddKernel>(KernelRegistry.GatedAdd, name, [new("x", n), new("gate", c), new("branch", n), CaseBuffer.Out("y", n)],
            (k, b) => k(batch, tokens, width, b[0], b[1], b[2], b[3]));
        yield return new KernelCase<GatedAddBackwardKernel>(KernelRegistry.GatedAddBackward, name,
            [new("gate", c), new("branch", n), new("g", n), CaseBuffer.Out("dbranch", n), CaseBuffer.Out("dgate", c)],
            (k, b) => k(batch, tokens, width, b[0], b[1], b[2], b[3], b[4]), tolerance: _ => new Tolerance(1e-4));
    }

    // ---- The cases ----

    static readonly RowLayout Layer = new("layer", 1, 1, true, true), LayerPlain = new("layer plain", 1, 1, true, false), Rms = new("rms", 1, 1, false, true);
    static RowLayout Group(int len, bool affine = true) => new(affine ? "group" : "group plain", 3, len switch { 33 => 11, 784 => 49, 4099 => 4099, _ => len }, true, affine);

    /// <summary>Small, odd shapes every variant is checked on against the reference (the NUnit tests).</summary>
    public static IReadOnlyList<KernelCase> Checks { get; } =
    [
        .. ConvChecks.SelectMany(c => Conv2d(c.Name, c.G)),
        .. ConvChecks.Where((_, i) => i % 4 == 1).SelectMany(c => Conv2d(c.Name, c.G, bias: false)),
        .. from ta in new[] { false, true } from tb in new[] { false, true }
           from s in new[] { (1, 1, 1), (7, 7, 7), (33, 33, 33), (65, 31, 129), (1, 257, 7), (257, 1, 33), (3, 5, 257), (14, 32, 16), (15, 33, 17), (28, 64, 300), (9, 47, 1), (100, 100, 0) }
           select Gemm(ta, tb, s.Item1, s.Item2, s.Item3),
        .. from ta in new[] { false, true } from tb in new[] { false, true }
           from s in new[] { (7, 33, 65), (65, 31, 129), (40, 70, 20), (1, 17, 3) }
           from ab in new[] { (0.75f, -1.5f, 5), (-2f, 1f, 1), (1.25f, 0f, 3) }
           select Gemm(ta, tb, s.Item1, s.Item2, s.Item3, ab.Item1, ab.Item2, ab.Item3),
        .. new[] { (1, 1, 1, 1, false), (3, 7, 7, 5, false), (2, 33, 17, 16, false), (2, 17, 33, 64, true), (4, 49, 49, 8, true), (2, 5, 9, 1, true),
                   (2, 13, 7, 17, false), (3, 21, 30, 17, true), (2, 20, 11, 64, false), (1, 37, 37, 64, true), (2, 30, 45, 24, true) }
           .SelectMany(a => Attention(a.Item1, a.Item2, a.Item3, a.Item4, a.Item5)),
        .. from rows in new[] { 1, 7, 33 } from len in new[] { 1, 7, 33, 257, 784 }
           from l in new[] { Layer, LayerPlain, Rms, Group(len), Group(len, affine: false) }
           from c in RowNorm(rows, len, l, silu: len is 1 or 33 or 784 && l != LayerPlain && l != Rms)
           select c,
        .. RowNorm(65, 4099, Layer), .. RowNorm(65, 4099, Group(4099)),                               // threaded: rows split, per-chunk gradients summed
        .. from n in new[] { 1, 7, 33 } from s in new[] { 1, 7, 33, 257, 784 } from t in new[] { false, true } from c in BatchNorm(n, 3, s, t) select c,
        .. BatchNorm(9, 5, 6007, training: true),
        .. from rows in new[] { 1, 7, 33 } from len in new[] { 1, 7, 33, 257, 784 } from c in Softmax(rows, len, 1) select c,
        .. from outer in new[] { 1, 7 } from len in new[] { 1, 7, 33, 257 } from inner in new[] { 3, 17, 33 } from c in Softmax(outer, len, inner) select c,
        .. Softmax(200, 784, 1), .. Softmax(3, 257, 400),                                                  // threaded
        .. new[] { 1, 7, 33, 257, 784 }.Select(n => AdamW(n)),
        AdamW(70_001, lr: 3e-4, beta2: 0.95, weightDecay: 0.1, step: 3, name: "70001 threaded"),
        AdamW(257, lr: 1e-2, beta1: 0.3, beta2: 0.9, weightDecay: 0, eps: 1e-3),
        AdamW(257, lr: 1e-2, beta1: 0.5, beta2: 0.99, weightDecay: 0.5),
        AdamW(257, lr: 1e-2, beta1: 0, beta2: 0, weightDecay: 0.01, step: 1),
        .. from b in new[] { 1, 3 } from t in new[] { 1, 7, 196 } from w in new[] { 1, 16, 37, 256 } from c in Modulation(b, t, w) select c,
    ];

    /// <summary>Convolution geometries of the checks: odd sizes, every path of the blocked kernel, both Winograd forms.</summary>
    public static (string Name, Conv2dGeometry G)[] ConvChecks =>
    [
        ("1x1 pixel", Conv2dGeometry.Of(1, 1, 1, 1, 1, 1, 1)),
        ("3x3 pad 1", Conv2dGeometry.Of(2, 3, 7, 5, 4, 3, 3, padH: 1, padW: 1)),
        ("3x2 stride 2 dilation 2 groups 2", Conv2dGeometry.Of(1, 4, 9, 7, 6, 3, 2, 2, 2, 1, 1, 2, 2, groups: 2)),
        ("mixed stride/pad/dilation groups 3", Conv2dGeometry.Of(3, 6, 11, 13, 9, 3, 3, 2, 3, 0, 2, 1, 2, groups: 3)),
        ("pointwise", Conv2dGeometry.Of(2, 5, 7, 7, 3, 1, 1)),
        ("pointwise stride 2", Conv2dGeometry.Of(2, 5, 7, 7, 3, 1, 1, 2, 2)),
        ("kernel wider than input", Conv2dGeometry.Of(1, 2, 3, 3, 2, 5, 5, padH: 2, padW: 2)),
        ("depthwise", Conv2dGeometry.Of(2, 4, 6, 5, 4, 3, 3, 1, 1, 1, 1, groups: 4)),
        ("transposed-style trimmed output", Conv2dGeometry.Of(2, 3, 8, 9, 4, 3, 3, 2, 2, 1, 1) with { OutH = 3, OutW = 4 }),
        ("threaded batch", Conv2dGeometry.Of(3, 8, 19, 19, 16, 3, 3, padH: 1, padW: 1)),
        ("odd channels, several row blocks, ragged tiles", Conv2dGeometry.Of(3, 67, 17, 15, 19, 3, 3, padH: 1, padW: 1)),
        ("stride 2 pad 0 batch 1", Conv2dGeometry.Of(1, 5, 9, 11, 7, 3, 3, 2, 2, 0, 0)),
        ("3x3 pad 0 batch 3", Conv2dGeometry.Of(3, 3, 6, 7, 5, 3, 3)),
        ("pointwise with padding", Conv2dGeometry.Of(2, 3, 5, 4, 4, 1, 1, padH: 1, padW: 1)),
        ("padding wider than the kernel", Conv2dGeometry.Of(1, 2, 4, 4, 3, 3, 3, padH: 3, padW: 3)),
        ("dilation 2 stride 1", Conv2dGeometry.Of(2, 3, 9, 8, 5, 3, 3, 1, 1, 2, 2, 2, 2)),
        ("rows wider than 32", Conv2dGeometry.Of(1, 2, 5, 40, 3, 3, 3, padH: 1, padW: 1)),
        // Stride 1 with rows of at least 3.5·(Kw − 1) columns: the blocked forward (and stride-1 input gradient) shifts taps instead of filling patches.
        ("shifted taps: 5x5 pad 2 groups 2", Conv2dGeometry.Of(2, 6, 14, 24, 10, 5, 5, padH: 2, padW: 2, groups: 2)),
        ("shifted taps: 3x1 kernel, pad 0", Conv2dGeometry.Of(2, 5, 9, 13, 4, 3, 1)),
        ("shifted taps: 3x3 pad 0, several row blocks", Conv2dGeometry.Of(2, 70, 30, 28, 15, 3, 3)),
        ("shifted taps: 2x3 uneven padding", Conv2dGeometry.Of(1, 3, 6, 16, 5, 2, 3, padH: 0, padW: 1)),
        ("shifted taps: 128 channels, the taps summed in two passes", Conv2dGeometry.Of(2, 128, 7, 14, 20, 3, 3, padH: 1, padW: 1)),
        ("shifted taps: 37-column rows, pad 2 (padded rows over two 16-float steps and a part)", Conv2dGeometry.Of(2, 9, 8, 37, 6, 3, 3, padH: 2, padW: 2)),
        // Stride 1 with enough channels a group that the weight gradient, too, reads shifted rows of the input in place.
        ("shifted weight grad: 3x3 pad 0 batch 1, two row blocks", Conv2dGeometry.Of(1, 64, 60, 40, 5, 3, 3)),
        ("shifted weight grad: 3x3 pad 1 groups 2, 70 channels a group, two row blocks", Conv2dGeometry.Of(2, 140, 50, 38, 4, 3, 3, padH: 1, padW: 1, groups: 2)),
        ("shifted weight grad: 5x5 pad 2 groups 3, 12 channels a group", Conv2dGeometry.Of(3, 36, 10, 26, 9, 5, 5, padH: 2, padW: 2, groups: 3)),
        ("shifted weight grad: 5x5 pad 1, 32 channels", Conv2dGeometry.Of(2, 32, 9, 30, 17, 5, 5, padH: 1, padW: 1)),
        ("shifted weight grad: 3x3 pad 2, 32 channels", Conv2dGeometry.Of(2, 32, 11, 14, 7, 3, 3, padH: 2, padW: 2)),
        ("shifted weight grad: wide rows, groups 2, 20 channels a group", Conv2dGeometry.Of(2, 40, 9, 70, 12, 3, 3, padH: 1, padW: 1, groups: 2)),
        ("shifted weight grad: 10 channels batch 1", Conv2dGeometry.Of(1, 10, 13, 17, 6, 3, 3, padH: 1, padW: 1)),
        ("shifted weight grad: narrowest shiftable rows, batch 4", Conv2dGeometry.Of(4, 16, 12, 12, 8, 3, 3, padH: 1, padW: 1)),
        ("shifted weight grad: 3x1 kernel, 32 channels", Conv2dGeometry.Of(2, 32, 9, 13, 5, 3, 1)),
        ("shifted weight grad: 2x3 uneven padding, 24 channels", Conv2dGeometry.Of(1, 24, 6, 16, 5, 2, 3, padH: 0, padW: 1)),
        ("shifted weight grad: 7-column rows, 64 channels", Conv2dGeometry.Of(2, 64, 7, 7, 16, 3, 3, padH: 1, padW: 1)),
        ("shifted weight grad: 4-column rows, groups 2", Conv2dGeometry.Of(2, 64, 6, 4, 6, 3, 3, padH: 1, padW: 1, groups: 2)),
        // 3×3 stride 1, one group, at least 8 channels each way: Winograd F(2×2, 3×3) (its input gradient too, while the padding is at most 2).
        ("winograd: 28x28 pad 1, 32 channels, rows of 14 tiles", Conv2dGeometry.Of(2, 32, 28, 28, 32, 3, 3, padH: 1, padW: 1)),
        ("winograd: 7x7 pad 1, two rows of 4 tiles a vector, odd tile rows", Conv2dGeometry.Of(3, 16, 7, 7, 24, 3, 3, padH: 1, padW: 1)),
        ("winograd: 14x14 pad 1, 9 in 10 out channels", Conv2dGeometry.Of(2, 9, 14, 14, 10, 3, 3, padH: 1, padW: 1)),
        ("winograd: odd sizes, pad 0, rows over 16 tiles", Conv2dGeometry.Of(2, 12, 11, 39, 17, 3, 3)),
        ("winograd: pad 2, one tile a row", Conv2dGeometry.Of(2, 8, 1, 1, 8, 3, 3, padH: 2, padW: 2)),
        ("winograd: uneven padding, 15-tile rows", Conv2dGeometry.Of(1, 20, 6, 29, 9, 3, 3, padH: 0, padW: 1)),
        ("winograd: trimmed output", Conv2dGeometry.Of(2, 10, 9, 12, 11, 3, 3, padH: 1, padW: 1) with { OutH = 6, OutW = 9 }),
        ("winograd: several blocks, 128 in 64 out channels", Conv2dGeometry.Of(5, 128, 14, 14, 64, 3, 3, padH: 1, padW: 1)),
        // Output rows 17 to 28 wide: F(4×4, 3×3), two tile rows a vector (the input gradient too while the padding is at most 2).
        ("winograd4: 28x28 pad 1, 32 channels, rows of 7 tiles, several blocks", Conv2dGeometry.Of(3, 32, 28, 28, 32, 3, 3, padH: 1, padW: 1)),
        ("winograd4: 20x18 output, pad 1, 5-tile rows, odd tile-row count", Conv2dGeometry.Of(1, 9, 18, 20, 12, 3, 3, padH: 1, padW: 1)),
        ("winograd4: pad 0, 22x23 output, ragged last tiles", Conv2dGeometry.Of(2, 16, 24, 25, 8, 3, 3)),
        ("winograd4: uneven padding, 26-wide rows", Conv2dGeometry.Of(2, 12, 13, 26, 10, 3, 3, padH: 0, padW: 1)),
        ("winograd4: pad 2, 24-wide input, 64 in 96 out channels", Conv2dGeometry.Of(2, 64, 9, 24, 96, 3, 3, padH: 2, padW: 2)),
        ("winograd4: trimmed output", Conv2dGeometry.Of(2, 10, 25, 27, 11, 3, 3, padH: 1, padW: 1) with { OutH = 21, OutW = 19 }),
        ("winograd4: one tile row in all, 20 in 24 out channels (16 a vector and 4 alone in the weight transforms)", Conv2dGeometry.Of(1, 20, 3, 24, 24, 3, 3, padH: 1, padW: 1)),
        ("shifted taps: trimmed output, pad 1", Conv2dGeometry.Of(2, 32, 10, 16, 6, 3, 3, padH: 1, padW: 1) with { OutH = 8, OutW = 13 }),
    ];

    /// <summary>
    /// The workload shapes that <c>engine kernels</c> races and the benchmarks time: W4 and the convolutions of W1's
    /// UNet-S (batch 64, errors measured at batch 2), W5's GEMMs (errors at n = 256) and the im2col products, W3's attention (errors on 8 of its
    /// 256 heads), the GroupNorm, LayerNorm and softmax of W1–W3, and an AdamW step of 1.34 M parameters.
    /// </summary>
    public static IReadOnlyList<KernelCase> Races { get; } =
    [
        .. RaceConv("W4 64×64×28² 3×3", Conv2dGeometry.Of(64, 64, 28, 28, 64, 3, 3, padH: 1, padW: 1)),
        .. RaceConv("W1 28² 32→32 3×3", Conv2dGeometry.Of(64, 32, 28, 28, 32, 3, 3, padH: 1, padW: 1)),
        .. RaceConv("W1 28² 96→32 3×3", Conv2dGeometry.Of(64, 96, 28, 28, 32, 3, 3, padH: 1, padW: 1)),
        .. RaceConv("W1 28² 64→64 3×3", Conv2dGeometry.Of(64, 64, 28, 28, 64, 3, 3, padH: 1, padW: 1)),
        .. RaceConv("W1 28² 96→32 1×1", Conv2dGeometry.Of(64, 96, 28, 28, 32, 1, 1)),
        .. RaceConv("W1 28² 32→32 3×3 s2", Conv2dGeometry.Of(64, 32, 28, 28, 32, 3, 3, 2, 2, 1, 1)),
        .. RaceConv("W1 14² 64→64 3×3", Conv2dGeometry.Of(64, 64, 14, 14, 64, 3, 3, padH: 1, padW: 1)),
        .. RaceConv("W1 14² 128→64 3×3", Conv2dGeometry.Of(64, 128, 14, 14, 64, 3, 3, padH: 1, padW: 1)),
        .. RaceConv("W1 14² 128→64 1×1", Conv2dGeometry.Of(64, 128, 14, 14, 64, 1, 1)),
        .. RaceConv("W1 7² 64→64 3×3", Conv2dGeometry.Of(64, 64, 7, 7, 64, 3, 3, padH: 1, padW: 1)),
        .. RaceConv("W1 7² 64→192 1×1", Conv2dGeometry.Of(64, 64, 7, 7, 192, 1, 1)),
        .. from n in new[] { 256, 512, 1024, 2048 }
           from f in new[] { (false, false, "A·B"), (true, false, "Aᵀ·B"), (false, true, "A·Bᵀ") }
           select Gemm(f.Item1, f.Item2, n, n, n, name: $"W5 n={n} {f.Item3}", errorCase: n > 256 ? () => Gemm(f.Item1, f.Item2, 256, 256, 256) : null),
        // The skinny products of im2col convolutions (W1's 28² level, both orientations, and a 3×3 conv of one channel).
        Gemm(false, false, 64, 3136, 576, name: "conv 64×3136×576", errorCase: () => Gemm(false, false, 64, 196, 576)),
        Gemm(false, false, 3136, 64, 576, name: "conv 3136×64×576", errorCase: () => Gemm(false, false, 196, 64, 576)),
        Gemm(false, false, 25088, 32, 9, name: "conv 25088×32×9"),
        .. Attention(256, 196, 196, 64, false, "W3 256 heads × 196 × 64", checkedHeads: 8),
        .. RowNorm(64 * 8, 8 * 28 * 28, new RowLayout("group", 8, 28 * 28, true, true), name: "GroupNorm (64, 64, 28, 28), 8 groups"),
        .. RowNorm(64 * 196, 256, Layer, silu: false, name: "LayerNorm (64·196, 256)"),
        .. Softmax(64 * 4 * 196, 196, 1, "W3 scores (64·4·196, 196)"),
        AdamW(1_340_000, name: "1.34 M parameters"),
    ];

    static IEnumerable<KernelCase> RaceConv(string name, Conv2dGeometry g) =>
        Conv2d(name, g, cut: c => c with { Batch = Math.Min(2, c.Batch) }).Where(c => c.Family != KernelRegistry.Conv2dBiasGrad);
}
