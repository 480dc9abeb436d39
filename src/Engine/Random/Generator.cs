namespace Engine.Random;

/// <summary>
/// A seeded random stream on top of <see cref="Philox"/>. The state is (seed, offset): each draw of n numbers
/// uses counters offset .. offset+n and then advances the offset, so a draw is the same whether it is computed
/// on one thread or many, and the state can be saved in a checkpoint and restored exactly.
/// </summary>
/// <example><c>var g = new Generator(42); var x = Tensor.Randn([4, 3], g);</c></example>
public sealed class Generator(ulong seed)
{
    public ulong Seed { get; } = seed;

    /// <summary>Number of 4-word Philox blocks consumed so far.</summary>
    public ulong Offset { get; set; }

    uint K0 => (uint)Seed;
    uint K1 => (uint)(Seed >> 32);

    /// <summary>Reserves <paramref name="blocks"/> counters and returns the first.</summary>
    ulong Take(long blocks) { var start = Offset; Offset += (ulong)blocks; return start; }

    /// <summary>Uniform [0, 1) into <paramref name="dst"/>; element i comes from block start + i/4.</summary>
    public void FillUniform(Span<float> dst, float low = 0f, float high = 1f)
    {
        var start = Take((dst.Length + 3) / 4);
        float scale = high - low;
        for (int i = 0; i < dst.Length; i += 4)
        {
            var c = start + (ulong)(i / 4);
            var (a, b, cc, d) = Philox.Block((uint)c, (uint)(c >> 32), 0, 0, K0, K1);
            Span<uint> w = [a, b, cc, d];
            for (int j = 0; j < 4 && i + j < dst.Length; j++) dst[i + j] = low + scale * Philox.ToUnit(w[j]);
        }
    }

    /// <summary>Standard normal (Box–Muller on each pair of words) into <paramref name="dst"/>.</summary>
    public void FillNormal(Span<float> dst, float mean = 0f, float std = 1f)
    {
        var start = Take((dst.Length + 3) / 4);
        for (int i = 0; i < dst.Length; i += 4)
        {
            var c = start + (ulong)(i / 4);
            var (a, b, cc, d) = Philox.Block((uint)c, (uint)(c >> 32), 1, 0, K0, K1);
            var (n0, n1) = BoxMuller(a, b);
            var (n2, n3) = BoxMuller(cc, d);
            Span<float> w = [n0, n1, n2, n3];
            for (int j = 0; j < 4 && i + j < dst.Length; j++) dst[i + j] = mean + std * w[j];
        }
    }

    static (float, float) BoxMuller(uint u, uint v)
    {
        double r = Math.Sqrt(-2.0 * Math.Log(Philox.ToUnitOpen(u)));
        double theta = 2.0 * Math.PI * Philox.ToUnit(v);
        return ((float)(r * Math.Cos(theta)), (float)(r * Math.Sin(theta)));
    }

    /// <summary>A uniform integer in [0, n).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"NextInt: bound must be positive, got {n}");
        var c = Take(1);
        var (a, b, _, _) = Philox.Block((uint)c, (uint)(c >> 32), 2, 0, K0, K1);
        ulong x = ((ulong)a << 32) | b;
        return (int)(x % (ulong)n);
    }

    /// <summary>A uniform float in [0, 1).</summary>
    public float NextFloat()
    {
        var c = Take(1);
        return Philox.ToUnit(Philox.Block((uint)c, (uint)(c >> 32), 3, 0, K0, K1).Item1);
    }

    /// <summary>A uniformly random permutation of 0..n-1 (Fisher–Yates).</summary>
    public int[] Permutation(int n)
    {
        var p = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--) { int j = NextInt(i + 1); (p[i], p[j]) = (p[j], p[i]); }
        return p;
    }
}
