namespace Engine.Nn;

/// <summary>Nearest-neighbour upsampling by an integer factor, PyTorch's <c>nn.Upsample(scale_factor, mode="nearest")</c>.</summary>
public sealed class Upsample : Layer
{
    public int ScaleFactor { get; }

    public Upsample(int scaleFactor)
    {
        if (scaleFactor < 1) throw new ArgumentOutOfRangeException(nameof(scaleFactor), $"Upsample: scale must be ≥ 1, got {scaleFactor}");
        ScaleFactor = scaleFactor;
    }

    /// <summary>(N, C, H, W) → (N, C, H·scale, W·scale).</summary>
    public override Tensor Forward(Tensor x) => x.UpsampleNearest2d(ScaleFactor);
}
