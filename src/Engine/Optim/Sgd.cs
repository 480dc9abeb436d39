namespace Engine.Optim;

/// <summary>
/// Stochastic gradient descent as in PyTorch's <c>torch.optim.SGD</c>: with gradient g, weight decay λ,
/// momentum μ and dampening τ,
/// <code>
/// d = g + λ·w
/// b = d on the first step, else μ·b + (1 − τ)·d      (when μ ≠ 0)
/// d = nesterov ? d + μ·b : b
/// w = w − lr·d
/// </code>
/// </summary>
/// <example><c>var opt = new Sgd(model.Parameters(), lr: 0.1f, momentum: 0.9f);</c></example>
public sealed class Sgd : Optimizer
{
    const string MomentumBuffer = "momentum_buffer";

    public float Momentum { get; }
    public float Dampening { get; }
    public bool Nesterov { get; }
    public float WeightDecay { get; }

    public Sgd(IEnumerable<Tensor> parameters, float lr, float momentum = 0f, float dampening = 0f, bool nesterov = false, float weightDecay = 0f)
        : base(parameters, lr)
    {
        if (!(momentum >= 0f)) throw new ArgumentOutOfRangeException(nameof(momentum), $"Sgd: momentum must be non-negative, got {momentum}");
        if (!(weightDecay >= 0f)) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"Sgd: weight decay must be non-negative, got {weightDecay}");
        if (nesterov && (momentum <= 0f || dampening != 0f))
            throw new ArgumentException($"Sgd: Nesterov momentum needs momentum > 0 and dampening 0, got momentum {momentum}, dampening {dampening}");
        Momentum = momentum;
        Dampening = dampening;
        Nesterov = nesterov;
        WeightDecay = weightDecay;
    }

    protected override IReadOnlyCollection<string> BufferNames { get; } = [MomentumBuffer];

    /// <summary>On the backend's elementwise kernels, in the float operations and order of the formula above.</summary>
    protected override void Update(int index, Tensor w, Tensor g)
    {
        float lr = LearningRate, wd = WeightDecay, mu = Momentum;
        var d = g + wd * w;
        if (mu == 0f)
        {
            w.CopyFrom(w - lr * d);
            return;
        }
        bool first = !HasBuffer(index, MomentumBuffer);
        var b = Buffer(index, MomentumBuffer);
        b.CopyFrom(first ? d : mu * b + (1f - Dampening) * d);
        w.CopyFrom(w - lr * (Nesterov ? d + mu * b : b));
    }
}
