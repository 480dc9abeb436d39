namespace Kernels.Cpu;

// Dimension letters: N batch, C channels (Cg = C / groups per group), H×W input plane, Ho×Wo output plane,
// Kh×Kw kernel. Data is NCHW, row-major; weights are (Cout, Cin/groups, Kh, Kw) as in PyTorch.

/// <summary>
/// The geometry of one 2-D convolution: sizes, stride, padding, dilation and groups. <see cref="OutH"/> and
/// <see cref="OutW"/> are usually <see cref="OutSize"/> of the input, but a transposed convolution may ask
/// for fewer rows than the formula gives (PyTorch's output_padding below the dilation).
/// </summary>
public readonly record struct Conv2dGeometry(
    int Batch, int InChannels, int InH, int InW,
    int OutChannels, int KernelH, int KernelW,
    int StrideH, int StrideW, int PadH, int PadW, int DilationH, int DilationW, int Groups,
    int OutH, int OutW)
{
    /// <summary>Geometry of a convolution with the output size given by <see cref="OutSize"/>.</summary>
    public static Conv2dGeometry Of(int batch, int inChannels, int inH, int inW, int outChannels, int kernelH, int kernelW,
        int strideH = 1, int strideW = 1, int padH = 0, int padW = 0, int dilationH = 1, int dilationW = 1, int groups = 1) =>
        new(batch, inChannels, inH, inW, outChannels, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW, groups,
            OutSize(inH, kernelH, strideH, padH, dilationH), OutSize(inW, kernelW, strideW, padW, dilationW));

    /// <summary>floor((in + 2·pad − dilation·(k − 1) − 1) / stride) + 1, PyTorch's formula.</summary>
    public static int OutSize(int input, int kernel, int stride, int pad, int dilation)
    {
        int span = input + 2 * pad - dilation * (kernel - 1) - 1;
        return span < 0 ? 0 : span / stride + 1;
    }

    public int InPerGroup => InChannels / Groups;
    public int OutPerGroup => OutChannels / Groups;
    /// <summary>Rows of the im2col matrix of one group: Cg·Kh·Kw.</summary>
    public int PatchSize => InPerGroup * KernelH * KernelW;
    public int OutPlane => OutH * OutW;
    public int InPlane => InH * InW;
    public int InputLength => Batch * InChannels * InPlane;
    public int WeightLength => OutChannels * PatchSize;
    public int OutputLength => Batch * OutChannels * OutPlane;
    /// <summary>Multiply-adds of one forward pass.</summary>
    public long MacCount => (long)Batch * OutChannels * OutPlane * PatchSize;

    /// <summary>Throws unless the geometry is consistent and the buffers have exactly the sizes it implies.</summary>
    public void Check(string op, int inputLength, int weightLength, int outputLength)
    {
        if (Batch < 0 || InH < 0 || InW < 0 || KernelH < 1 || KernelW < 1 || StrideH < 1 || StrideW < 1 ||
            PadH < 0 || PadW < 0 || DilationH < 1 || DilationW < 1 || Groups < 1 || OutH < 0 || OutW < 0)
            throw new ArgumentException($"{op}: invalid geometry {this}");
        if (InChannels % Groups != 0 || OutChannels % Groups != 0)
            throw new ArgumentException($"{op}: groups {Groups} must divide in channels {InChannels} and out channels {OutChannels}");
        if (OutH > OutSize(InH, KernelH, StrideH, PadH, DilationH) || OutW > OutSize(InW, KernelW, StrideW, PadW, DilationW))
            throw new ArgumentException($"{op}: output {OutH}×{OutW} is larger than the input {InH}×{InW} allows");
        if (inputLength != InputLength || weightLength != WeightLength || outputLength != OutputLength)
            throw new ArgumentException($"{op}: buffers of {inputLength}, {weightLength}, {outputLength} floats; geometry needs {InputLength}, {WeightLength}, {OutputLength}");
    }
}

/// <summary>y = conv(x, w) + bias. <paramref name="bias"/> is empty or holds one value per output channel. Overwrites y.</summary>
public delegate void Conv2dForwardKernel(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y);

/// <summary>dx = ∂(Σ dy·conv(x, w))/∂x: the transposed convolution of dy. Overwrites dx.</summary>
public delegate void Conv2dInputGradKernel(in Conv2dGeometry g, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx);

/// <summary>dw = ∂(Σ dy·conv(x, w))/∂w, summed over the batch. Overwrites dw.</summary>
public delegate void Conv2dWeightGradKernel(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw);

/// <summary>db[c] = Σ over batch and plane of dy[n, c, ·]: the bias gradient of a convolution. Overwrites db.</summary>
public delegate void Conv2dBiasGradKernel(int batch, int channels, int plane, ReadOnlySpan<float> dy, Span<float> db);

