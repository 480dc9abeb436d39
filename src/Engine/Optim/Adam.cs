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

    protected override void Update(int index, Tensor w, Tensor g)
    {
        int t = AdamMath.NextStep(Buffer(index, "step"));
        // Adam's L2 decay is the gradient g + λ·w through the fused AdamW step with its own, decoupled decay off.
        var decayed = WeightDecay == 0f ? g : g + WeightDecay * w;
        w.Backend.AdamW(w, decayed, Buffer(index, "exp_avg"), Buffer(index, "exp_avg_sq"), LearningRate, Beta1, Beta2, Eps, 0, t);
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

    /// <summary>The backend's fused AdamW kernel (the registry's on the CPU): weight, moments and gradient in one pass where they live.</summary>
    protected override void Update(int index, Tensor weight, Tensor grad)
    {
        int t = AdamMath.NextStep(Buffer(index, "step"));
        weight.Backend.AdamW(weight, grad, Buffer(index, "exp_avg"), Buffer(index, "exp_avg_sq"), LearningRate, Beta1, Beta2, Eps, WeightDecay, t);
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
}
