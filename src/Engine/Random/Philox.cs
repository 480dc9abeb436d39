namespace Engine.Random;

/// <summary>
/// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a counter-based
/// generator. Output block <c>i</c> depends only on (key, i), so any thread can produce any part of a stream
/// and the same seed gives the same numbers on every machine and thread count.
/// </summary>
public static class Philox
{
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Four 32-bit outputs for counter (c0..c3) under key (k0, k1).</summary>
    public static (uint, uint, uint, uint) Block(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
            k0 += W0; k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>A uniform float in [0, 1) from the top 24 bits.</summary>
    public static float ToUnit(uint x) => (x >> 8) * (1.0f / 16777216f);

    /// <summary>A uniform float in (0, 1], safe for log.</summary>
    public static float ToUnitOpen(uint x) => ((x >> 8) + 1) * (1.0f / 16777216f);
}
