using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>
/// The signature of every fused AdamW update variant (see <see cref="AdamW"/>). Updates <paramref name="param"/>,
/// the first moment <paramref name="m"/> and the second moment <paramref name="v"/> in place, all the same length
/// as <paramref name="grad"/>. <paramref name="step"/> is the 1-based number of this update (PyTorch's
/// <c>state["step"]</c> after it is incremented), used for the bias corrections. The hyperparameters are doubles,
/// as Python floats are in PyTorch, so that 1 − β2 of 0.999 is 0.001 and not the 0.00099998713 of a float β2.
/// </summary>
public delegate void AdamWKernel(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v,
    double lr, double beta1, double beta2, double eps, double weightDecay, int step);

/// <summary>
/// One AdamW step over a flat parameter buffer, exactly as PyTorch's <c>torch.optim.AdamW</c> (amsgrad off,
/// maximize off) does it per element:
/// <code>
/// p ← p·(1 − lr·λ)                                   decoupled weight decay
/// m ← lerp(m, g, 1 − β1)                             = β1·m + (1 − β1)·g
/// v ← β2·v + (1 − β2)·g²
/// p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
/// </code>
/// An optimizer calls <see cref="KernelRegistry.FastAdamW"/> once per parameter tensor per step, with the
/// parameter's contiguous data, its gradient and its two state buffers (zero-initialised before step 1):
/// <c>KernelRegistry.FastAdamW(p, g, m, v, lr, 0.9, 0.999, 1e-8, 0.01, step)</c>.
/// </summary>
public static class AdamW
{
    const int Block = 1 << 14; // elements per parallel work item

    /// <summary>The per-element formula in double, one element at a time (the ground truth for tests).</summary>
    public static void Reference(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v,
        double lr, double beta1, double beta2, double eps, double weightDecay, int step)
    {
        Check(param.Length, grad.Length, m.Length, v.Length, step);
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        double stepSize = lr / bc1, bc2Sqrt = Math.Sqrt(bc2), weight = 1 - beta1;
        for (int i = 0; i < grad.Length; i++)
        {
            double g = grad[i], p = param[i] * (1 - lr * weightDecay);
            double mi = m[i];
            // PyTorch's lerp, including its switch of form at weight 0.5.
            mi = weight < 0.5 ? mi + weight * (g - mi) : g - (g - mi) * (1 - weight);
            double vi = v[i] * beta2 + (1 - beta2) * g * g;
            p -= stepSize * mi / (Math.Sqrt(vi) / bc2Sqrt + eps);
            param[i] = (float)p; m[i] = (float)mi; v[i] = (float)vi;
        }
    }

    /// <summary>
    /// The same update in single precision, vectors of width <typeparamref name="V"/> (see <see cref="IVec{TSelf}"/>),
    /// blocks of the buffer on several threads.
    /// </summary>
    public static unsafe void Simd<V>(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v,
        double lr, double beta1, double beta2, double eps, double weightDecay, int step) where V : unmanaged, IVec<V>
    {
        Check(param.Length, grad.Length, m.Length, v.Length, step);
        int n = grad.Length;
        if (n == 0) return;
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        var k = new Constants((float)(1 - lr * weightDecay), (float)(1 - beta1), 1 - beta1 >= 0.5,
            (float)beta2, (float)(1 - beta2), (float)(lr / bc1), (float)Math.Sqrt(bc2), (float)eps);
        fixed (float* pp = param, gp = grad, mp = m, vp = v)
        {
            nint pa = (nint)pp, ga = (nint)gp, ma = (nint)mp, va = (nint)vp;
            int blocks = (n + Block - 1) / Block;
            Parallelism.For(blocks, 4L * Block, bi =>
            {
                int start = bi * Block;
                Update<V>((float*)pa + start, (float*)ga + start, (float*)ma + start, (float*)va + start, Math.Min(Block, n - start), k);
            });
        }
    }

    /// <param name="Decay">1 − lr·λ</param>
    /// <param name="Weight">1 − β1, the lerp weight</param>
    /// <param name="FromEnd">whether the lerp uses its second form (weight ≥ 0.5)</param>
    /// <param name="StepSize">lr / (1 − β1^t)</param>
    /// <param name="Bc2Sqrt">√(1 − β2^t)</param>
    readonly record struct Constants(float Decay, float Weight, bool FromEnd, float Beta2, float OneMinusBeta2, float StepSize, float Bc2Sqrt, float Eps);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Update<V>(float* p, float* g, float* m, float* v, int n, Constants k) where V : unmanaged, IVec<V>
    {
        int i = 0;
        var decay = V.Create(k.Decay); var weight = V.Create(k.Weight); var rest = V.Create(1 - k.Weight);
        var beta2 = V.Create(k.Beta2); var oneMinusBeta2 = V.Create(k.OneMinusBeta2);
        var stepSize = V.Create(-k.StepSize); var bc2Sqrt = V.Create(k.Bc2Sqrt); var eps = V.Create(k.Eps);
        for (; i <= n - V.Count; i += V.Count)
        {
            var gv = V.Load(g + i); var mv = V.Load(m + i);
            mv = k.FromEnd ? gv - (gv - mv) * rest : V.Fma(weight, gv - mv, mv);
            var vv = V.Fma(oneMinusBeta2 * gv, gv, V.Load(v + i) * beta2);
            var denom = V.Sqrt(vv) / bc2Sqrt + eps;
            V.Store(V.Fma(stepSize, mv / denom, V.Load(p + i) * decay), p + i);
            V.Store(mv, m + i); V.Store(vv, v + i);
        }
        for (; i < n; i++)
        {
            float gi = g[i], mi = m[i];
            mi = k.FromEnd ? gi - (gi - mi) * (1 - k.Weight) : mi + k.Weight * (gi - mi);
            float vi = v[i] * k.Beta2 + k.OneMinusBeta2 * gi * gi;
            p[i] = p[i] * k.Decay - k.StepSize * (mi / (MathF.Sqrt(vi) / k.Bc2Sqrt + k.Eps));
            m[i] = mi; v[i] = vi;
        }
    }

    static void Check(int p, int g, int m, int v, int step)
    {
        if (p != g || m != g || v != g)
            throw new ArgumentException($"AdamW: param ({p}), grad ({g}), m ({m}) and v ({v}) must have the same length");
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), $"AdamW: step is 1-based, got {step}");
    }
}
