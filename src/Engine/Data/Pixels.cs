using System.Numerics;

namespace Engine.Data;

/// <summary>8-bit pixel values to floats in [0, 1] (<c>b / 255</c>, correctly rounded), the hot loop of every image loader.</summary>
static class Pixels
{
    /// <summary>Plain scalar version, kept as the reference the vector version is tested against.</summary>
    internal static void ToUnitReference(ReadOnlySpan<byte> src, Span<float> dst)
    {
        CheckLengths(src, dst);
        for (int i = 0; i < src.Length; i++) dst[i] = src[i] / 255f;
    }

    /// <summary>Widens bytes → ushort → uint → float with <see cref="Vector{T}"/>, then divides by 255; scalar tail.</summary>
    internal static void ToUnit(ReadOnlySpan<byte> src, Span<float> dst)
    {
        CheckLengths(src, dst);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var divisor = new Vector<float>(255f);
            int step = Vector<byte>.Count, quarter = Vector<float>.Count;
            for (; i <= src.Length - step; i += step)
            {
                Vector.Widen(new Vector<byte>(src[i..]), out Vector<ushort> lo, out Vector<ushort> hi);
                Vector.Widen(lo, out Vector<uint> a, out Vector<uint> b);
                Vector.Widen(hi, out Vector<uint> c, out Vector<uint> d);
                (Vector.ConvertToSingle(a) / divisor).CopyTo(dst[i..]);
                (Vector.ConvertToSingle(b) / divisor).CopyTo(dst[(i + quarter)..]);
                (Vector.ConvertToSingle(c) / divisor).CopyTo(dst[(i + 2 * quarter)..]);
                (Vector.ConvertToSingle(d) / divisor).CopyTo(dst[(i + 3 * quarter)..]);
            }
        }
        for (; i < src.Length; i++) dst[i] = src[i] / 255f;
    }

    static void CheckLengths(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (src.Length != dst.Length) throw new ArgumentException($"Pixels.ToUnit: {src.Length} bytes but {dst.Length} floats");
    }
}
