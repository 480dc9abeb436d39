using Engine.Random;

namespace Engine.Tests;

/// <summary>A differentiable op to check: a name, the function, and how to make its inputs.</summary>
public sealed record GradCase(string Name, Func<Tensor[], Tensor> F, Func<Generator, Tensor[]> Inputs, double Eps = 1e-2, double Atol = 2e-3, double Rtol = 2e-2)
{
    public override string ToString() => Name;
}

/// <summary>
/// The gradient-check table. Each partial file contributes a static method returning cases; the fixture
/// collects every such method, so adding an op means adding a line here or in a sibling file.
/// </summary>
public static partial class GradCases
{
    static Tensor R(Generator g, params int[] s) => Tensor.Randn(s, g);
    static Tensor Pos(Generator g, params int[] s) => Tensor.Rand(s, g, 0.5f, 2f);
    /// <summary>Values kept away from the kink at 0 so finite differences do not straddle it.</summary>
    static Tensor AwayFromZero(Generator g, params int[] s) => Tensor.Randn(s, g).Apply(v => v >= 0 ? v + 0.1f : v - 0.1f);

    public static IEnumerable<GradCase> Core() =>
    [
        new("add", x => x[0] + x[1], g => [R(g, 3, 5), R(g, 3, 5)]),
        new("add broadcast", x => x[0] + x[1], g => [R(g, 2, 3, 5), R(g, 3, 1)]),
        new("sub broadcast", x => x[0] - x[1], g => [R(g, 4, 1, 3), R(g, 1, 5, 3)]),
        new("mul broadcast", x => x[0] * x[1], g => [R(g, 7, 3), R(g, 3)]),
        new("div", x => x[0] / x[1], g => [R(g, 3, 4), Pos(g, 3, 4)]),
        new("div broadcast", x => x[0] / x[1], g => [R(g, 2, 3, 4), Pos(g, 1, 4)]),
        new("pow tensor", x => Tensor.Pow(x[0], x[1]), g => [Pos(g, 3, 4), R(g, 4)]),
        new("pow scalar", x => x[0].Pow(3f), g => [R(g, 5, 3)]),
        new("maximum", x => Tensor.Maximum(x[0], x[1]), g => [R(g, 3, 5), R(g, 5)]),
        new("minimum", x => Tensor.Minimum(x[0], x[1]), g => [R(g, 3, 5), R(g, 3, 1)]),
        new("neg", x => -x[0], g => [R(g, 7)]),
        new("exp", x => x[0].Exp(), g => [R(g, 3, 7)]),
        new("log", x => x[0].Log(), g => [Pos(g, 3, 7)]),
        new("sqrt", x => x[0].Sqrt(), g => [Pos(g, 33)]),
        new("abs", x => x[0].Abs(), g => [AwayFromZero(g, 5, 3)]),
        new("tanh", x => x[0].Tanh(), g => [R(g, 33)]),
        new("sigmoid", x => x[0].Sigmoid(), g => [R(g, 33)]),
        new("relu", x => x[0].Relu(), g => [AwayFromZero(g, 33)]),
        new("leaky relu", x => x[0].LeakyRelu(0.2f), g => [AwayFromZero(g, 17)]),
        new("silu", x => x[0].Silu(), g => [R(g, 33)]),
        new("gelu", x => x[0].Gelu(), g => [R(g, 33)]),
        new("gelu tanh", x => x[0].Gelu(tanhApproximation: true), g => [R(g, 33)]),
        new("softplus", x => x[0].Softplus(), g => [R(g, 33)]),
        new("clamp", x => x[0].Clamp(-0.5f, 0.5f), g => [AwayFromZero(g, 17).Apply(v => MathF.Abs(MathF.Abs(v) - 0.5f) < 0.05f ? v * 1.3f : v)]),
        new("where", x => Tensor.Where(x[0].Detach().Gt(0f), x[0], x[1]), g => [AwayFromZero(g, 3, 4), R(g, 4)]),
        new("sum all", x => x[0].Sum(), g => [R(g, 3, 4, 5)]),
        new("sum axes keepdim", x => x[0].Sum([0, 2], keepDim: true), g => [R(g, 3, 4, 5)]),
        new("sum last", x => x[0].Sum(-1), g => [R(g, 3, 7)]),
        new("mean", x => x[0].Mean([1]), g => [R(g, 2, 5, 3)]),
        new("var", x => x[0].Var([1, 2]), g => [R(g, 2, 3, 5)]),
        new("max axis", x => x[0].Max(1), g => [R(g, 4, 7, 3)]),
        new("max axes keepdim", x => x[0].Max([0, 2], keepDim: true), g => [R(g, 4, 3, 5)]),
        new("logsumexp", x => x[0].LogSumExp(-1), g => [R(g, 5, 9)]),
        new("matmul", x => Tensor.MatMul(x[0], x[1]), g => [R(g, 7, 5), R(g, 5, 3)]),
        new("matmul batched broadcast", x => Tensor.MatMul(x[0], x[1]), g => [R(g, 2, 3, 4, 5), R(g, 5, 3)]),
        new("matmul transposed view", x => Tensor.MatMul(x[0].T, x[1].T), g => [R(g, 5, 7), R(g, 3, 5)]),
        new("linear x·Wᵀ + b", x => Tensor.Linear(x[0], x[1], x[2]), g => [R(g, 6, 5), R(g, 3, 5), R(g, 3)]),
        new("linear of a transposed input", x => Tensor.Linear(x[0].T, x[1], x[2]), g => [R(g, 5, 6), R(g, 3, 5), R(g, 3)]),
        new("reshape", x => x[0].Reshape(5, -1) * x[0].Reshape(5, -1), g => [R(g, 3, 5)]),
        new("permute", x => x[0].Permute(2, 0, 1).Contiguous() * 2f, g => [R(g, 2, 3, 4)]),
        new("narrow", x => x[0].Narrow(1, 1, 3), g => [R(g, 3, 5)]),
        new("expand", x => x[0].Expand(4, 3, 5), g => [R(g, 3, 1)]),
        new("cat", x => Tensor.Cat([x[0], x[1]], 1), g => [R(g, 2, 3), R(g, 2, 4)]),
        new("split", x => x[0].Split([1, 4], 1)[1] * x[0].Split([1, 4], 1)[0], g => [R(g, 3, 5)]),
        new("stack", x => Tensor.Stack([x[0], x[1]], 1), g => [R(g, 2, 3), R(g, 2, 3)]),
        new("index select", x => x[0].IndexSelect(0, [2, 0, 2, 1]), g => [R(g, 3, 4)]),
        new("gather", x => x[0].Gather(1, [0, 2, 1, 1]), g => [R(g, 4, 3)]),
    ];
}

static class TensorTestExtensions
{
    /// <summary>Maps every value (test helper; not recorded).</summary>
    public static Tensor Apply(this Tensor t, Func<float, float> f) => Tensor.Wrap(t.ToArray().Select(f).ToArray(), t.Shape);
}

public static partial class GradCases
{
    public static IEnumerable<GradCase> Attention() =>
    [
        new("attention", x => Tensor.Attention(x[0], x[1], x[2]), g => [R(g, 2, 5, 4), R(g, 2, 6, 4), R(g, 2, 6, 4)]),
        new("attention causal", x => Tensor.Attention(x[0], x[1], x[2], causal: true), g => [R(g, 1, 2, 5, 3), R(g, 1, 2, 5, 3), R(g, 1, 2, 5, 3)]),
        new("attention composed", x => Tensor.AttentionComposed(x[0], x[1], x[2], causal: true), g => [R(g, 2, 4, 3), R(g, 2, 4, 3), R(g, 2, 4, 3)]),
    ];
}
