namespace Engine.Nn;

/// <summary>PyTorch's <c>nn.LayerNorm</c> over the last axis of width D: weight (D) = 1 and bias (D) = 0 when affine.</summary>
/// <example><c>var norm = new LayerNorm(384, elementwiseAffine: false, eps: 1e-6f);</c></example>
public sealed class LayerNorm : Layer
{
    public float Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public LayerNorm(int normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true, bool bias = true)
    {
        if (normalizedShape < 1) throw new ShapeMismatchException($"LayerNorm: width must be ≥ 1, got {normalizedShape}");
        Eps = eps;
        if (elementwiseAffine)
        {
            Weight = Parameter("weight", Tensor.Ones([normalizedShape]));
            if (bias) Bias = Parameter("bias", Tensor.Zeros([normalizedShape]));
        }
    }

    public override Tensor Forward(Tensor x) => Tensor.LayerNorm(x, Weight, Bias, Eps);
}
