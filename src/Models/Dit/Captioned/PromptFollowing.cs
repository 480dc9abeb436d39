using Engine;

namespace Models.Dit.Captioned;

/// <summary>
/// A coloured blob found in an image: palette colour, pixel count, centroid, the fraction of its bounding box it
/// fills and the fraction of its pixels in the upper half of that box.
/// </summary>
public sealed record Blob(int Color, int Area, float X, float Y, float Fill, float TopFraction)
{
    /// <summary>
    /// Shape: an upward triangle has only about a quarter of its area in its upper half (circles and squares a
    /// half); a square fills its bounding box, a circle about π/4 of it.
    /// </summary>
    public ShapeKind Shape => TopFraction < 0.38f ? ShapeKind.Triangle : Fill > 0.9f ? ShapeKind.Square : ShapeKind.Circle;
}

/// <summary>Which parts of a <see cref="SceneSpec"/> an image satisfies.</summary>
public sealed record PromptCheck(bool Colors, bool Count, bool Shapes, bool Position)
{
    public bool All => Colors && Count && Shapes && Position;
}

/// <summary>Fractions of images that satisfy each part of their prompt, and all of it.</summary>
public sealed record PromptScore(int Images, double Colors, double Count, double Shapes, double Position, double All)
{
    public override string ToString() => $"all {All:P1} (colour {Colors:P1}, count {Count:P1}, shape {Shapes:P1}, position {Position:P1}) over {Images} images";
}

/// <summary>
/// Checks in code whether an image of the shapes set shows what its caption says: pixels brighter than the
/// background are assigned to the nearest palette colour, grouped into 4-connected blobs (tiny ones dropped),
/// and the blobs are compared with the claim — colours present and no others, the number of objects, their shapes
/// (by bounding-box fill) and the position or relation (by centroids).
/// </summary>
public static class PromptFollowing
{
    const float Threshold = 0.3f;

    /// <summary>Blobs of one (3, S, S) image in [0, 1].</summary>
    public static List<Blob> Blobs(ReadOnlySpan<float> rgb, int size)
    {
        if (rgb.Length != 3 * size * size) throw new ShapeMismatchException($"PromptFollowing: {rgb.Length} values are not a 3×{size}×{size} image");
        int n = size * size;
        var label = new int[n];
        for (int i = 0; i < n; i++)
        {
            float r = rgb[i], g = rgb[n + i], b = rgb[2 * n + i];
            if (!float.IsFinite(r + g + b)) throw new NonFiniteException($"PromptFollowing: pixel {i} is not finite");
            float max = MathF.Max(r, MathF.Max(g, b));
            if (max < Threshold) { label[i] = -1; continue; }
            int best = 0; float bestD = float.MaxValue;
            for (int c = 0; c < Palette.Rgb.Length; c++)
            {
                var p = Palette.Rgb[c];                                              // compare chromaticity: colour / brightness
                float dr = r / max - p[0] / Max(p), dg = g / max - p[1] / Max(p), db = b / max - p[2] / Max(p);
                float d = dr * dr + dg * dg + db * db;
                if (d < bestD) { bestD = d; best = c; }
            }
            label[i] = best;
        }
        var blobs = new List<Blob>();
        var seen = new bool[n];
        var stack = new Stack<int>();
        int minArea = Math.Max(4, size * size / 200);
        for (int start = 0; start < n; start++)
        {
            if (seen[start] || label[start] < 0) continue;
            int color = label[start], x0 = size, x1 = -1, y0 = size, y1 = -1;
            double sx = 0, sy = 0;
            var pixels = new List<int>();
            stack.Push(start); seen[start] = true;
            while (stack.Count > 0)
            {
                int p = stack.Pop(), px = p % size, py = p / size;
                pixels.Add(p); sx += px + 0.5; sy += py + 0.5;
                x0 = Math.Min(x0, px); x1 = Math.Max(x1, px); y0 = Math.Min(y0, py); y1 = Math.Max(y1, py);
                foreach (var q in (ReadOnlySpan<int>)[px > 0 ? p - 1 : -1, px < size - 1 ? p + 1 : -1, py > 0 ? p - size : -1, py < size - 1 ? p + size : -1])
                    if (q >= 0 && !seen[q] && label[q] == color) { seen[q] = true; stack.Push(q); }
            }
            int area = pixels.Count;
            if (area < minArea) continue;
            float middle = (y0 + y1 + 1) / 2f;
            float top = pixels.Count(p => p / size + 0.5f < middle) + 0.5f * pixels.Count(p => p / size + 0.5f == middle);
            blobs.Add(new Blob(color, area, (float)(sx / area), (float)(sy / area), area / (float)((x1 - x0 + 1) * (y1 - y0 + 1)), top / area));
        }
        return blobs;
    }