/// <summary>
/// Direct 2-D convolution: the readable ground truth. Every output sums its taps in double; the input
/// gradient gathers (rather than scatters) so it too is one double sum per element.
/// </summary>
public static class ConvReference
{
    /// <summary>y = conv(x, w) + bias, one double sum per output.</summary>
    public static void Forward(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        g.Check("Conv2d reference", x.Length, w.Length, y.Length);
        if (!bias.IsEmpty && bias.Length != g.OutChannels) throw new ArgumentException($"Conv2d reference: {bias.Length} biases for {g.OutChannels} channels");
        int cg = g.InPerGroup;
        for (int n = 0; n < g.Batch; n++)
            for (int co = 0; co < g.OutChannels; co++)
            {
                int grp = co / g.OutPerGroup;
                for (int oh = 0; oh < g.OutH; oh++)
                    for (int ow = 0; ow < g.OutW; ow++)
                    {
                        double s = bias.IsEmpty ? 0 : bias[co];
                        for (int cl = 0; cl < cg; cl++)
                        {
                            int ci = grp * cg + cl;
                            for (int ki = 0; ki < g.KernelH; ki++)
                            {
                                int ih = oh * g.StrideH - g.PadH + ki * g.DilationH;
                                if (ih < 0 || ih >= g.InH) continue;
                                for (int kj = 0; kj < g.KernelW; kj++)
                                {
                                    int iw = ow * g.StrideW - g.PadW + kj * g.DilationW;
                                    if (iw < 0 || iw >= g.InW) continue;
                                    s += (double)x[((n * g.InChannels + ci) * g.InH + ih) * g.InW + iw] *
                                         w[((co * cg + cl) * g.KernelH + ki) * g.KernelW + kj];
                                }
                            }
                        }
                        y[((n * g.OutChannels + co) * g.OutH + oh) * g.OutW + ow] = (float)s;
                    }
            }
    }

    /// <summary>dx: for each input pixel, the sum over the outputs whose window covers it.</summary>
    public static void InputGrad(in Conv2dGeometry g, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx)
    {
        g.Check("Conv2d reference input grad", dx.Length, w.Length, dy.Length);
        int cg = g.InPerGroup, og = g.OutPerGroup;
        for (int n = 0; n < g.Batch; n++)
            for (int ci = 0; ci < g.InChannels; ci++)
            {
                int grp = ci / cg, cl = ci % cg;
                for (int ih = 0; ih < g.InH; ih++)
                    for (int iw = 0; iw < g.InW; iw++)
                    {
                        double s = 0;
                        for (int col = 0; col < og; col++)
                        {
                            int co = grp * og + col;
                            for (int ki = 0; ki < g.KernelH; ki++)
                            {
                                int th = ih + g.PadH - ki * g.DilationH;
                                if (th < 0 || th % g.StrideH != 0 || th / g.StrideH >= g.OutH) continue;
                                int oh = th / g.StrideH;
                                for (int kj = 0; kj < g.KernelW; kj++)
                                {
                                    int tw = iw + g.PadW - kj * g.DilationW;
                                    if (tw < 0 || tw % g.StrideW != 0 || tw / g.StrideW >= g.OutW) continue;
                                    int ow = tw / g.StrideW;
                                    s += (double)dy[((n * g.OutChannels + co) * g.OutH + oh) * g.OutW + ow] *
                                         w[((co * cg + cl) * g.KernelH + ki) * g.KernelW + kj];
                                }
                            }
                        }
                        dx[((n * g.InChannels + ci) * g.InH + ih) * g.InW + iw] = (float)s;
                    }
            }
    }

    /// <summary>db[c]: one double sum per channel over the batch and the plane.</summary>
    public static void BiasGrad(int batch, int channels, int plane, ReadOnlySpan<float> dy, Span<float> db)
    {
        CheckBiasGrad("Conv2d reference bias grad", batch, channels, plane, dy.Length, db.Length);
        for (int c = 0; c < channels; c++)
        {
            double s = 0;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < plane; i++) s += dy[(n * channels + c) * plane + i];
            db[c] = (float)s;
        }
    }

    internal static void CheckBiasGrad(string op, int batch, int channels, int plane, int dyLength, int dbLength)
    {
        if (batch < 0 || channels < 0 || plane < 0) throw new ArgumentException($"{op}: sizes must be non-negative, got batch {batch}, channels {channels}, plane {plane}");
        if (dyLength != (long)batch * channels * plane || dbLength != channels)
            throw new ArgumentException($"{op}: dy of {dyLength} and db of {dbLength} floats; (batch {batch}, channels {channels}, plane {plane}) needs {(long)batch * channels * plane} and {channels}");
    }

    /// <summary>dw: for each tap, the sum over batch and output positions of dy times the input under the tap.</summary>
    public static void WeightGrad(in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw)
    {
        g.Check("Conv2d reference weight grad", x.Length, dw.Length, dy.Length);
        int cg = g.InPerGroup;
        for (int co = 0; co < g.OutChannels; co++)
        {
            int grp = co / g.OutPerGroup;
            for (int cl = 0; cl < cg; cl++)
            {
                int ci = grp * cg + cl;
                for (int ki = 0; ki < g.KernelH; ki++)
                    for (int kj = 0; kj < g.KernelW; kj++)
                    {
                        double s = 0;
                        for (int n = 0; n < g.Batch; n++)
                            for (int oh = 0; oh < g.OutH; oh++)
                            {
                                int ih = oh * g.StrideH - g.PadH + ki * g.DilationH;
                                if (ih < 0 || ih >= g.InH) continue;
                                for (int ow = 0; ow < g.OutW; ow++)
                                {
                                    int iw = ow * g.StrideW - g.PadW + kj * g.DilationW;
                                    if (iw < 0 || iw >= g.InW) continue;
                                    s += (double)dy[((n * g.OutChannels + co) * g.OutH + oh) * g.OutW + ow] *
                                         x[((n * g.InChannels + ci) * g.InH + ih) * g.InW + iw];
                                }
                            }
                        dw[((co * cg + cl) * g.KernelH + ki) * g.KernelW + kj] = (float)s;
                    }
            }
        }
    }
}
