namespace Engine.Nn;

/// <summary>PyTorch's <c>nn.RMSNorm</c> over the last axis of width D: weight (D) = 1 when affine.</summary>
public sealed class RmsNorm : Layer
{
    public float Eps { get; }
    public Tensor? Weight { get; }

    public RmsNorm(int normalizedShape, float eps = 1e-6f, bool elementwiseAffine = true)
    {
        if (normalizedShape < 1) throw new ShapeMismatchException($"RmsNorm: width must be ≥ 1, got {normalizedShape}");
        Eps = eps;
        if (elementwiseAffine) Weight = Parameter("weight", Tensor.Ones([normalizedShape]));
    }

    public override Tensor Forward(Tensor x) => Tensor.RmsNorm(x, Weight, Eps);
}
