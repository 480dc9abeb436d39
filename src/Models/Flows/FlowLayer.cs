using Engine;
using Engine.Nn;

namespace Models.Flows;

/// <summary>
/// One invertible map of a normalizing flow. <see cref="Forward"/> goes from data towards the latent
/// (x → y) and returns log|det ∂y/∂x| per sample, (B); <see cref="Inverse"/> goes back (y → x).
/// Letters: B batch, C channels, H×W spatial, D features.
/// </summary>
public abstract class FlowLayer : Module
{
    /// <summary>y = f(x) and log|det ∂f/∂x| per sample, shape (B).</summary>
    public abstract (Tensor Y, Tensor LogDet) Forward(Tensor x);

    /// <summary>x = f⁻¹(y).</summary>
    public abstract Tensor Inverse(Tensor y);

    /// <summary>Sums every axis but the first: (B, …) → (B).</summary>
    public static Tensor SumPerSample(Tensor t) => t.Rank == 1 ? t : t.Reshape(t.Shape[0], -1).Sum(1);

    /// <summary>Number of positions each channel value is repeated over: H·W for (B, C, H, W), 1 for (B, D).</summary>
    public static int SpatialSize(Tensor x) => x.Rank <= 2 ? 1 : Shapes.Numel(x.Shape.AsSpan(2));

    /// <summary>A (B) tensor holding <paramref name="value"/> (a per-sample constant log-determinant).</summary>
    public static Tensor PerSample(Tensor value, int batch) => value.Reshape(1).Expand(batch);
}

/// <summary>Flow layers applied in order; log-determinants add up. The inverse runs them backwards.</summary>
public sealed class FlowSequence : FlowLayer
{
    readonly ModuleList<FlowLayer> layers;

    public FlowSequence(params IEnumerable<FlowLayer> layers) => this.layers = Child("layers", new ModuleList<FlowLayer>(layers));

    public IReadOnlyList<FlowLayer> Layers => layers;

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x)
    {
        Tensor logDet = Tensor.Zeros([x.Shape[0]], x.Device);
        foreach (var layer in layers)
        {
            var (y, ld) = layer.Forward(x);
            x = y;
            logDet = logDet + ld;
        }
        return (x, logDet);
    }

    public override Tensor Inverse(Tensor y)
    {
        for (int i = layers.Count - 1; i >= 0; i--) y = layers[i].Inverse(y);
        return y;
    }
}
