using Engine.Random;

namespace Engine.Nn;

/// <summary>Which fan a Kaiming initialiser preserves: <c>FanIn</c> keeps the forward variance, <c>FanOut</c> the backward.</summary>
public enum FanMode { FanIn, FanOut }

/// <summary>The nonlinearity that follows a layer, which sets the gain of an initialiser.</summary>
public enum Nonlinearity { Linear, Sigmoid, Tanh, Relu, LeakyRelu }

/// <summary>
/// Weight initialisers, as in PyTorch's <c>torch.nn.init</c>. Each fills a contiguous tensor in place (not
/// recorded in the graph) and returns it; random ones draw from the given <see cref="Generator"/>.
/// Fans follow PyTorch: for a weight of shape (out, in, k1, k2, …) the receptive field is k1·k2·…,
/// fan_in = in·receptive, fan_out = out·receptive; a Linear weight (out, in) has receptive field 1.
/// </summary>
/// <example><c>Init.KaimingNormal(conv.Weight, g, nonlinearity: Nonlinearity.Relu);</c></example>
public static class Init
{
    /// <summary>(fan_in, fan_out) of a weight of shape (out, in, …). Rank below 2 is a <see cref="ShapeMismatchException"/>.</summary>
    public static (int FanIn, int FanOut) Fans(int[] shape)
    {
        if (shape.Length < 2)
            throw new ShapeMismatchException($"Init.Fans: a weight needs rank ≥ 2 (out, in, …) to have fans, got {Shapes.Format(shape)}");
        int receptive = Shapes.Numel(shape.AsSpan(2));
        return (shape[1] * receptive, shape[0] * receptive);
    }

    /// <summary>
    /// The recommended gain for <paramref name="nonlinearity"/>: 1 for linear and sigmoid, 5/3 for tanh, √2 for
    /// relu, √(2 / (1 + slope²)) for leaky relu.
    /// </summary>
    public static float Gain(Nonlinearity nonlinearity, float negativeSlope = 0.01f) => nonlinearity switch
    {
        Nonlinearity.Linear or Nonlinearity.Sigmoid => 1f,
        Nonlinearity.Tanh => 5f / 3f,
        Nonlinearity.Relu => MathF.Sqrt(2f),
        Nonlinearity.LeakyRelu => MathF.Sqrt(2f / (1f + negativeSlope * negativeSlope)),
        _ => throw new ArgumentOutOfRangeException(nameof(nonlinearity), $"Init.Gain: unknown nonlinearity {nonlinearity}"),
    };

    /// <summary>
    /// He et al. (2015) uniform: U(−b, b) with b = gain·√(3 / fan). As in PyTorch, the defaults are leaky relu
    /// with slope <paramref name="a"/> = 0 (gain √2) and fan_in.
    /// </summary>
    public static Tensor KaimingUniform(Tensor w, Generator g, float a = 0f, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu)
    {
        float std = KaimingStd("KaimingUniform", w, a, mode, nonlinearity);
        float bound = MathF.Sqrt(3f) * std;
        return Uniform(w, g, -bound, bound);
    }

    /// <summary>He et al. (2015) normal: N(0, std²) with std = gain / √fan.</summary>
    public static Tensor KaimingNormal(Tensor w, Generator g, float a = 0f, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu) =>
        Normal(w, g, 0f, KaimingStd("KaimingNormal", w, a, mode, nonlinearity));

    /// <summary>Glorot and Bengio (2010) uniform: U(−b, b) with b = gain·√(6 / (fan_in + fan_out)).</summary>
    public static Tensor XavierUniform(Tensor w, Generator g, float gain = 1f)
    {
        var (fanIn, fanOut) = Fans(w.Shape);
        float bound = gain * MathF.Sqrt(6f / (fanIn + fanOut));
        return Uniform(w, g, -bound, bound);
    }

    /// <summary>Glorot and Bengio (2010) normal: N(0, std²) with std = gain·√(2 / (fan_in + fan_out)).</summary>
    public static Tensor XavierNormal(Tensor w, Generator g, float gain = 1f)
    {
        var (fanIn, fanOut) = Fans(w.Shape);
        return Normal(w, g, 0f, gain * MathF.Sqrt(2f / (fanIn + fanOut)));
    }

    /// <summary>Uniform samples in [low, high).</summary>
    public static Tensor Uniform(Tensor w, Generator g, float low = 0f, float high = 1f)
    {
        if (!(low <= high)) throw new ArgumentOutOfRangeException(nameof(low), $"Init.Uniform: low {low} is above high {high}");
        g.FillUniform(Target("Uniform", w), low, high);
        return w;
    }

    /// <summary>Normal samples with the given mean and standard deviation.</summary>
    public static Tensor Normal(Tensor w, Generator g, float mean = 0f, float std = 1f)
    {
        if (!(std >= 0)) throw new ArgumentOutOfRangeException(nameof(std), $"Init.Normal: std must be non-negative, got {std}");
        g.FillNormal(Target("Normal", w), mean, std);
        return w;
    }

    /// <summary>Every element set to <paramref name="value"/>.</summary>
    public static Tensor Constant(Tensor w, float value)
    {
        Target("Constant", w).Fill(value);
        return w;
    }

    public static Tensor Zeros(Tensor w) => Constant(w, 0f);
    public static Tensor Ones(Tensor w) => Constant(w, 1f);

    static float KaimingStd(string op, Tensor w, float a, FanMode mode, Nonlinearity nonlinearity)
    {
        var (fanIn, fanOut) = Fans(w.Shape);
        int fan = mode == FanMode.FanIn ? fanIn : fanOut;
        if (fan == 0) throw new ShapeMismatchException($"Init.{op}: weight {Shapes.Format(w.Shape)} has a zero fan");
        return Gain(nonlinearity, a) / MathF.Sqrt(fan);
    }

    /// <summary>The memory an initialiser writes: the tensor must be a contiguous CPU tensor (a parameter).</summary>
    static Span<float> Target(string op, Tensor w)
    {
        if (!w.IsContiguous)
            throw new ArgumentException($"Init.{op}: tensor of shape {Shapes.Format(w.Shape)} is a strided view; initialise the contiguous parameter itself");
        return w.Span;
    }
}
