namespace Kernels.Cpu;

/// <summary>
/// Geometry of a 2-D convolution over NCHW data: input N×C×H×W, weight K×(C/G)×R×S, output N×K×P×Q, with
/// stride, zero padding, dilation and G groups — PyTorch's conventions.
/// </summary>
public readonly record struct ConvShape(int N, int C, int H, int W, int K, int R, int S,
    int StrideH = 1, int StrideW = 1, int PadH = 0, int PadW = 0, int DilH = 1, int DilW = 1, int Groups = 1)
{
    public int P => (H + 2 * PadH - DilH * (R - 1) - 1) / StrideH + 1;
    public int Q => (W + 2 * PadW - DilW * (S - 1) - 1) / StrideW + 1;
    public int Cg => C / Groups;
    public int Kg => K / Groups;
    /// <summary>Length of one im2col column: Cg·R·S.</summary>
    public int Crs => Cg * R * S;
    public int InputSize => N * C * H * W;
    public int OutputSize => N * K * P * Q;
    public int WeightSize => K * Cg * R * S;
    public double Flops => 2.0 * N * K * P * Q * Crs;

    /// <summary>Throws <see cref="ArgumentException"/> unless the geometry is consistent.</summary>
    public void Validate()
    {
        if (N < 0 || C < 1 || H < 1 || W < 1 || K < 1 || R < 1 || S < 1) throw new ArgumentException($"Conv: invalid sizes {this}");
        if (StrideH < 1 || StrideW < 1 || DilH < 1 || DilW < 1 || PadH < 0 || PadW < 0) throw new ArgumentException($"Conv: stride and dilation must be ≥ 1 and padding ≥ 0: {this}");
        if (Groups < 1 || C % Groups != 0 || K % Groups != 0) throw new ArgumentException($"Conv: groups {Groups} must divide input channels {C} and output channels {K}");
        if (P < 1 || Q < 1) throw new ArgumentException($"Conv: a {R}×{S} kernel (dilation {DilH}×{DilW}) does not fit the padded {H}×{W} input");
    }

    /// <summary>True when im2col is the identity: 1×1 kernel, stride 1, no padding.</summary>
    public bool IsPointwise => R == 1 && S == 1 && StrideH == 1 && StrideW == 1 && PadH == 0 && PadW == 0;
}

/// <summary>Conv forward: y = conv(x, w) (+ bias when given).</summary>
public delegate void ConvForwardKernel(ConvShape s, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y);

/// <summary>
/// 2-D convolution: a direct reference (loops, double accumulation) and an im2col + GEMM version. The three
/// passes — forward, gradient of the input ("data"), gradient of the weight — share <see cref="ConvShape"/>.
/// ConvTranspose2d is the same three passes with the roles of forward and data-gradient exchanged.
/// </summary>
public static class Conv
{
    // ------------------------------------------------------------------ reference

    public static void ForwardReference(ConvShape s, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        s.Validate();
        for (int n = 0; n < s.N; n++)
            for (int k = 0; k < s.K; k++)
            {
                int g = k / s.Kg;
                for (int p = 0; p < s.P; p++)
                    for (int q = 0; q < s.Q; q++)
                    {
                        double acc = bias.IsEmpty ? 0 : bias[k];
                        for (int c = 0; c < s.Cg; c++)
                            for (int r = 0; r < s.R; r++)
                                for (int t = 0; t < s.S; t++)
                                {
                                    int h = p * s.StrideH - s.PadH + r * s.DilH, wi = q * s.StrideW - s.PadW + t * s.DilW;
                                    if ((uint)h >= (uint)s.H || (uint)wi >= (uint)s.W) continue;
                                    acc += (double)x[((n * s.C + g * s.Cg + c) * s.H + h) * s.W + wi] * w[((k * s.Cg + c) * s.R + r) * s.S + t];
                                }
                        y[((n * s.K + k) * s.P + p) * s.Q + q] = (float)acc;
                    }
            }
    }

