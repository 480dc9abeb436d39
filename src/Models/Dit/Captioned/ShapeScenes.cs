using Engine;
using Engine.Random;

namespace Models.Dit.Captioned;

public enum ShapeKind { Circle, Square, Triangle }

/// <summary>The named colours of the shapes set, with their RGB values in [0, 1].</summary>
public static class Palette
{
    public static readonly string[] Names = ["red", "green", "blue", "yellow", "purple"];
    public static readonly float[][] Rgb = [[0.95f, 0.15f, 0.12f], [0.15f, 0.8f, 0.2f], [0.2f, 0.35f, 1f], [0.95f, 0.88f, 0.1f], [0.7f, 0.2f, 0.9f]];
}

/// <summary>One drawn object: colour index, shape, centre (x, y) and radius in pixels.</summary>
public sealed record ShapeObject(int Color, ShapeKind Shape, float X, float Y, float Radius);

/// <summary>Where a single object is said to be, or which way two objects relate.</summary>
public enum Placement { Anywhere, Left, Right, Top, Bottom, Above, Below, LeftOf, RightOf }

/// <summary>
/// What a caption claims, in a form code can check: the objects asked for (colour, shape, how many) and either a
/// placement of the single group or a relation between the first and second object.
/// </summary>
public sealed record SceneSpec(int Color, ShapeKind Shape, int Count, Placement Placement, int SecondColor = -1, ShapeKind SecondShape = ShapeKind.Circle);

/// <summary>
/// A procedurally drawn, captioned data set of colour shapes on black (S×S, default 32×32): one shape with an
/// optional position ("a red circle on the left"), two or three of a kind ("three blue squares"), or two shapes
/// in relation ("a yellow triangle above a green circle"). Shapes are anti-aliased by 4×4 supersampling. Infinite
/// and deterministic: each batch is drawn from the given generator.
/// </summary>
public sealed class ShapeScenes(int imageSize = 32) : ICaptionedData
{
    public static readonly string[] ShapeNames = ["circle", "square", "triangle"];
    static readonly string[] Counts = ["zero", "one", "two", "three"];

    public string Name => "shapes";
    public int Channels => 3;
    public int ImageSize { get; } = imageSize;
    public int MaxWords => 8;

    public IReadOnlyList<string> Words { get; } =
        Palette.Names.Concat(ShapeNames).Concat(ShapeNames.Select(s => s + "s")).Concat(Counts)
            .Concat(["a", "on", "the", "left", "right", "at", "top", "bottom", "above", "below", "of"]).ToArray();

    public (Tensor Images, string[] Captions) Batch(int n, Generator g)
    {
        var images = Tensor.Zeros([n, 3, ImageSize, ImageSize]);
        var captions = new string[n];
        for (int i = 0; i < n; i++)
        {
            var spec = RandomSpec(g);
            captions[i] = Caption(spec);
            Render(Layout(spec, g), images.Span.Slice(i * 3 * ImageSize * ImageSize, 3 * ImageSize * ImageSize), ImageSize);
        }
        return (images, captions);
    }

    /// <summary>A random claim: a third each of single (half with a position), counted, and related pairs.</summary>
    public static SceneSpec RandomSpec(Generator g)
    {
        int color = g.NextInt(Palette.Names.Length);
        var shape = (ShapeKind)g.NextInt(3);
        switch (g.NextInt(3))
        {
            case 0:
                var place = g.NextInt(2) == 0 ? Placement.Anywhere : (Placement)(1 + g.NextInt(4));
                return new SceneSpec(color, shape, 1, place);
            case 1:
                return new SceneSpec(color, shape, 2 + g.NextInt(2), Placement.Anywhere);
            default:
                int second = (color + 1 + g.NextInt(Palette.Names.Length - 1)) % Palette.Names.Length;
                return new SceneSpec(color, shape, 1, (Placement)(5 + g.NextInt(4)), second, (ShapeKind)g.NextInt(3));
        }
    }

    /// <summary>The English caption of a claim.</summary>
    public static string Caption(SceneSpec s)
    {
        string one = $"{Palette.Names[s.Color]} {ShapeNames[(int)s.Shape]}";
        return s.Placement switch
        {
            Placement.Anywhere when s.Count > 1 => $"{Counts[s.Count]} {one}s",
            Placement.Anywhere => $"a {one}",
            Placement.Left => $"a {one} on the left",
            Placement.Right => $"a {one} on the right",
            Placement.Top => $"a {one} at the top",
            Placement.Bottom => $"a {one} at the bottom",
            _ => $"a {one} {Relation(s.Placement)} a {Palette.Names[s.SecondColor]} {ShapeNames[(int)s.SecondShape]}",
        };
    }

