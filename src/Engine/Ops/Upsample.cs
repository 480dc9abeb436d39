using Engine.Autograd;

namespace Engine;

// Nearest-neighbour upsampling of (N, C, H, W) by an integer factor; its backward sums each block.
public sealed partial class Tensor
{
    public Tensor UpsampleNearest2d(int scale)
    {
        Device.Common("UpsampleNearest2d", this);
        if (Rank != 4 || scale < 1) throw new ShapeMismatchException($"UpsampleNearest2d: expected (N, C, H, W) and scale ≥ 1, got {Shapes.Format(Shape)}, scale {scale}");
        int nc = Shape[0] * Shape[1], h = Shape[2], w = Shape[3], ho = h * scale, wo = w * scale;
        var x = Contiguous();
        var y = Zeros([Shape[0], Shape[1], ho, wo]);
        var xs = x.Storage.Data; var ys = y.Storage.Data; int xo = x.Offset;
        for (int p = 0; p < nc; p++)
            for (int i = 0; i < ho; i++)
            {
                int src = xo + (p * h + i / scale) * w, dst = (p * ho + i) * wo;
                for (int j = 0; j < wo; j++) ys[dst + j] = xs[src + j / scale];
            }
        return Backprop.Record("UpsampleNearest2d", y, [x], g =>
        {
            var dx = Zeros(x.Shape);
            var gs = g.Span; var ds = dx.Span;
            for (int p = 0; p < nc; p++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++) ds[(p * h + i / scale) * w + j / scale] += gs[(p * ho + i) * wo + j];
            Backprop.Accumulate(x, dx);
        }, $"×{scale}");
    }
}
