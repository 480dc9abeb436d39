using Engine.Random;

namespace Engine.Nn;

/// <summary>
/// 2-D convolution layer, PyTorch's <c>nn.Conv2d</c>: weight (Cout, Cin/groups, K, K) and bias (Cout), both
/// initialised uniform in ±1/√fan_in with fan_in = Cin/groups·K·K (PyTorch's default kaiming_uniform(a=√5)).
/// </summary>
/// <example><c>var conv = new Conv2d(3, 64, 3, new Generator(0), padding: 1);</c></example>
public sealed class Conv2d : Layer
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    public int Stride { get; }
    public int Padding { get; }
    public int Dilation { get; }
    public int Groups { get; }

    public Conv2d(int inChannels, int outChannels, int kernelSize, Generator g, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true)
    {
        if (inChannels < 1 || outChannels < 1 || kernelSize < 1 || groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ShapeMismatchException($"Conv2d: in {inChannels} and out {outChannels} channels must be positive and divisible by groups {groups}; kernel {kernelSize} must be ≥ 1");
        Stride = stride; Padding = padding; Dilation = dilation; Groups = groups;
        int fanIn = inChannels / groups * kernelSize * kernelSize;
        float bound = 1f / MathF.Sqrt(fanIn);
        Weight = Parameter("weight", Tensor.Rand([outChannels, inChannels / groups, kernelSize, kernelSize], g, -bound, bound));
        if (bias) Bias = Parameter("bias", Tensor.Rand([outChannels], g, -bound, bound));
    }

    /// <summary>(N, Cin, H, W) → (N, Cout, Ho, Wo).</summary>
    public override Tensor Forward(Tensor x) => Tensor.Conv2d(x, Weight, Bias, Stride, Padding, Dilation, Groups);
}
