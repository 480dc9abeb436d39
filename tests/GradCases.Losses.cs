using Engine.Nn;
using Engine.Random;

namespace Engine.Tests;

public static partial class GradCases
{
    /// <summary>Targets in (0, 1), as BCE and Bernoulli likelihoods take.</summary>
    static Tensor Prob(Generator g, params int[] s) => Tensor.Rand(s, g, 0.05f, 0.95f);

    public static IEnumerable<GradCase> Losses() =>
    [
        // A fresh generator with a fixed seed inside the function: every evaluation draws the same mask.
        new("dropout", x => x[0].Dropout(0.3f, new Generator(5), training: true), g => [R(g, 4, 9)]),
        new("dropout eval", x => x[0].Dropout(0.5f, new Generator(5), training: false) * 1f, g => [R(g, 7)]),
        new("mse mean", x => Engine.Nn.Losses.MseLoss(x[0], x[1]), g => [R(g, 3, 5), R(g, 3, 5)]),
        new("mse sum", x => Engine.Nn.Losses.MseLoss(x[0], x[1], Reduction.Sum), g => [R(g, 7), R(g, 7)]),
        new("mse none", x => Engine.Nn.Losses.MseLoss(x[0], x[1], Reduction.None), g => [R(g, 2, 3), R(g, 2, 3)]),
        new("cross entropy", x => Engine.Nn.Losses.CrossEntropy(x[0], [2, 0, 4, 4, 1]), g => [R(g, 5, 5)]),
        new("cross entropy smoothing", x => Engine.Nn.Losses.CrossEntropy(x[0], [1, 3, 0], labelSmoothing: 0.2f, Reduction.Sum), g => [R(g, 3, 4)]),
        new("cross entropy spatial", x => Engine.Nn.Losses.CrossEntropy(x[0], [0, 2, 1, 1, 2, 0, 0, 1], reduction: Reduction.None), g => [R(g, 2, 3, 2, 2)]),
        new("bce with logits", x => Engine.Nn.Losses.BinaryCrossEntropyWithLogits(x[0], x[1]), g => [R(g, 3, 4), Prob(g, 3, 4)]),
        new("bce with logits large", x => Engine.Nn.Losses.BinaryCrossEntropyWithLogits(x[0], x[1], Reduction.None), g => [R(g, 6).Apply(v => v * 8f), Prob(g, 6)]),
        new("gaussian log likelihood", x => Engine.Nn.Losses.GaussianLogLikelihood(x[0], x[1], x[2], Reduction.None), g => [R(g, 2, 5), R(g, 2, 5), R(g, 2, 5)]),
        new("gaussian log likelihood broadcast var", x => Engine.Nn.Losses.GaussianLogLikelihood(x[0], x[1], x[2]), g => [R(g, 3, 4), R(g, 3, 4), R(g, 1)]),
        new("bernoulli log likelihood", x => Engine.Nn.Losses.BernoulliLogLikelihood(x[0], x[1], Reduction.Mean), g => [R(g, 4, 3), Prob(g, 4, 3)]),
        new("kl standard prior", x => Engine.Nn.Losses.KlDiagonalGaussians(x[0], x[1], reduction: Reduction.None), g => [R(g, 3, 4), R(g, 3, 4)]),
        new("kl two gaussians", x => Engine.Nn.Losses.KlDiagonalGaussians(x[0], x[1], x[2], x[3]), g => [R(g, 2, 5), R(g, 2, 5), R(g, 2, 5), R(g, 2, 5)]),
    ];
}
