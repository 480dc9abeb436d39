namespace Kernels.Cpu;

/// <summary>
/// The signature of every softmax and log-softmax forward variant. x and y are (outer, len, inner) row-major and
/// the softmax runs along the middle axis, so any axis of a contiguous tensor is handled without a permute.
/// </summary>
public delegate void SoftmaxForwardKernel(int outer, int len, int inner, ReadOnlySpan<float> x, Span<float> y);

/// <summary>
/// The signature of every softmax and log-softmax backward variant: dx from the forward's output y and the
/// incoming gradient dy, all (outer, len, inner). dx is overwritten.
/// </summary>
public delegate void SoftmaxBackwardKernel(int outer, int len, int inner, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx);

/// <summary>
/// Softmax and log-softmax along the middle axis of (outer, len, inner), reference versions (the fast ones are in
/// <see cref="SoftmaxSimd"/>). Each line is shifted by its maximum, so large logits do not overflow; a line whose
/// maximum is −∞ is shifted by 0.
/// </summary>
public static class Softmax
{
    /// <summary>y = exp(x − max) / Σ exp(x − max), in double.</summary>
    public static void ForwardReference(int outer, int len, int inner, ReadOnlySpan<float> x, Span<float> y)
    {
        Check("SoftmaxForward", outer, len, inner, x.Length, y.Length, y.Length);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * len * inner + i;
                double max = LineMax(x, b, len, inner), sum = 0;
                for (int j = 0; j < len; j++) sum += Math.Exp(x[b + j * inner] - max);
                for (int j = 0; j < len; j++) y[b + j * inner] = (float)(Math.Exp(x[b + j * inner] - max) / sum);
            }
    }

    /// <summary>y = (x − max) − log Σ exp(x − max), in double.</summary>
    public static void LogForwardReference(int outer, int len, int inner, ReadOnlySpan<float> x, Span<float> y)
    {
        Check("LogSoftmaxForward", outer, len, inner, x.Length, y.Length, y.Length);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * len * inner + i;
                double max = LineMax(x, b, len, inner), sum = 0;
                for (int j = 0; j < len; j++) sum += Math.Exp(x[b + j * inner] - max);
                double logSum = Math.Log(sum);
                for (int j = 0; j < len; j++) y[b + j * inner] = (float)(x[b + j * inner] - max - logSum);
            }
    }

    /// <summary>dx = y·(g − Σ g·y), in double.</summary>
    public static void BackwardReference(int outer, int len, int inner, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        Check("SoftmaxBackward", outer, len, inner, y.Length, dy.Length, dx.Length);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * len * inner + i;
                double dot = 0;
                for (int j = 0; j < len; j++) dot += (double)dy[b + j * inner] * y[b + j * inner];
                for (int j = 0; j < len; j++) dx[b + j * inner] = (float)(y[b + j * inner] * (dy[b + j * inner] - dot));
            }
    }

    /// <summary>dx = g − exp(y)·Σ g (y is the log-softmax output), in double.</summary>
    public static void LogBackwardReference(int outer, int len, int inner, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        Check("LogSoftmaxBackward", outer, len, inner, y.Length, dy.Length, dx.Length);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * len * inner + i;
                double total = 0;
                for (int j = 0; j < len; j++) total += dy[b + j * inner];
                for (int j = 0; j < len; j++) dx[b + j * inner] = (float)(dy[b + j * inner] - Math.Exp(y[b + j * inner]) * total);
            }
    }

    static double LineMax(ReadOnlySpan<float> x, int start, int len, int stride)
    {
        float max = float.NegativeInfinity;
        for (int j = 0; j < len; j++) max = MathF.Max(max, x[start + j * stride]);
        return float.IsNegativeInfinity(max) ? 0 : max;
    }

    internal static void Check(string op, int outer, int len, int inner, int aLen, int bLen, int outLen)
    {
        if (outer < 0 || len < 1 || inner < 0)
            throw new ArgumentException($"{op}: outer {outer}, len {len}, inner {inner}: expected outer ≥ 0, len ≥ 1, inner ≥ 0");
        long numel = (long)outer * len * inner;
        if (aLen < numel || bLen < numel || outLen < numel)
            throw new ArgumentException($"{op}: inputs ({aLen}, {bLen}) and output ({outLen}) must hold outer·len·inner = {numel} values");
    }
}
