using Engine;
using Engine.Random;

namespace Models.FlowMatching;

/// <summary>
/// The sliced Wasserstein-1 distance between two point clouds of equal size: the average over random unit
/// directions of the 1D Wasserstein distance of the projections (mean |sorted a − sorted b|). A sample-quality
/// measure for the 2D toys that needs no density.
/// </summary>
public static class SlicedWasserstein
{
    public static double Distance(Tensor a, Tensor b, int projections, Generator g)
    {
        if (a.Rank != 2 || b.Rank != 2 || a.Shape[1] != b.Shape[1] || a.Shape[0] != b.Shape[0] || a.Shape[0] == 0)
            throw new ShapeMismatchException($"SlicedWasserstein: point clouds {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)} should both be (N, D) with the same N > 0");
        int n = a.Shape[0], d = a.Shape[1];
        var av = a.ToArray(); var bv = b.ToArray();
        var dir = new float[d];
        var pa = new double[n]; var pb = new double[n];
        double total = 0;
        for (int p = 0; p < projections; p++)
        {
            g.FillNormal(dir);
            double norm = Math.Sqrt(dir.Sum(v => (double)v * v));
            for (int i = 0; i < n; i++)
            {
                double sa = 0, sb = 0;
                for (int j = 0; j < d; j++) { sa += av[i * d + j] * dir[j]; sb += bv[i * d + j] * dir[j]; }
                pa[i] = sa / norm; pb[i] = sb / norm;
            }
            Array.Sort(pa); Array.Sort(pb);
            double s = 0;
            for (int i = 0; i < n; i++) s += Math.Abs(pa[i] - pb[i]);
            total += s / n;
        }
        return total / projections;
    }
}