    /// <summary>Every claim the set can make.</summary>
    public static IEnumerable<SceneSpec> AllSpecs()
    {
        for (int c = 0; c < Palette.Names.Length; c++)
            for (int k = 0; k < 3; k++)
            {
                var shape = (ShapeKind)k;
                for (int p = 0; p <= 4; p++) yield return new SceneSpec(c, shape, 1, (Placement)p);
                for (int n = 2; n <= 3; n++) yield return new SceneSpec(c, shape, n, Placement.Anywhere);
                for (int c2 = 0; c2 < Palette.Names.Length; c2++)
                    for (int k2 = 0; k2 < 3; k2++)
                        for (int p = 5; p <= 8; p++)
                            if (c2 != c) yield return new SceneSpec(c, shape, 1, (Placement)p, c2, (ShapeKind)k2);
            }
    }

    /// <summary>The claim of a caption in this set's grammar (case and punctuation ignored), or null.</summary>
    public static SceneSpec? Parse(string caption)
    {
        string words = string.Join(' ', Text.WordTokenizer.Split(caption));
        return AllSpecs().FirstOrDefault(s => Caption(s) == words);
    }

    static string Relation(Placement p) => p switch
    {
        Placement.Above => "above", Placement.Below => "below", Placement.LeftOf => "left of", Placement.RightOf => "right of",
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    /// <summary>Objects that make the claim true, placed at random without overlapping.</summary>
    public List<ShapeObject> Layout(SceneSpec s, Generator g)
    {
        float size = ImageSize;
        for (int attempt = 0; ; attempt++)
        {
            var objects = new List<ShapeObject>();
            float R() => size * (0.12f + 0.06f * g.NextFloat());
            float U(float lo, float hi) => lo + (hi - lo) * g.NextFloat();
            if (s.SecondColor < 0)
                for (int k = 0; k < s.Count; k++)
                {
                    float r = s.Count > 1 ? size * 0.1f + size * 0.03f * g.NextFloat() : R();
                    var (x0, x1, y0, y1) = s.Placement switch
                    {
                        Placement.Left => (r, size * 0.38f, r, size - r),
                        Placement.Right => (size * 0.62f, size - r, r, size - r),
                        Placement.Top => (r, size - r, r, size * 0.38f),
                        Placement.Bottom => (r, size - r, size * 0.62f, size - r),
                        _ => (r, size - r, r, size - r),
                    };
                    objects.Add(new ShapeObject(s.Color, s.Shape, U(x0, x1), U(y0, y1), r));
                }
            else
            {
                float r1 = R(), r2 = R();
                float a = U(size * 0.2f, size * 0.8f), b = U(size * 0.2f, size * 0.8f);    // coordinates along the free axis
                float near = U(r1, size * 0.3f), far = U(size * 0.7f, size - r2);
                var (p1, p2) = s.Placement switch
                {
                    Placement.Above => ((a, near), (b, far)),
                    Placement.Below => ((a, far), (b, near)),
                    Placement.LeftOf => ((near, a), (far, b)),
                    _ => ((far, a), (near, b)),
                };
                objects.Add(new ShapeObject(s.Color, s.Shape, p1.Item1, p1.Item2, r1));
                objects.Add(new ShapeObject(s.SecondColor, s.SecondShape, p2.Item1, p2.Item2, r2));
            }
            bool apart = true;
            for (int i = 0; i < objects.Count && apart; i++)
                for (int j = i + 1; j < objects.Count && apart; j++)
                    apart = MathF.Sqrt(MathF.Pow(objects[i].X - objects[j].X, 2) + MathF.Pow(objects[i].Y - objects[j].Y, 2)) > (objects[i].Radius + objects[j].Radius) * 1.5f + 1f;
            if (apart || attempt > 200) return objects;
        }
    }

    /// <summary>Draws objects into a (3, S, S) buffer in [0, 1], each pixel covered by 4×4 sub-samples.</summary>
    public static void Render(IReadOnlyList<ShapeObject> objects, Span<float> rgb, int size)
    {
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                foreach (var o in objects)
                {
                    if (MathF.Abs(x + 0.5f - o.X) > o.Radius + 1 || MathF.Abs(y + 0.5f - o.Y) > o.Radius + 1) continue;
                    int hits = 0;
                    for (int sy = 0; sy < 4; sy++)
                        for (int sx = 0; sx < 4; sx++)
                            if (Inside(o, x + (sx + 0.5f) / 4, y + (sy + 0.5f) / 4)) hits++;
                    if (hits == 0) continue;
                    float cover = hits / 16f;
                    for (int c = 0; c < 3; c++)
                    {
                        ref float p = ref rgb[(c * size + y) * size + x];
                        p = p * (1 - cover) + Palette.Rgb[o.Color][c] * cover;
                    }
                }
    }

    static bool Inside(ShapeObject o, float px, float py)
    {
        float dx = px - o.X, dy = py - o.Y, r = o.Radius;
        return o.Shape switch
        {
            ShapeKind.Circle => dx * dx + dy * dy <= r * r,
            ShapeKind.Square => MathF.Abs(dx) <= r * 0.85f && MathF.Abs(dy) <= r * 0.85f,
            // An upward triangle with apex at (0, −r) and base at y = +0.8r, as wide as it is tall.
            _ => dy >= -r && dy <= 0.8f * r && MathF.Abs(dx) <= (dy + r) * 0.5f,
        };
    }
}
