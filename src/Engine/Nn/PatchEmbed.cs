using Engine.Random;

namespace Engine.Nn;

/// <summary>
/// Cuts an image (B, C, H, W) into non-overlapping p×p patches and projects each to width D: a Conv2d with
/// kernel and stride p, named <c>proj</c> as in ViT/DiT, flattened to tokens (B, T, D) with T = (H/p)·(W/p) in
/// raster order. <see cref="Unpatchify"/> is the inverse layout for the per-token output of a transformer.
/// </summary>
/// <example><c>var embed = new PatchEmbed(1, 256, 2, g); var tokens = embed.Forward(images); // (B, 1, 28, 28) → (B, 196, 256)</c></example>
public sealed class PatchEmbed : Layer
{
    readonly Conv2d proj;

    public int Channels { get; }
    public int Patch { get; }
    public int Width { get; }

    public PatchEmbed(int channels, int width, int patch, Generator g)
    {
        if (channels < 1 || width < 1 || patch < 1)
            throw new ArgumentOutOfRangeException(nameof(patch), $"PatchEmbed: channels {channels}, width {width} and patch {patch} must be positive");
        Channels = channels; Patch = patch; Width = width;
        proj = Child("proj", new Conv2d(channels, width, patch, g, stride: patch));
    }

    /// <summary>The projection: weight (D, C, p, p), bias (D).</summary>
    public Conv2d Proj => proj;

    /// <summary>(B, C, H, W) → (B, T, D).</summary>
    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != 4 || x.Shape[1] != Channels || x.Shape[2] % Patch != 0 || x.Shape[3] % Patch != 0 || x.Shape[2] == 0 || x.Shape[3] == 0)
            throw new ShapeMismatchException($"PatchEmbed: expected (B, {Channels}, H, W) with H and W positive multiples of {Patch}, got {Shapes.Format(x.Shape)}");
        int b = x.Shape[0], gh = x.Shape[2] / Patch, gw = x.Shape[3] / Patch, c = Channels, p = Patch;
        // A p-stride p×p convolution is one GEMM over the patches laid out as rows of (C, p, p) values.
        var patches = x.Reshape(b, c, gh, p, gw, p).Permute(0, 2, 4, 1, 3, 5).Reshape(b, gh * gw, c * p * p); // (B, T, C·p·p)
        var y = Tensor.MatMul(patches.Reshape(b * gh * gw, c * p * p), proj.Weight.Reshape(Width, c * p * p).T);   // (B·T, D)
        if (proj.Bias is not null) y = y + proj.Bias;
        return y.Reshape(b, gh * gw, Width);
    }

    /// <summary>
    /// Per-token patches back to images: (B, T, p·p·C) with each token's values ordered (row in patch, column in
    /// patch, channel) — the reference DiT layout — to (B, C, gh·p, gw·p), T = gh·gw in raster order.
    /// </summary>
    public static Tensor Unpatchify(Tensor x, int channels, int patch, int gridH, int gridW)
    {
        int pp = patch * patch * channels;
        if (x.Rank != 3 || x.Shape[1] != gridH * gridW || x.Shape[2] != pp)
            throw new ShapeMismatchException($"Unpatchify: expected (B, {gridH * gridW}, {pp}) for a {gridH}×{gridW} grid of {patch}×{patch}×{channels} patches, got {Shapes.Format(x.Shape)}");
        int b = x.Shape[0];
        return x.Reshape(b, gridH, gridW, patch, patch, channels)
            .Permute(0, 5, 1, 3, 2, 4)                                              // (B, C, gh, p, gw, p)
            .Reshape(b, channels, gridH * patch, gridW * patch);
    }
}
