using Engine;

namespace Models.Flows;

/// <summary>The base distribution of the flows: independent standard normals.</summary>
public static class StandardNormal
{
    static readonly float HalfLog2Pi = 0.5f * MathF.Log(2f * MathF.PI);

    /// <summary>log N(z; 0, I) per sample: −½‖z‖² − (D/2)·log 2π, (B, …) → (B).</summary>
    public static Tensor LogProb(Tensor z)
    {
        int d = z.Numel / z.Shape[0];
        return FlowLayer.SumPerSample(z.Square()) * -0.5f - HalfLog2Pi * d;
    }
}
