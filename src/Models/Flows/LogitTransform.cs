using Engine;

namespace Models.Flows;

/// <summary>
/// RealNVP's preprocessing of dequantised data in [0, 1]: p = α + (1 − 2α)·x, y = log p − log(1 − p), which
/// maps the bounded data to the whole real line. log|det| = Σ [log(1 − 2α) − log p − log(1 − p)].
/// </summary>
public sealed class LogitTransform(float alpha = 0.05f) : FlowLayer
{
    public float Alpha { get; } = alpha is > 0f and < 0.5f ? alpha : throw new ArgumentOutOfRangeException(nameof(alpha), $"LogitTransform: alpha must be in (0, 0.5), got {alpha}");

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x)
    {
        var p = x * (1f - 2f * Alpha) + Alpha;
        var logP = p.Log();
        var log1mP = (1f - p).Log();
        var logDet = SumPerSample(-(logP + log1mP)) + MathF.Log(1f - 2f * Alpha) * (x.Numel / x.Shape[0]);
        return (logP - log1mP, logDet);
    }

    public override Tensor Inverse(Tensor y) => (y.Sigmoid() - Alpha) / (1f - 2f * Alpha);
}
