namespace Engine.Tests;

public static partial class GradCases
{
    public static IEnumerable<GradCase> Nn() =>
    [
        new("conv2d", x => Tensor.Conv2d(x[0], x[1], x[2], padding: 1), g => [R(g, 2, 3, 5, 4), R(g, 4, 3, 3, 3), R(g, 4)]),
        new("conv2d stride 2 dilation 2", x => Tensor.Conv2d(x[0], x[1], null, stride: 2, padding: 2, dilation: 2), g => [R(g, 1, 2, 7, 6), R(g, 3, 2, 3, 3)]),
        new("conv2d groups 2", x => Tensor.Conv2d(x[0], x[1], x[2], stride: 1, padding: 0, groups: 2), g => [R(g, 2, 4, 4, 3), R(g, 6, 2, 2, 2), R(g, 6)]),
        new("conv2d 1x1", x => Tensor.Conv2d(x[0], x[1], x[2]), g => [R(g, 2, 3, 3, 2), R(g, 5, 3, 1, 1), R(g, 5)]),
        new("conv transpose2d", x => Tensor.ConvTranspose2d(x[0], x[1], x[2], stride: 2, padding: 1, outputPadding: 1), g => [R(g, 2, 3, 3, 4), R(g, 3, 2, 3, 3), R(g, 2)]),
        new("conv transpose2d groups", x => Tensor.ConvTranspose2d(x[0], x[1], null, stride: 1, padding: 0, groups: 2), g => [R(g, 1, 4, 3, 3), R(g, 4, 1, 2, 2)]),
        new("group norm affine", x => Tensor.GroupNorm(x[0], 2, x[1], x[2]), g => [R(g, 2, 4, 3, 3), R(g, 4), R(g, 4)]),
        new("group norm plain", x => Tensor.GroupNorm(x[0], 3, null, null), g => [R(g, 2, 3, 5)]),
        new("layer norm affine", x => Tensor.LayerNorm(x[0], x[1], x[2]), g => [R(g, 3, 2, 7), R(g, 7), R(g, 7)]),
        new("layer norm plain", x => Tensor.LayerNorm(x[0], eps: 1e-6f), g => [R(g, 4, 9)]),
        new("rms norm", x => Tensor.RmsNorm(x[0], x[1]), g => [R(g, 3, 8), R(g, 8)]),
        new("batch norm", x => Tensor.BatchNorm(x[0], x[1], x[2]).y, g => [R(g, 3, 2, 2, 3), R(g, 2), R(g, 2)]),
        new("softmax last", x => x[0].Softmax(), g => [R(g, 3, 7)]),
        new("softmax axis 1", x => x[0].Softmax(1), g => [R(g, 2, 5, 3)]),
        new("log softmax", x => x[0].LogSoftmax(-1), g => [R(g, 4, 6)]),
        new("upsample nearest", x => x[0].UpsampleNearest2d(2), g => [R(g, 1, 2, 3, 2)]),
    ];
}
