using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// The geometry of a square pooling window over P = N·C planes of H×W, giving OutH×OutW per plane (the op's
/// layout: windows start at o·stride − padding and are clipped to the plane).
/// </summary>
public struct PoolArgs
{
    public int Planes, H, W, OutH, OutW, Kernel, Stride, Padding;

    public static PoolArgs Of(int planes, int h, int w, int kernel, int stride, int padding) => new()
    {
        Planes = planes, H = h, W = w, Kernel = kernel, Stride = stride, Padding = padding,
        OutH = (h + 2 * padding - kernel) / stride + 1, OutW = (w + 2 * padding - kernel) / stride + 1,
    };

    public readonly long InputLength => (long)Planes * H * W;
    public readonly long OutputLength => (long)Planes * OutH * OutW;
}

/// <summary>
/// Average and max pooling and nearest upsampling over (N, C, H, W), forward and backward. Every backward is a
/// gather: one thread per input element sums the output gradients whose window covers it (max pooling: those whose
/// saved argmax is that element), in increasing output order, so there are no atomics and the sums are
/// deterministic and in the CPU op's order.
/// </summary>
static class PoolingGpu
{
    /// <summary>The outputs [lo, hi) along one axis whose window covers input position <paramref name="i"/>.</summary>
    static void Covering(int i, int kernel, int stride, int padding, int outSize, out int lo, out int hi)
    {
        int a = i + padding - kernel + 1;                                  // o·stride ≥ a
        lo = a <= 0 ? 0 : (a + stride - 1) / stride;
        hi = Math.Min((i + padding) / stride + 1, outSize);
    }

    public static void AvgForwardKernel(Index1D o, ArrayView<float> x, ArrayView<float> y, PoolArgs p)
    {
        int ow = o % p.OutW, oh = o / p.OutW % p.OutH, pl = o / (p.OutW * p.OutH);
        int h0 = oh * p.Stride - p.Padding, w0 = ow * p.Stride - p.Padding;
        int h1 = Math.Min(h0 + p.Kernel, p.H), w1 = Math.Min(w0 + p.Kernel, p.W);
        float sum = 0;
        for (int ih = Math.Max(h0, 0); ih < h1; ih++)
            for (int iw = Math.Max(w0, 0); iw < w1; iw++) sum += x[(pl * p.H + ih) * p.W + iw];
        y[o] = sum * (1f / (p.Kernel * p.Kernel));
    }

    public static void AvgBackwardKernel(Index1D i, ArrayView<float> dy, ArrayView<float> dx, PoolArgs p)
    {
        int iw = i % p.W, ih = i / p.W % p.H, pl = i / (p.W * p.H);
        Covering(ih, p.Kernel, p.Stride, p.Padding, p.OutH, out int oh0, out int oh1);
        Covering(iw, p.Kernel, p.Stride, p.Padding, p.OutW, out int ow0, out int ow1);
        float inv = 1f / (p.Kernel * p.Kernel), sum = 0;
        for (int oh = oh0; oh < oh1; oh++)
            for (int ow = ow0; ow < ow1; ow++) sum += dy[(pl * p.OutH + oh) * p.OutW + ow] * inv;
        dx[i] = sum;
    }

    /// <summary>Window maximum (padding never wins, a NaN does) and the flat input index of its first occurrence.</summary>
    public static void MaxForwardKernel(Index1D o, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax, PoolArgs p)
    {
        int ow = o % p.OutW, oh = o / p.OutW % p.OutH, pl = o / (p.OutW * p.OutH);
        int h0 = oh * p.Stride - p.Padding, w0 = ow * p.Stride - p.Padding;
        int h1 = Math.Min(h0 + p.Kernel, p.H), w1 = Math.Min(w0 + p.Kernel, p.W);
        float best = float.NegativeInfinity;
        int at = -1;
        for (int ih = Math.Max(h0, 0); ih < h1; ih++)
            for (int iw = Math.Max(w0, 0); iw < w1; iw++)
            {
                int i = (pl * p.H + ih) * p.W + iw;
                float v = x[i];
                if (at < 0 || v > best || (float.IsNaN(v) && !float.IsNaN(best))) { best = v; at = i; }
            }
        y[o] = best;
        argmax[o] = at;
    }