    static float Max(float[] p) => MathF.Max(p[0], MathF.Max(p[1], p[2]));

    /// <summary>How well one image (3, S, S) matches <paramref name="spec"/>.</summary>
    public static PromptCheck Check(SceneSpec spec, ReadOnlySpan<float> rgb, int size)
    {
        var blobs = Blobs(rgb, size);
        var first = blobs.Where(b => b.Color == spec.Color).ToList();
        if (spec.SecondColor < 0)
        {
            bool colors = first.Count > 0 && blobs.All(b => b.Color == spec.Color);
            bool count = first.Count == spec.Count && blobs.Count == spec.Count;
            bool shapes = first.Count > 0 && first.All(b => b.Shape == spec.Shape);
            float half = size / 2f;
            bool position = first.Count > 0 && spec.Placement switch
            {
                Placement.Left => first.All(b => b.X < half),
                Placement.Right => first.All(b => b.X > half),
                Placement.Top => first.All(b => b.Y < half),
                Placement.Bottom => first.All(b => b.Y > half),
                _ => true,
            };
            return new PromptCheck(colors, count, shapes, position);
        }
        var second = blobs.Where(b => b.Color == spec.SecondColor).ToList();
        bool both = first.Count > 0 && second.Count > 0 && blobs.All(b => b.Color == spec.Color || b.Color == spec.SecondColor);
        bool two = first.Count == 1 && second.Count == 1 && blobs.Count == 2;
        bool shapesOk = first.Count == 1 && second.Count == 1 && first[0].Shape == spec.Shape && second[0].Shape == spec.SecondShape;
        bool relation = first.Count == 1 && second.Count == 1 && spec.Placement switch
        {
            Placement.Above => first[0].Y < second[0].Y,
            Placement.Below => first[0].Y > second[0].Y,
            Placement.LeftOf => first[0].X < second[0].X,
            _ => first[0].X > second[0].X,
        };
        return new PromptCheck(both, two, shapesOk, relation);
    }

    /// <summary>The score of a batch of images (N, 3, S, S) in [0, 1] against their claims.</summary>
    public static PromptScore Score(IReadOnlyList<SceneSpec> specs, Tensor images)
    {
        if (images.Rank != 4 || images.Shape[0] != specs.Count || images.Shape[1] != 3 || images.Shape[2] != images.Shape[3])
            throw new ShapeMismatchException($"PromptFollowing.Score: expected ({specs.Count}, 3, S, S) images, got {Shapes.Format(images.Shape)}");
        int s = images.Shape[2], per = 3 * s * s;
        var data = images.Contiguous().Span;
        var checks = new List<PromptCheck>();
        for (int i = 0; i < specs.Count; i++) checks.Add(Check(specs[i], data.Slice(i * per, per), s));
        double F(Func<PromptCheck, bool> f) => checks.Count == 0 ? 0 : checks.Count(f) / (double)checks.Count;
        return new PromptScore(checks.Count, F(c => c.Colors), F(c => c.Count), F(c => c.Shapes), F(c => c.Position), F(c => c.All));
    }
}
