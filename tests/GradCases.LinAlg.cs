using Engine.Random;

namespace Engine.Tests;

// Gradient checks for the matrix functions that flows use: triangular masks, inverse, log|det|.
public static partial class GradCases
{
    /// <summary>A well-conditioned square matrix: Gaussian entries plus a multiple of the identity.</summary>
    static Tensor WellConditioned(Tensor a) => a + Tensor.Eye(a.Shape[^1], a.Device) * 3f;

    public static IEnumerable<GradCase> LinAlg() =>
    [
        new("tril", x => x[0].Tril(), g => [R(g, 4, 5)]),
        new("tril batched offset -1", x => x[0].Tril(-1), g => [R(g, 2, 3, 3)]),
        new("triu offset 1", x => x[0].Triu(1), g => [R(g, 3, 4)]),
        new("inverse", x => WellConditioned(x[0]).Inverse(), g => [R(g, 4, 4)]),
        new("inverse batched", x => WellConditioned(x[0]).Inverse(), g => [R(g, 2, 3, 3)]),
        new("log abs det", x => WellConditioned(x[0]).LogAbsDet(), g => [R(g, 5, 5)]),
        new("log abs det negative determinant", x => (WellConditioned(x[0]) * Tensor.FromArray([-1f, 1f, 1f], 3).To(x[0].Device)).LogAbsDet(), g => [R(g, 3, 3)]),
        new("log abs det batched", x => WellConditioned(x[0]).LogAbsDet(), g => [R(g, 3, 2, 2)]),
    ];
}
