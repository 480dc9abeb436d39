using Engine.Random;

namespace Engine.Data;

/// <summary>
/// Two-dimensional toy distributions for density models, generated from a seeded <see cref="Generator"/> and
/// returned as (N, 2) tensors. The definitions follow the common benchmark versions (scikit-learn's moons and
/// swiss roll, the FFJORD 8 Gaussians and checkerboard).
/// </summary>
/// <example><c>var x = Toy2D.Sample("moons", 1024, new Generator(0)); // (1024, 2)</c></example>
public static class Toy2D
{
    /// <summary>The names <see cref="Sample"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["moons", "8gaussians", "checkerboard", "swissroll"];

    /// <summary>Draws <paramref name="n"/> points of the distribution called <paramref name="name"/> (see <see cref="Names"/>).</summary>
    public static Tensor Sample(string name, int n, Generator g) => name.ToLowerInvariant() switch
    {
        "moons" or "twomoons" or "two_moons" => TwoMoons(n, g),
        "8gaussians" or "eightgaussians" => EightGaussians(n, g),
        "checkerboard" => Checkerboard(n, g),
        "swissroll" or "swiss_roll" => SwissRoll(n, g),
        _ => throw new ArgumentException($"Toy2D: unknown distribution '{name}'; expected one of {string.Join(", ", Names)}"),
    };

    /// <summary>Two interleaved half circles: the outer one, centred at (0, 0), and the inner one, centred at (1, 0.5), plus Gaussian noise.</summary>
    public static Tensor TwoMoons(int n, Generator g, float noise = 0.1f) => TwoMoonsLabeled(n, g, noise).Points;

    /// <summary>Two moons with labels: 0 for the outer moon (the first ⌈n/2⌉ points), 1 for the inner one.</summary>
    public static (Tensor Points, int[] Labels) TwoMoonsLabeled(int n, Generator g, float noise = 0.1f)
    {
        CheckCount(n);
        var angle = Uniform(n, g, 0f, MathF.PI);
        var eps = Normal(2 * n, g, noise);
        var p = new float[2 * n];                                                    // (N, 2)
        var labels = new int[n];
        int outer = (n + 1) / 2;
        for (int i = 0; i < n; i++)
        {
            float t = angle[i];
            bool inner = i >= outer;
            labels[i] = inner ? 1 : 0;
            p[2 * i] = (inner ? 1f - MathF.Cos(t) : MathF.Cos(t)) + eps[2 * i];
            p[2 * i + 1] = (inner ? 0.5f - MathF.Sin(t) : MathF.Sin(t)) + eps[2 * i + 1];
        }
        return (Tensor.Wrap(p, n, 2), labels);
    }

    /// <summary>Eight Gaussians (std <paramref name="std"/>) centred on a circle of radius <paramref name="radius"/>, at multiples of 45°.</summary>
    public static Tensor EightGaussians(int n, Generator g, float radius = 2.83f, float std = 0.354f)
    {
        CheckCount(n);
        var eps = Normal(2 * n, g, std);
        var p = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            float a = g.NextInt(8) * MathF.PI / 4f;
            p[2 * i] = radius * MathF.Cos(a) + eps[2 * i];
            p[2 * i + 1] = radius * MathF.Sin(a) + eps[2 * i + 1];
        }
        return Tensor.Wrap(p, n, 2);
    }

    /// <summary>Uniform on the "black" squares of a 4×4 checkerboard over [-4, 4]², squares of side 2.</summary>
    public static Tensor Checkerboard(int n, Generator g)
    {
        CheckCount(n);
        var u = Uniform(2 * n, g, 0f, 1f);
        var p = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            float x = u[2 * i] * 4f - 2f;                                            // in [-2, 2)
            float y = u[2 * i + 1] - 2f * g.NextInt(2);                              // in [-2, -1) ∪ [0, 1)
            y += ((int)MathF.Floor(x) & 1);                                          // shift odd columns up one square
            p[2 * i] = 2f * x;
            p[2 * i + 1] = 2f * y;
        }
        return Tensor.Wrap(p, n, 2);
    }

    /// <summary>A 2D swiss roll: t·(cos t, sin t) for t uniform in [1.5π, 4.5π], plus noise, scaled by 1/5.</summary>
    public static Tensor SwissRoll(int n, Generator g, float noise = 1f)
    {
        CheckCount(n);
        var t = Uniform(n, g, 1.5f * MathF.PI, 4.5f * MathF.PI);
        var eps = Normal(2 * n, g, noise);
        var p = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            p[2 * i] = (t[i] * MathF.Cos(t[i]) + eps[2 * i]) / 5f;
            p[2 * i + 1] = (t[i] * MathF.Sin(t[i]) + eps[2 * i + 1]) / 5f;
        }
        return Tensor.Wrap(p, n, 2);
    }

    static float[] Uniform(int n, Generator g, float low, float high)
    {
        var v = new float[n];
        g.FillUniform(v, low, high);
        return v;
    }

    static float[] Normal(int n, Generator g, float std)
    {
        var v = new float[n];
        g.FillNormal(v, 0f, std);
        return v;
    }

    static void CheckCount(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"Toy2D: number of points must be positive, got {n}");
    }
}
