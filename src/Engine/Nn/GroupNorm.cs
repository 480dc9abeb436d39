namespace Engine.Nn;

/// <summary>PyTorch's <c>nn.GroupNorm</c> over (N, C, ...): weight (C) = 1 and bias (C) = 0 when affine.</summary>
/// <example><c>var norm = new GroupNorm(32, 128);</c></example>
public sealed class GroupNorm : Layer
{
    public int NumGroups { get; }
    public float Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public GroupNorm(int numGroups, int numChannels, float eps = 1e-5f, bool affine = true)
    {
        if (numGroups < 1 || numChannels % numGroups != 0)
            throw new ShapeMismatchException($"GroupNorm: {numGroups} groups do not divide {numChannels} channels");
        NumGroups = numGroups; Eps = eps;
        if (affine)
        {
            Weight = Parameter("weight", Tensor.Ones([numChannels]));
            Bias = Parameter("bias", Tensor.Zeros([numChannels]));
        }
    }

    public override Tensor Forward(Tensor x) => Tensor.GroupNorm(x, NumGroups, Weight, Bias, Eps);

    /// <summary><see cref="Forward"/> then SiLU, fused (<see cref="Tensor.GroupNormSilu"/>).</summary>
    public Tensor ForwardSilu(Tensor x) => Tensor.GroupNormSilu(x, NumGroups, Weight, Bias, Eps);
}
