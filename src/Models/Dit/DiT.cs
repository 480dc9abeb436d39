using Engine;
using Engine.Nn;
using Engine.Random;
using Models.Diffusion;

namespace Models.Dit;

/// <summary>
/// The Diffusion Transformer (Peebles &amp; Xie 2023), class-conditional: patch embedding plus a learned
/// position embedding (initialised to 2-D sine-cosine), timestep + class embedding as the conditioning, a stack of
/// adaLN-Zero blocks, a final adaLN layer and unpatchify. Parameter names follow the reference implementation
/// (<c>x_embedder.proj.weight</c>, <c>pos_embed</c>, <c>t_embedder.mlp.0.weight</c>, <c>y_embedder.embedding_table.weight</c>,
/// <c>blocks.3.adaLN_modulation.1.weight</c>, <c>final_layer.linear.bias</c>), so weights move to and from PyTorch by name.
/// </summary>
/// <example><c>var dit = new DiT(new DitConfig(), new Generator(0)); var eps = dit.Forward(xt, t, labels); // W2, DiT-T/2</c></example>
public sealed class DiT : Module, IDenoiser
{
    readonly PatchEmbed xEmbedder;
    readonly Tensor posEmbed;
    readonly TimestepEmbedder tEmbedder;
    readonly LabelEmbedder yEmbedder;
    readonly ModuleList<DitBlock> blocks;
    readonly FinalLayer finalLayer;

    public DitConfig Config { get; }
    public int NullClass => Config.Classes;

    public DiT(DitConfig config, Generator g)
    {
        config.Validate();
        Config = config;
        int d = config.Width, p = config.Patch;
        xEmbedder = Child("x_embedder", new PatchEmbed(config.Channels, d, p, g));
        Init.XavierUniform(xEmbedder.Proj.Weight.Reshape(d, config.Channels * p * p), g);
        Init.Zeros(xEmbedder.Proj.Bias!);
        posEmbed = Parameter("pos_embed", SinCos2d.Table(d, config.Grid, config.Grid));    // (1, T, D)
        tEmbedder = Child("t_embedder", new TimestepEmbedder(d, g, config.FrequencyDim));
        yEmbedder = Child("y_embedder", new LabelEmbedder(config.Classes, d, g));
        blocks = Child("blocks", new ModuleList<DitBlock>(Enumerable.Range(0, config.Depth).Select(_ => new DitBlock(d, config.Heads, config.MlpRatio, g))));
        finalLayer = Child("final_layer", new FinalLayer(d, p * p * config.Channels, g));
    }

    /// <summary>Discrete diffusion timesteps (the <see cref="IDenoiser"/> contract).</summary>
    public Tensor Forward(Tensor xt, int[] t, int[] labels) => Forward(xt, t.Select(v => (float)v).ToArray(), labels);

    /// <summary>x (B, C, H, W), real timesteps t (B), labels (B) in [0, classes] → per-pixel prediction (B, C, H, W).</summary>
    public Tensor Forward(Tensor x, float[] t, int[] labels)
    {
        var c = Config;
        if (x.Rank != 4 || x.Shape[1] != c.Channels || x.Shape[2] != c.ImageSize || x.Shape[3] != c.ImageSize)
            throw new ShapeMismatchException($"DiT: expected images (B, {c.Channels}, {c.ImageSize}, {c.ImageSize}), got {Shapes.Format(x.Shape)}");
        if (t.Length != x.Shape[0] || labels.Length != x.Shape[0])
            throw new ShapeMismatchException($"DiT: batch of {x.Shape[0]} with {t.Length} timesteps and {labels.Length} labels");
        foreach (var y in labels)
            if ((uint)y > (uint)c.Classes) throw new ArgumentOutOfRangeException(nameof(labels), $"DiT: label {y} is outside [0, {c.Classes}] ({c.Classes} = no class)");
        var patches = xEmbedder.Forward(x);
        var h = patches + posEmbed;                                               // (B, T, D)
        var cond = tEmbedder.Forward(t) + yEmbedder.Forward(labels);               // (B, D)
        foreach (var block in blocks) h = block.Forward(h, cond);
        var o = finalLayer.Forward(h, cond);                                      // (B, T, p·p·C)
        return PatchEmbed.Unpatchify(o, c.Channels, c.Patch, c.Grid, c.Grid);   // (B, C, H, W)
    }
}
