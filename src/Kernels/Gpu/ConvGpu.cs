using ILGPU;
using ILGPU.Runtime;
using Kernels.Cpu;

namespace Kernels.Gpu;

/// <summary>The geometry of <see cref="Conv2dGeometry"/> as kernel arguments, plus the group being processed.</summary>
public struct ConvArgs
{
    public int N, Cin, H, W, Cout, Kh, Kw, Sh, Sw, Ph, Pw, Dh, Dw, Ho, Wo, Cg, Group;

    public static ConvArgs Of(in Conv2dGeometry g, int group) => new()
    {
        N = g.Batch, Cin = g.InChannels, H = g.InH, W = g.InW, Cout = g.OutChannels, Kh = g.KernelH, Kw = g.KernelW,
        Sh = g.StrideH, Sw = g.StrideW, Ph = g.PadH, Pw = g.PadW, Dh = g.DilationH, Dw = g.DilationW,
        Ho = g.OutH, Wo = g.OutW, Cg = g.InPerGroup, Group = group,
    };
}

/// <summary>
/// Convolution by im2col + the tiled GEMM, the whole batch at once: the patches of one group form a
/// (Cg·Kh·Kw) × (N·Ho·Wo) matrix, so each pass is one large GEMM rather than N small ones. col2im gathers (one
/// thread per input element, looping over the kernel taps that reach it), so no atomics are needed.
/// </summary>
static class ConvGpu
{
    public static void Im2colKernel(Index1D e, ArrayView<float> x, ArrayView<float> cols, ConvArgs p)
    {
        int np = p.N * p.Ho * p.Wo, plane = p.Ho * p.Wo;
        int row = e / np, col = e % np;
        int n = col / plane, pos = col % plane, oh = pos / p.Wo, ow = pos % p.Wo;
        int c = row / (p.Kh * p.Kw), tap = row % (p.Kh * p.Kw), ki = tap / p.Kw, kj = tap % p.Kw;
        int ih = oh * p.Sh - p.Ph + ki * p.Dh, iw = ow * p.Sw - p.Pw + kj * p.Dw;
        cols[e] = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W ? x[((n * p.Cin + p.Group * p.Cg + c) * p.H + ih) * p.W + iw] : 0f;
    }

