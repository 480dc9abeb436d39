namespace Models.Evaluation;

/// <summary>
/// Negative log-likelihoods as bits per dimension, the unit likelihood tables are written in.
/// 8-bit data is dequantised as in the literature: a model with a density p on values spanning an interval of
/// width <c>range</c> (1 for [0, 1], 2 for [−1, 1]) gives each of the 256 bins of width range/256 the mass
/// ≈ p · range/256, so −log P(x) = −log p(y) − D · log(range/256) for y = x plus uniform noise inside its bin
/// (a bound on the discrete likelihood, by Jensen). A uniform density on [0, 1] thus scores exactly 8 bits/dim.
/// </summary>
public static class BitsPerDim
{
    /// <summary>A discrete negative log-likelihood in nats per image → bits per dimension.</summary>
    public static double FromDiscreteNll(double nllNats, int dims)
    {
        if (dims <= 0) throw new ArgumentOutOfRangeException(nameof(dims), dims, "BitsPerDim: dims must be positive");
        return nllNats / (dims * Math.Log(2));
    }

    /// <summary>
    /// A continuous negative log-density in nats per image, of dequantised 8-bit data scaled to an interval of
    /// width <paramref name="range"/>, → bits per dimension of the discrete data.
    /// </summary>
    public static double FromContinuousNll(double nllNats, int dims, double range)
    {
        if (!(range > 0)) throw new ArgumentOutOfRangeException(nameof(range), range, "BitsPerDim: the data range must be positive");
        return FromDiscreteNll(nllNats - dims * Math.Log(range / 256.0), dims);
    }

    /// <summary>Uniform dequantisation: 8-bit values (0..255) plus U[0, 1) noise, scaled to [lo, lo + range).</summary>
    public static float[] Dequantise(ReadOnlySpan<byte> pixels, Engine.Random.Generator g, float lo = 0f, float range = 1f)
    {
        var u = new float[pixels.Length];
        g.FillUniform(u);
        var y = new float[pixels.Length];
        for (int i = 0; i < y.Length; i++) y[i] = lo + range * (pixels[i] + u[i]) / 256f;
        return y;
    }
}
