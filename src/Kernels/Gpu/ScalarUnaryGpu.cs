using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Unary functions with scalar parameters (a, b), each with the formula of the CPU op (Tensor.LeakyRelu, Pow, Clamp):
/// LeakyRelu: x &gt; 0 ? x : a·x. Pow: x^a. Clamp: x limited to [a, b] (NaN stays NaN; gradient 1 on [a, b], else 0).
/// </summary>
public enum ScalarUnaryCode { LeakyRelu, Pow, Clamp }

/// <summary>Elementwise maps with scalar parameters, forward and backward.</summary>
static class ScalarUnaryGpu
{
    public static float Forward(int code, float x, float a, float b)
    {
        if (code == 0) return x > 0 ? x : a * x;
        if (code == 1) return MathF.Pow(x, a);
        if (x < a) return a;
        if (x > b) return b;
        return x;
    }

    public static float Derivative(int code, float x, float a, float b)
    {
        if (code == 0) return x > 0 ? 1f : a;
        if (code == 1) return a == 0f ? 0f : a * MathF.Pow(x, a - 1f);     // x⁰ is constant, even at 0 (as PyTorch)
        return x >= a && x <= b ? 1f : 0f;
    }

    public static void ForwardKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, int code, float a, float b) =>
        y[i] = Forward(code, x[i], a, b);

    public static void BackwardKernel(Index1D i, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, int code, float a, float b) =>
        dx[i] = dy[i] * Derivative(code, x[i], a, b);
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, float, float>? scalarUnary;
    Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>? scalarUnaryBackward;

    /// <summary>y = f(x; a, b) elementwise over equal-length views (see <see cref="ScalarUnaryCode"/>; b is used by Clamp only).</summary>
    public void ScalarUnary(ScalarUnaryCode op, float a, float b, ArrayView<float> x, ArrayView<float> y)
    {
        if (x.Length == 0) return;
        scalarUnary ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, float, float>(ScalarUnaryGpu.ForwardKernel);
        scalarUnary(Stream, (int)x.Length, x, y, (int)op, a, b);
    }

    /// <summary>dx = dy · f′(x; a, b) (overwrites dx).</summary>
    public void ScalarUnaryBackward(ScalarUnaryCode op, float a, float b, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx)
    {
        if (x.Length == 0) return;
        scalarUnaryBackward ??= Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(ScalarUnaryGpu.BackwardKernel);
        scalarUnaryBackward(Stream, (int)x.Length, x, dy, dx, (int)op, a, b);
    }
}
