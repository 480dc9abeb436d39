using Engine.Random;

namespace Engine.Tests;

// Gradient checks for the neural-network ops: convolutions, norms, softmax, pooling, upsampling.
public static partial class GradCases
{
    /// <summary>Values spread apart so that no two in a pooling window are within a finite-difference step.</summary>
    static Tensor Distinct(Generator g, params int[] s)
    {
        var perm = g.Permutation(Shapes.Numel(s));
        return Tensor.Wrap(perm.Select(p => p * 0.1f - 1f).ToArray(), s);
    }

    public static IEnumerable<GradCase> Nn() =>
    [
        new("conv2d", x => Tensor.Conv2d(x[0], x[1], x[2]), g => [R(g, 2, 3, 5, 4), R(g, 4, 3, 3, 3), R(g, 4)]),
        new("conv2d stride 2 pad 1 dilation 2 groups 2", x => Tensor.Conv2d(x[0], x[1], x[2], stride: 2, padding: 1, dilation: 2, groups: 2),
            g => [R(g, 2, 4, 7, 6), R(g, 6, 2, 3, 2), R(g, 6)]),
        new("conv2d asymmetric no bias", x => Tensor.Conv2d(x[0], x[1], null, (2, 1), (0, 2), (1, 2)), g => [R(g, 1, 2, 6, 5), R(g, 3, 2, 2, 3)]),
        new("conv2d pointwise", x => Tensor.Conv2d(x[0], x[1], x[2]), g => [R(g, 2, 3, 3, 2), R(g, 5, 3, 1, 1), R(g, 5)]),
        new("conv transpose2d", x => Tensor.ConvTranspose2d(x[0], x[1], x[2]), g => [R(g, 2, 3, 3, 4), R(g, 3, 2, 3, 3), R(g, 2)]),
        new("conv transpose2d stride 2 pad 1 output padding 1", x => Tensor.ConvTranspose2d(x[0], x[1], x[2], stride: 2, padding: 1, outputPadding: 1),
            g => [R(g, 1, 2, 3, 4), R(g, 2, 3, 3, 3), R(g, 3)]),
        new("conv transpose2d dilation 2 groups 2", x => Tensor.ConvTranspose2d(x[0], x[1], null, stride: 2, padding: 0, outputPadding: 1, dilation: 2, groups: 2),
            g => [R(g, 1, 4, 3, 2), R(g, 4, 1, 2, 2)]),
        new("group norm affine", x => Tensor.GroupNorm(x[0], 2, x[1], x[2]), g => [R(g, 2, 4, 3, 2), R(g, 4), R(g, 4)]),
        new("group norm plain", x => Tensor.GroupNorm(x[0], 3, eps: 1e-3f), g => [R(g, 2, 3, 5)]),
        new("group norm silu affine", x => Tensor.GroupNormSilu(x[0], 2, x[1], x[2]), g => [R(g, 2, 4, 3, 2), R(g, 4), R(g, 4)]),
        new("group norm silu plain", x => Tensor.GroupNormSilu(x[0], 3, eps: 1e-3f), g => [R(g, 2, 3, 5)]),
        new("layer norm affine", x => Tensor.LayerNorm(x[0], x[1], x[2]), g => [R(g, 3, 2, 5), R(g, 5), R(g, 5)]),
        new("layer norm plain", x => Tensor.LayerNorm(x[0]), g => [R(g, 4, 7)]),
        new("rms norm weighted", x => Tensor.RmsNorm(x[0], x[1]), g => [R(g, 3, 6), R(g, 6)]),
        new("rms norm plain", x => Tensor.RmsNorm(x[0]), g => [R(g, 2, 2, 5)]),
        new("batch norm train affine", x => Tensor.BatchNorm2d(x[0], null, null, x[1], x[2], training: true), g => [R(g, 3, 2, 2, 3), R(g, 2), R(g, 2)]),
        new("batch norm train plain", x => Tensor.BatchNorm2d(x[0], Tensor.Zeros([3]), Tensor.Ones([3]), null, null, training: true), g => [R(g, 2, 3, 2, 2)]),
        new("batch norm eval", x => Tensor.BatchNorm2d(x[0], Tensor.FromArray([0.3f, -0.2f], 2), Tensor.FromArray([1.5f, 0.7f], 2), x[1], x[2], training: false),
            g => [R(g, 2, 2, 3, 2), R(g, 2), R(g, 2)]),
        new("softmax last", x => x[0].Softmax(-1), g => [R(g, 3, 7)]),
        new("softmax middle axis", x => x[0].Softmax(1), g => [R(g, 2, 5, 3)]),
        new("log softmax last", x => x[0].LogSoftmax(), g => [R(g, 4, 6)]),
        new("log softmax first axis", x => x[0].LogSoftmax(0), g => [R(g, 5, 3)]),
        new("avg pool 2", x => x[0].AvgPool2d(2), g => [R(g, 2, 2, 5, 4)]),
        new("avg pool 3 stride 2 pad 1", x => x[0].AvgPool2d(3, 2, 1), g => [R(g, 1, 2, 5, 6)]),
        new("max pool 2", x => x[0].MaxPool2d(2), g => [Distinct(g, 2, 2, 4, 5)]),
        new("max pool 3 stride 2 pad 1", x => x[0].MaxPool2d(3, 2, 1), g => [Distinct(g, 1, 2, 5, 5)]),
        new("upsample nearest 2", x => x[0].UpsampleNearest2d(2), g => [R(g, 2, 3, 2, 3)]),
        new("upsample nearest 3", x => x[0].UpsampleNearest2d(3), g => [R(g, 1, 1, 3, 2)]),
    ];
}