    /// <summary>dx = ∂(Σ dy·y)/∂x, overwriting dx.</summary>
    public static void BackwardDataReference(ConvShape s, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx)
    {
        s.Validate();
        var acc = new double[s.InputSize];
        for (int n = 0; n < s.N; n++)
            for (int k = 0; k < s.K; k++)
            {
                int g = k / s.Kg;
                for (int p = 0; p < s.P; p++)
                    for (int q = 0; q < s.Q; q++)
                    {
                        double d = dy[((n * s.K + k) * s.P + p) * s.Q + q];
                        for (int c = 0; c < s.Cg; c++)
                            for (int r = 0; r < s.R; r++)
                                for (int t = 0; t < s.S; t++)
                                {
                                    int h = p * s.StrideH - s.PadH + r * s.DilH, wi = q * s.StrideW - s.PadW + t * s.DilW;
                                    if ((uint)h >= (uint)s.H || (uint)wi >= (uint)s.W) continue;
                                    acc[((n * s.C + g * s.Cg + c) * s.H + h) * s.W + wi] += d * w[((k * s.Cg + c) * s.R + r) * s.S + t];
                                }
                    }
            }
        for (int i = 0; i < acc.Length; i++) dx[i] = (float)acc[i];
    }

    /// <summary>dw = ∂(Σ dy·y)/∂w, overwriting dw.</summary>
    public static void BackwardWeightReference(ConvShape s, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw)
    {
        s.Validate();
        for (int k = 0; k < s.K; k++)
        {
            int g = k / s.Kg;
            for (int c = 0; c < s.Cg; c++)
                for (int r = 0; r < s.R; r++)
                    for (int t = 0; t < s.S; t++)
                    {
                        double acc = 0;
                        for (int n = 0; n < s.N; n++)
                            for (int p = 0; p < s.P; p++)
                                for (int q = 0; q < s.Q; q++)
                                {
                                    int h = p * s.StrideH - s.PadH + r * s.DilH, wi = q * s.StrideW - s.PadW + t * s.DilW;
                                    if ((uint)h >= (uint)s.H || (uint)wi >= (uint)s.W) continue;
                                    acc += (double)x[((n * s.C + g * s.Cg + c) * s.H + h) * s.W + wi] * dy[((n * s.K + k) * s.P + p) * s.Q + q];
                                }
                        dw[((k * s.Cg + c) * s.R + r) * s.S + t] = (float)acc;
                    }
        }
    }

    // ------------------------------------------------------------------ im2col + GEMM

    /// <summary>Per sample and group: Y_g (Kg × PQ) = W_g (Kg × CRS) · col (CRS × PQ). Samples run in parallel.</summary>
    public static void Forward(ConvShape s, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        s.Validate();
        var gemm = KernelRegistry.FastGemm;
        int pq = s.P * s.Q, crs = s.Crs;
        float[] xa = x.ToArray(), wa = w.ToArray(), ba = bias.ToArray();
        var yArr = new float[s.OutputSize];
        Parallelism.For(s.N, (long)s.K * pq * crs, n =>
        {
            var col = s.IsPointwise ? null : new float[crs * pq];
            for (int g = 0; g < s.Groups; g++)
            {
                int xOff = (n * s.C + g * s.Cg) * s.H * s.W;
                ReadOnlySpan<float> colSpan = col is null ? xa.AsSpan(xOff, crs * pq) : col;
                if (col is not null) Im2Col(s, xa.AsSpan(xOff, s.Cg * s.H * s.W), col);
                gemm(false, false, s.Kg, pq, crs, 1f, wa.AsSpan(g * s.Kg * crs), crs, colSpan, pq, 0f, yArr.AsSpan((n * s.K + g * s.Kg) * pq), pq);
            }
            if (ba.Length > 0)
                for (int k = 0; k < s.K; k++) yArr.AsSpan((n * s.K + k) * pq, pq).Add(ba[k]);
        }, grain: 1 << 20);
        yArr.CopyTo(y);
    }

    /// <summary>Per sample and group: col = W_gᵀ · dY_g, then col2im scatters it back (overwrites dx).</summary>
    public static void BackwardData(ConvShape s, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx)
    {
        s.Validate();
        var gemm = KernelRegistry.FastGemm;
        int pq = s.P * s.Q, crs = s.Crs, chw = s.Cg * s.H * s.W;
        float[] dya = dy.ToArray(), wa = w.ToArray();
        var dxArr = new float[s.InputSize];
        Parallelism.For(s.N, (long)s.K * pq * crs, n =>
        {
            var col = s.IsPointwise ? null : new float[crs * pq];
            for (int g = 0; g < s.Groups; g++)
            {
                int xOff = (n * s.C + g * s.Cg) * s.H * s.W;
                Span<float> target = col is null ? dxArr.AsSpan(xOff, chw) : col;
                gemm(true, false, crs, pq, s.Kg, 1f, wa.AsSpan(g * s.Kg * crs), crs, dya.AsSpan((n * s.K + g * s.Kg) * pq), pq, 0f, target, pq);
                if (col is not null) Col2Im(s, col, dxArr.AsSpan(xOff, chw));
            }
        }, grain: 1 << 20);
        dxArr.CopyTo(dx);
    }

