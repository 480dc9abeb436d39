using Engine.Random;

namespace Engine.Nn;

/// <summary>
/// Transposed 2-D convolution layer, PyTorch's <c>nn.ConvTranspose2d</c>: weight (Cin, Cout/groups, K, K) and
/// bias (Cout), initialised uniform in ±1/√fan_in where, as in PyTorch, fan_in = Cout/groups·K·K (the weight's
/// second axis).
/// </summary>
/// <example><c>var up = new ConvTranspose2d(64, 32, 4, new Generator(0), stride: 2, padding: 1);</c></example>
public sealed class ConvTranspose2d : Layer
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    public int Stride { get; }
    public int Padding { get; }
    public int OutputPadding { get; }
    public int Dilation { get; }
    public int Groups { get; }

    public ConvTranspose2d(int inChannels, int outChannels, int kernelSize, Generator g, int stride = 1, int padding = 0,
        int outputPadding = 0, int groups = 1, bool bias = true, int dilation = 1)
    {
        if (inChannels < 1 || outChannels < 1 || kernelSize < 1 || groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ShapeMismatchException($"ConvTranspose2d: in {inChannels} and out {outChannels} channels must be positive and divisible by groups {groups}; kernel {kernelSize} must be ≥ 1");
        Stride = stride; Padding = padding; OutputPadding = outputPadding; Dilation = dilation; Groups = groups;
        int fanIn = outChannels / groups * kernelSize * kernelSize;
        float bound = 1f / MathF.Sqrt(fanIn);
        Weight = Parameter("weight", Tensor.Rand([inChannels, outChannels / groups, kernelSize, kernelSize], g, -bound, bound));
        if (bias) Bias = Parameter("bias", Tensor.Rand([outChannels], g, -bound, bound));
    }

    /// <summary>(N, Cin, H, W) → (N, Cout, (H − 1)·stride − 2·padding + dilation·(K − 1) + outputPadding + 1, …).</summary>
    public override Tensor Forward(Tensor x) => Tensor.ConvTranspose2d(x, Weight, Bias, Stride, Padding, OutputPadding, Dilation, Groups);
}
