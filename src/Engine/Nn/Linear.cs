using Engine.Random;

namespace Engine.Nn;

/// <summary>
/// A fully connected layer, y = x·Wᵀ + b, over the last axis of x: (…, in) → (…, out). Weight and bias are
/// initialised as in PyTorch, uniform in ±1/√in. Parameters are named <c>weight</c> (out, in) and
/// <c>bias</c> (out), so PyTorch state dicts load directly.
/// </summary>
/// <example><c>var fc = new Linear(784, 128, g); var h = fc.Forward(x); // (B, 784) → (B, 128)</c></example>
public sealed class Linear : Layer
{
    /// <summary>(out, in).</summary>
    public Tensor Weight { get; }

    /// <summary>(out), or null when built without bias.</summary>
    public Tensor? Bias { get; }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    public Linear(int inFeatures, int outFeatures, Generator g) : this(inFeatures, outFeatures, true, g) { }

    public Linear(int inFeatures, int outFeatures, bool bias, Generator g)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentOutOfRangeException(nameof(inFeatures), $"Linear: sizes must be positive, got in={inFeatures}, out={outFeatures}");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        float bound = 1f / MathF.Sqrt(inFeatures);
        Weight = Parameter("weight", Init.Uniform(Tensor.Zeros([outFeatures, inFeatures]), g, -bound, bound));
        if (bias) Bias = Parameter("bias", Init.Uniform(Tensor.Zeros([outFeatures]), g, -bound, bound));
    }

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank == 0 || x.Shape[^1] != InFeatures)
            throw new ShapeMismatchException($"Linear: input {Shapes.Format(x.Shape)} should end in {InFeatures} features (weight {Shapes.Format(Weight.Shape)})");
        if (x.Rank == 1) return Forward(x.Unsqueeze(0)).Squeeze(0);
        if (x.Rank > 2)                     // one GEMM over all rows, not one per leading index
            return Forward(x.Reshape(-1, InFeatures)).Reshape([.. x.Shape[..^1], OutFeatures]);
        return Bias is null ? Tensor.MatMul(x, Weight.T) : Tensor.Linear(x, Weight, Bias);   // (N, out)
    }
}
