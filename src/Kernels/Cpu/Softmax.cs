using System.Runtime.Intrinsics;

namespace Kernels.Cpu;

/// <summary>Softmax and log-softmax over contiguous rows, stable (shifted by the row maximum), with their backward passes.</summary>
public static class Softmax
{
    /// <summary>y = exp(x − max − log Σ exp(x − max)) per row; with <paramref name="log"/>, the log of it.</summary>
    public static void Forward(int rows, int rowLen, bool log, ReadOnlySpan<float> x, Span<float> y)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * rowLen, rowLen);
            var yr = y.Slice(r * rowLen, rowLen);
            float max = float.NegativeInfinity;
            foreach (var v in xr) max = MathF.Max(max, v);
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= rowLen - 16; i += 16)
                    Vector512.Exp(Vector512.Create(xr.Slice(i, 16)) - Vector512.Create(max)).CopyTo(yr.Slice(i, 16));
            for (; i < rowLen; i++) yr[i] = MathF.Exp(xr[i] - max);
            double sum = 0;
            foreach (var v in yr) sum += v;
            if (log)
            {
                float shift = max + (float)Math.Log(sum);
                for (int e = 0; e < rowLen; e++) yr[e] = xr[e] - shift;
            }
            else
            {
                float inv = (float)(1 / sum);
                for (int e = 0; e < rowLen; e++) yr[e] *= inv;
            }
        }
    }

    /// <summary>Softmax: dx = y·(dy − Σ dy·y). Log-softmax: dx = dy − exp(y)·Σ dy. Overwrites dx.</summary>
    public static void Backward(int rows, int rowLen, bool log, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * rowLen, rowLen);
            var gr = dy.Slice(r * rowLen, rowLen);
            var dr = dx.Slice(r * rowLen, rowLen);
            double s = 0;
            if (log)
            {
                for (int e = 0; e < rowLen; e++) s += gr[e];
                for (int e = 0; e < rowLen; e++) dr[e] = gr[e] - MathF.Exp(yr[e]) * (float)s;
            }
            else
            {
                for (int e = 0; e < rowLen; e++) s += (double)gr[e] * yr[e];
                for (int e = 0; e < rowLen; e++) dr[e] = yr[e] * (gr[e] - (float)s);
            }
        }
    }
}