    public static void MaxBackwardKernel(Index1D i, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx, PoolArgs p)
    {
        int iw = i % p.W, ih = i / p.W % p.H, pl = i / (p.W * p.H);
        Covering(ih, p.Kernel, p.Stride, p.Padding, p.OutH, out int oh0, out int oh1);
        Covering(iw, p.Kernel, p.Stride, p.Padding, p.OutW, out int ow0, out int ow1);
        float sum = 0;
        for (int oh = oh0; oh < oh1; oh++)
            for (int ow = ow0; ow < ow1; ow++)
            {
                int o = (pl * p.OutH + oh) * p.OutW + ow;
                if (argmax[o] == i) sum += dy[o];
            }
        dx[i] = sum;
    }

    public static void UpsampleForwardKernel(Index1D o, ArrayView<float> x, ArrayView<float> y, int h, int w, int scale)
    {
        int wo = w * scale, ho = h * scale;
        int ow = o % wo, oh = o / wo % ho, pl = o / (wo * ho);
        y[o] = x[(pl * h + oh / scale) * w + ow / scale];
    }

    public static void UpsampleBackwardKernel(Index1D i, ArrayView<float> dy, ArrayView<float> dx, int h, int w, int scale)
    {
        int wo = w * scale, ho = h * scale;
        int iw = i % w, ih = i / w % h, pl = i / (w * h);
        int at = (pl * ho + ih * scale) * wo + iw * scale;
        float sum = 0;
        for (int a = 0; a < scale; a++, at += wo)
            for (int b = 0; b < scale; b++) sum += dy[at + b];
        dx[i] = sum;
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PoolArgs>? avgPoolForward, avgPoolBackward;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolArgs>? maxPoolForward;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, PoolArgs>? maxPoolBackward;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int>? upsampleForward, upsampleBackward;

    /// <summary>y (P, OutH, OutW) = mean of each window of x (P, H, W); padding counts in the mean (count_include_pad).</summary>
    public void AvgPool2dForward(PoolArgs p, ArrayView<float> x, ArrayView<float> y)
    {
        if (p.OutputLength == 0) return;
        avgPoolForward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, PoolArgs>(PoolingGpu.AvgForwardKernel);
        avgPoolForward(Stream, (int)p.OutputLength, x, y, p);
    }

    /// <summary>dx (P, H, W) = Σ over the windows covering each element of dy/kernel² (overwrites dx).</summary>
    public void AvgPool2dBackward(PoolArgs p, ArrayView<float> dy, ArrayView<float> dx)
    {
        if (p.InputLength == 0) return;
        avgPoolBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, PoolArgs>(PoolingGpu.AvgBackwardKernel);
        avgPoolBackward(Stream, (int)p.InputLength, dy, dx, p);
    }

    /// <summary>
    /// y = maximum of each window; argmax (an int per output) = flat index into x of the window's first maximum,
    /// which <see cref="MaxPool2dBackward"/> needs. Padding must be at most half the kernel (every window meets the plane).
    /// </summary>
    public void MaxPool2dForward(PoolArgs p, ArrayView<float> x, ArrayView<float> y, ArrayView<int> argmax)
    {
        if (p.OutputLength == 0) return;
        maxPoolForward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolArgs>(PoolingGpu.MaxForwardKernel);
        maxPoolForward(Stream, (int)p.OutputLength, x, y, argmax, p);
    }

    /// <summary>dx[i] = Σ dy[o] over the outputs o whose argmax is i (overwrites dx; a gather, no atomics).</summary>
    public void MaxPool2dBackward(PoolArgs p, ArrayView<float> dy, ArrayView<int> argmax, ArrayView<float> dx)
    {
        if (p.InputLength == 0) return;
        maxPoolBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, PoolArgs>(PoolingGpu.MaxBackwardKernel);
        maxPoolBackward(Stream, (int)p.InputLength, dy, argmax, dx, p);
    }

    /// <summary>y (P, H·scale, W·scale) repeats each pixel of x (P, H, W) scale×scale times.</summary>
    public void UpsampleNearest2dForward(int planes, int h, int w, int scale, ArrayView<float> x, ArrayView<float> y)
    {
        long total = (long)planes * h * w * scale * scale;
        if (total == 0) return;
        upsampleForward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(PoolingGpu.UpsampleForwardKernel);
        upsampleForward(Stream, checked((int)total), x, y, h, w, scale);
    }

    /// <summary>dx (P, H, W) = the sum of each scale×scale block of dy (P, H·scale, W·scale) (overwrites dx).</summary>
    public void UpsampleNearest2dBackward(int planes, int h, int w, int scale, ArrayView<float> dy, ArrayView<float> dx)
    {
        long total = (long)planes * h * w;
        if (total == 0) return;
        upsampleBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(PoolingGpu.UpsampleBackwardKernel);
        upsampleBackward(Stream, checked((int)total), dy, dx, h, w, scale);
    }
}
