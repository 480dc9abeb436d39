using Models.Training;

namespace Models.Dit;

/// <summary>
/// Shape of a <see cref="DiT"/>. The defaults are W2, DiT-T/2 of docs/workloads.md: 1×28×28 images, patch 2
/// (196 tokens), width 256, depth 6, 4 heads, MLP ratio 4, 10 classes plus the 'no class' token.
/// </summary>
public sealed record DitConfig(
    int ImageSize = 28,
    int Channels = 1,
    int Patch = 2,
    int Width = 256,
    int Depth = 6,
    int Heads = 4,
    int MlpRatio = 4,
    int Classes = 10,
    int FrequencyDim = 256)
{
    public int Grid => ImageSize / Patch;
    public int Tokens => Grid * Grid;

    /// <summary>Throws a clear <see cref="ArgumentException"/> when the sizes do not fit together.</summary>
    public void Validate()
    {
        ConfigRange.Check("DitConfig", (nameof(ImageSize), ImageSize, 1, 512), (nameof(Channels), Channels, 1, 64), (nameof(Patch), Patch, 1, 64),
            (nameof(Width), Width, 4, 8192), (nameof(Depth), Depth, 0, 128), (nameof(Heads), Heads, 1, 256), (nameof(MlpRatio), MlpRatio, 1, 16),
            (nameof(Classes), Classes, 1, 100_000), (nameof(FrequencyDim), FrequencyDim, 2, 8192));
        if (ImageSize < 1 || Patch < 1 || ImageSize % Patch != 0)
            throw new ArgumentException($"DitConfig: image size {ImageSize} must be a positive multiple of the patch size {Patch}");
        if (Width < 4 || Heads < 1 || Width % Heads != 0 || Width % 4 != 0)
            throw new ArgumentException($"DitConfig: width {Width} must be a multiple of 4 and of the {Heads} heads");
        if (Depth < 0 || MlpRatio < 1 || Classes < 1 || Channels < 1 || FrequencyDim < 2 || FrequencyDim % 2 != 0)
            throw new ArgumentException($"DitConfig: depth {Depth}, MLP ratio {MlpRatio}, classes {Classes}, channels {Channels}, frequency dim {FrequencyDim} out of range");
    }
}