    /// <summary>dW_g (Kg × CRS) = Σ_n dY_g · colᵀ (overwrites dw). Samples are split over threads, each with its own partial sum.</summary>
    public static void BackwardWeight(ConvShape s, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw)
    {
        s.Validate();
        var gemm = KernelRegistry.FastGemm;
        int pq = s.P * s.Q, crs = s.Crs;
        float[] xa = x.ToArray(), dya = dy.ToArray();
        int chunks = Math.Max(1, Math.Min(Parallelism.MaxThreads, s.N));
        var partial = new float[chunks][];
        Parallelism.For(chunks, (long)s.N * s.K * pq * crs / chunks, ci =>
        {
            var acc = partial[ci] = new float[s.WeightSize];
            var col = s.IsPointwise ? null : new float[crs * pq];
            for (int n = ci; n < s.N; n += chunks)
                for (int g = 0; g < s.Groups; g++)
                {
                    int xOff = (n * s.C + g * s.Cg) * s.H * s.W;
                    ReadOnlySpan<float> colSpan = col is null ? xa.AsSpan(xOff, crs * pq) : col;
                    if (col is not null) Im2Col(s, xa.AsSpan(xOff, s.Cg * s.H * s.W), col);
                    gemm(false, true, s.Kg, crs, pq, 1f, dya.AsSpan((n * s.K + g * s.Kg) * pq), pq, colSpan, pq, 1f, acc.AsSpan(g * s.Kg * crs), crs);
                }
        }, grain: 1 << 20);
        dw.Clear();
        foreach (var p in partial) Elementwise.Axpy(1f, p, dw);
    }

    /// <summary>Unfolds one sample-group (Cg × H × W) into col (Cg·R·S × P·Q), zeros where the window hangs over the padding.</summary>
    public static void Im2Col(ConvShape s, ReadOnlySpan<float> x, Span<float> col)
    {
        int pq = s.P * s.Q;
        for (int c = 0; c < s.Cg; c++)
            for (int r = 0; r < s.R; r++)
                for (int t = 0; t < s.S; t++)
                {
                    var row = col.Slice(((c * s.R + r) * s.S + t) * pq, pq);
                    for (int p = 0; p < s.P; p++)
                    {
                        int h = p * s.StrideH - s.PadH + r * s.DilH;
                        var dst = row.Slice(p * s.Q, s.Q);
                        if ((uint)h >= (uint)s.H) { dst.Clear(); continue; }
                        var src = x.Slice((c * s.H + h) * s.W, s.W);
                        int w0 = -s.PadW + t * s.DilW;
                        if (s.StrideW == 1 && w0 >= 0 && w0 + s.Q <= s.W) { src.Slice(w0, s.Q).CopyTo(dst); continue; }
                        for (int q = 0; q < s.Q; q++)
                        {
                            int wi = w0 + q * s.StrideW;
                            dst[q] = (uint)wi < (uint)s.W ? src[wi] : 0f;
                        }
                    }
                }
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: adds each column entry back onto the pixel it came from (overwrites x).</summary>
    public static void Col2Im(ConvShape s, ReadOnlySpan<float> col, Span<float> x)
    {
        x.Clear();
        int pq = s.P * s.Q;
        for (int c = 0; c < s.Cg; c++)
            for (int r = 0; r < s.R; r++)
                for (int t = 0; t < s.S; t++)
                {
                    var row = col.Slice(((c * s.R + r) * s.S + t) * pq, pq);
                    for (int p = 0; p < s.P; p++)
                    {
                        int h = p * s.StrideH - s.PadH + r * s.DilH;
                        if ((uint)h >= (uint)s.H) continue;
                        var dst = x.Slice((c * s.H + h) * s.W, s.W);
                        int w0 = -s.PadW + t * s.DilW;
                        for (int q = 0; q < s.Q; q++)
                        {
                            int wi = w0 + q * s.StrideW;
                            if ((uint)wi < (uint)s.W) dst[wi] += row[p * s.Q + q];
                        }
                    }
                }
    }
}

static class SpanExtensions
{
    public static void Add(this Span<float> x, float v) { for (int i = 0; i < x.Length; i++) x[i] += v; }
}
