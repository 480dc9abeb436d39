using Engine;

namespace Models.Flows;

/// <summary>
/// RealNVP's squeeze: each 2×2 spatial block becomes 4 channels, (B, C, H, W) → (B, 4C, H/2, W/2).
/// A permutation, so log|det| = 0.
/// </summary>
public sealed class Squeeze : FlowLayer
{
    public override (Tensor Y, Tensor LogDet) Forward(Tensor x)
    {
        if (x.Rank != 4 || x.Shape[2] % 2 != 0 || x.Shape[3] % 2 != 0)
            throw new ShapeMismatchException($"Squeeze: input {Shapes.Format(x.Shape)} should be (B, C, H, W) with H and W even");
        int b = x.Shape[0], c = x.Shape[1], h = x.Shape[2] / 2, w = x.Shape[3] / 2;
        var y = x.Reshape(b, c, h, 2, w, 2).Permute(0, 1, 3, 5, 2, 4).Reshape(b, 4 * c, h, w);
        return (y, Tensor.Zeros([b], x.Device));
    }

    public override Tensor Inverse(Tensor y)
    {
        if (y.Rank != 4 || y.Shape[1] % 4 != 0)
            throw new ShapeMismatchException($"Squeeze: inverse input {Shapes.Format(y.Shape)} should be (B, 4C, H, W)");
        int b = y.Shape[0], c = y.Shape[1] / 4, h = y.Shape[2], w = y.Shape[3];
        return y.Reshape(b, c, 2, 2, h, w).Permute(0, 1, 4, 2, 5, 3).Reshape(b, c, 2 * h, 2 * w);
    }
}
