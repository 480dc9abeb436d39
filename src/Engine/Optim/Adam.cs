namespace Engine.Optim;

/// <summary>
/// Adam (Kingma and Ba, 2015) as in PyTorch's <c>torch.optim.Adam</c>, weight decay included as an L2 term
/// in the gradient. With t the parameter's own step count:
/// <code>
/// g = g + λ·w
/// m = β1·m + (1 − β1)·g;   v = β2·v + (1 − β2)·g²
/// w = w − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
/// </code>
/// </summary>
/// <example><c>var opt = new Adam(model.Parameters(), lr: 2e-4f, beta1: 0.5f);</c></example>
public sealed class Adam : Optimizer
{
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }
    public float WeightDecay { get; }

    public Adam(IEnumerable<Tensor> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0f)
        : base(parameters, lr)
    {
        AdamMath.Check("Adam", beta1, beta2, eps, weightDecay);
        (Beta1, Beta2, Eps, WeightDecay) = (beta1, beta2, eps, weightDecay);
    }

    protected override IReadOnlyCollection<string> BufferNames => AdamMath.BufferNames;
    protected override int[] BufferShape(int index, string name) => name == "step" ? [] : base.BufferShape(index, name);

    protected override void Update(int index, Span<float> w, ReadOnlySpan<float> g)
    {
        int t = AdamMath.NextStep(Buffer(index, "step"));
        if (WeightDecay == 0f) { AdamMath.Update(w, g, Buffer(index, "exp_avg").Span, Buffer(index, "exp_avg_sq").Span, t, LearningRate, Beta1, Beta2, Eps, 0f); return; }
        // L2 decay: the kernel's step on g + λ·w (its own, decoupled decay off).
        float[] decayed = System.Buffers.ArrayPool<float>.Shared.Rent(g.Length);
        try
        {
            var gl = decayed.AsSpan(0, g.Length);
            for (int j = 0; j < gl.Length; j++) gl[j] = g[j] + WeightDecay * w[j];
            AdamMath.Update(w, gl, Buffer(index, "exp_avg").Span, Buffer(index, "exp_avg_sq").Span, t, LearningRate, Beta1, Beta2, Eps, 0f);
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(decayed); }
    }
}

/// <summary>
/// AdamW (Loshchilov and Hutter, 2019) as in PyTorch's <c>torch.optim.AdamW</c>: the weight decay is applied
/// to the weights directly, before and apart from the Adam step:
/// <code>
/// w = w·(1 − lr·λ)
/// m = β1·m + (1 − β1)·g;   v = β2·v + (1 − β2)·g²
/// w = w − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
/// </code>
/// </summary>
/// <example><c>var opt = new AdamW(model.Parameters(), lr: 1e-4f, weightDecay: 0.01f);</c></example>
public sealed class AdamW : Optimizer
{
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }
    public float WeightDecay { get; }

    public AdamW(IEnumerable<Tensor> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
        : base(parameters, lr)
    {
        AdamMath.Check("AdamW", beta1, beta2, eps, weightDecay);
        (Beta1, Beta2, Eps, WeightDecay) = (beta1, beta2, eps, weightDecay);
    }

    protected override IReadOnlyCollection<string> BufferNames => AdamMath.BufferNames;
    protected override int[] BufferShape(int index, string name) => name == "step" ? [] : base.BufferShape(index, name);

    protected override void Update(int index, Span<float> w, ReadOnlySpan<float> g)
    {
        int t = AdamMath.NextStep(Buffer(index, "step"));
        AdamMath.Update(w, g, Buffer(index, "exp_avg").Span, Buffer(index, "exp_avg_sq").Span, t,
            LearningRate, Beta1, Beta2, Eps, WeightDecay);
    }

    /// <summary>The fused AdamW kernel on the GPU: weight, moments and gradient never leave the device.</summary>
    protected override void UpdateOnDevice(int index, Tensor weight, Tensor grad)
    {
        int t = AdamMath.NextStep(Buffer(index, "step"));
        Gpu.GpuOps.AdamW(weight, grad, Buffer(index, "exp_avg"), Buffer(index, "exp_avg_sq"), LearningRate, Beta1, Beta2, Eps, WeightDecay, t);
    }
}

/// <summary>The update shared by <see cref="Adam"/> and <see cref="AdamW"/>.</summary>
static class AdamMath
{
    public static IReadOnlyCollection<string> BufferNames { get; } = ["step", "exp_avg", "exp_avg_sq"];

    public static void Check(string op, float beta1, float beta2, float eps, float weightDecay)
    {
        if (!(beta1 >= 0f && beta1 < 1f)) throw new ArgumentOutOfRangeException(nameof(beta1), $"{op}: beta1 must be in [0, 1), got {beta1}");
        if (!(beta2 >= 0f && beta2 < 1f)) throw new ArgumentOutOfRangeException(nameof(beta2), $"{op}: beta2 must be in [0, 1), got {beta2}");
        if (!(eps >= 0f)) throw new ArgumentOutOfRangeException(nameof(eps), $"{op}: eps must be non-negative, got {eps}");
        if (!(weightDecay >= 0f)) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"{op}: weight decay must be non-negative, got {weightDecay}");
    }

    /// <summary>Advances the parameter's step counter (a one-element tensor, exact up to 2²⁴ steps) and returns the new count.</summary>
    public static int NextStep(Tensor step)
    {
        if (step.Rank != 0) throw new InvalidOperationException("Adam: the step counter must be a scalar");
        var s = step.Span;
        s[0] += 1f;
        return (int)s[0];
    }

    /// <summary>
    /// One step through the registry's AdamW kernel (<see cref="Kernels.Cpu.KernelRegistry.FastAdamW"/>, the current
    /// context's choice): Adam is AdamW with its decoupled decay <paramref name="decoupledDecay"/> at 0.
    /// </summary>
    public static void Update(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v, int t,
        float lr, float beta1, float beta2, float eps, float decoupledDecay) =>
        Kernels.Cpu.KernelRegistry.FastAdamW(w, g, m, v, lr, beta1, beta2, eps, decoupledDecay, t);
}
