using Engine;
using Engine.Random;
using Models.Evaluation;

namespace Models.Flows;

/// <summary>Uniform dequantisation of 8-bit images, the usual preparation of discrete data for a continuous density.</summary>
public static class Dequantization
{
    /// <summary>
    /// Images with values k/255 (k = 0..255) → (k + u)/256 with u ~ U[0, 1), the same shape. NLLs of the result
    /// convert to bits/dim of the discrete data with <see cref="BitsPerDim.FromContinuousNll"/> and range 1.
    /// </summary>
    public static Tensor Uniform(Tensor images, Generator g)
    {
        var v = images.Contiguous().Span;
        var bytes = new byte[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            float p = v[i];
            if (!float.IsFinite(p) || p < -1e-3f || p > 1.001f)
                throw new ArgumentException($"Dequantization: value {p} at {i} is outside [0, 1] (expected 8-bit images scaled by 1/255)");
            bytes[i] = (byte)Math.Clamp(MathF.Round(p * 255f), 0f, 255f);
        }
        return Tensor.Wrap(BitsPerDim.Dequantise(bytes, g), images.Shape);
    }
}