    /// <summary>dx of one group's input channels from the column gradient: the adjoint of <see cref="Im2colKernel"/>. Overwrites.</summary>
    public static void Col2imKernel(Index1D e, ArrayView<float> dcols, ArrayView<float> dx, ConvArgs p)
    {
        int iw = e % p.W, ih = e / p.W % p.H, c = e / (p.W * p.H) % p.Cg, n = e / (p.W * p.H * p.Cg);
        int np = p.N * p.Ho * p.Wo;
        float s = 0;
        for (int ki = 0; ki < p.Kh; ki++)
        {
            int th = ih + p.Ph - ki * p.Dh;
            if (th < 0 || th % p.Sh != 0) continue;
            int oh = th / p.Sh;
            if (oh >= p.Ho) continue;
            for (int kj = 0; kj < p.Kw; kj++)
            {
                int tw = iw + p.Pw - kj * p.Dw;
                if (tw < 0 || tw % p.Sw != 0) continue;
                int ow = tw / p.Sw;
                if (ow >= p.Wo) continue;
                s += dcols[((c * p.Kh + ki) * p.Kw + kj) * np + (n * p.Ho + oh) * p.Wo + ow];
            }
        }
        dx[((n * p.Cin + p.Group * p.Cg + c) * p.H + ih) * p.W + iw] = s;
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ConvArgs>? im2col;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ConvArgs>? col2im;
    MemoryBuffer1D<float, Stride1D.Dense>? scratch;

    /// <summary>
    /// A device work area of at least <paramref name="length"/> floats, kept and grown between calls. Safe to reuse
    /// because every launcher enqueues on the one default stream, which runs kernels in order.
    /// </summary>
    ArrayView<float> Scratch(long length)
    {
        if (scratch is null || scratch.Length < length)
        {
            scratch?.Dispose();
            scratch = Accelerator.Allocate1D<float>(Math.Max(length, 1));
        }
        return scratch.View.SubView(0, Math.Max(length, 1));
    }

    void Im2col(ArrayView<float> x, ArrayView<float> cols, ConvArgs p)
    {
        im2col ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvArgs>(ConvGpu.Im2colKernel);
        im2col(Stream, (int)cols.Length, x, cols, p);
    }

    /// <summary>Views the (N, Cout, Ho·Wo) tensor's channels of group g as the (Cout/G, N·Ho·Wo) matrix the GEMM reads or writes.</summary>
    static (StridedOperand Nchw, StridedOperand Matrix, int[] Shape) GroupLayout(in Conv2dGeometry g, int group)
    {
        int plane = g.OutPlane, cog = g.OutPerGroup;
        return (StridedOperand.Of([g.OutChannels * plane, plane, 1], group * cog * plane),
                StridedOperand.Of([plane, g.Batch * plane, 1], 0),
                [g.Batch, cog, plane]);
    }

    /// <summary>y = conv(x, w) + bias over NCHW views (bias empty for none). Overwrites y.</summary>
    public void Conv2dForward(in Conv2dGeometry g, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y)
    {
        if (g.OutputLength == 0) return;
        int np = g.Batch * g.OutPlane, patch = g.PatchSize, cog = g.OutPerGroup;
        var work = Scratch((long)patch * np + (long)cog * np);
        var cols = work.SubView(0, (long)patch * np);
        var tmp = work.SubView((long)patch * np, (long)cog * np);
        for (int grp = 0; grp < g.Groups; grp++)
        {
            Im2col(x, cols, ConvArgs.Of(g, grp));
            Gemm(false, false, cog, np, patch, 1f, w.SubView((long)grp * cog * patch, (long)cog * patch), patch, cols, np, 0f, tmp, np);
            var (nchw, matrix, shape) = GroupLayout(g, grp);
            Copy(shape, tmp, matrix, y, nchw);
        }
        if (bias.Length > 0)
            Binary(BinaryCode.Add, [g.Batch, g.OutChannels, g.OutPlane], y, StridedOperand.Of([g.OutChannels * g.OutPlane, g.OutPlane, 1], 0),
                bias, StridedOperand.Of([0, 1, 0], 0), y);
    }

    /// <summary>dx = the transposed convolution of dy (also ConvTranspose2d's forward). Overwrites dx.</summary>
    public void Conv2dInputGrad(in Conv2dGeometry g, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx)
    {
        if (g.InputLength == 0) return;
        int np = g.Batch * g.OutPlane, patch = g.PatchSize, cog = g.OutPerGroup;
        var work = Scratch((long)patch * np + (long)cog * np);
        var dcols = work.SubView(0, (long)patch * np);
        var dyg = work.SubView((long)patch * np, (long)cog * np);
        col2im ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvArgs>(ConvGpu.Col2imKernel);
        for (int grp = 0; grp < g.Groups; grp++)
        {
            var (nchw, matrix, shape) = GroupLayout(g, grp);
            if (np > 0) Copy(shape, dy, nchw, dyg, matrix);
            if (np > 0) Gemm(true, false, patch, np, cog, 1f, w.SubView((long)grp * cog * patch, (long)cog * patch), patch, dyg, np, 0f, dcols, np);
            else Fill(dcols, 0f);
            col2im(Stream, g.Batch * g.InPerGroup * g.InPlane, dcols, dx, ConvArgs.Of(g, grp));
        }
    }

    /// <summary>dw = ∂(Σ dy·conv(x, w))/∂w. Overwrites dw.</summary>
    public void Conv2dWeightGrad(in Conv2dGeometry g, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw)
    {
        if (g.WeightLength == 0) return;
        int np = g.Batch * g.OutPlane, patch = g.PatchSize, cog = g.OutPerGroup;
        if (np == 0) { Fill(dw, 0f); return; }
        var work = Scratch((long)patch * np + (long)cog * np);
        var cols = work.SubView(0, (long)patch * np);
        var dyg = work.SubView((long)patch * np, (long)cog * np);
        for (int grp = 0; grp < g.Groups; grp++)
        {
            Im2col(x, cols, ConvArgs.Of(g, grp));
            var (nchw, matrix, shape) = GroupLayout(g, grp);
            Copy(shape, dy, nchw, dyg, matrix);
            Gemm(false, true, cog, patch, np, 1f, dyg, np, cols, np, 0f, dw.SubView((long)grp * cog * patch, (long)cog * patch), patch);
        }
    }
}
