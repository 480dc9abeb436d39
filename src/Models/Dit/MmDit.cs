using Models.Training;
using Engine;
using Engine.Nn;
using Engine.Random;
using Models.Dit.Text;

namespace Models.Dit;

/// <summary>
/// Shape of an <see cref="MmDit"/>: image side (size, channels, patch, width, depth, heads) and text side
/// (vocabulary, caption length, encoder width/depth/heads). The vocabulary is part of the config, so a checkpoint
/// carries its tokenizer.
/// </summary>
public sealed record MmDitConfig(
    string[] Vocabulary,
    int ImageSize = 32,
    int Channels = 3,
    int Patch = 4,
    int Width = 128,
    int Depth = 4,
    int Heads = 4,
    int MlpRatio = 4,
    int MaxTokens = 12,
    int TextWidth = 64,
    int TextDepth = 2,
    int TextHeads = 4,
    int FrequencyDim = 256)
{
    public int Grid => ImageSize / Patch;

    public WordTokenizer Tokenizer() => WordTokenizer.FromVocabulary(Vocabulary, MaxTokens);

    public void Validate()
    {
        ConfigRange.Check("MmDitConfig", (nameof(ImageSize), ImageSize, 1, 512), (nameof(Channels), Channels, 1, 64), (nameof(Patch), Patch, 1, 64),
            (nameof(Width), Width, 4, 8192), (nameof(Depth), Depth, 1, 128), (nameof(Heads), Heads, 1, 256), (nameof(MlpRatio), MlpRatio, 1, 16),
            (nameof(MaxTokens), MaxTokens, 1, 1024), (nameof(TextWidth), TextWidth, 1, 8192), (nameof(TextDepth), TextDepth, 0, 64),
            (nameof(TextHeads), TextHeads, 1, 256), (nameof(FrequencyDim), FrequencyDim, 2, 8192), ("Vocabulary.Length", Vocabulary?.Length ?? 0, 2, 1_000_000));
        if (ImageSize < 1 || Patch < 1 || ImageSize % Patch != 0)
            throw new ArgumentException($"MmDitConfig: image size {ImageSize} must be a positive multiple of the patch size {Patch}");
        if (Width % 4 != 0 || Width % Heads != 0 || TextWidth % TextHeads != 0 || Depth < 1 || TextDepth < 0 || MaxTokens < 1)
            throw new ArgumentException($"MmDitConfig: width {Width} (multiple of 4 and of {Heads} heads), text width {TextWidth} ({TextHeads} heads), depth {Depth} ≥ 1, caption length {MaxTokens} ≥ 1");
        if (Vocabulary is null || Vocabulary.Length < 2) throw new ArgumentException("MmDitConfig: the vocabulary must hold at least the two special tokens");
    }
}

/// <summary>
/// The multimodal diffusion transformer of Stable Diffusion 3, small: a text encoder trained with the model gives
/// caption tokens (projected by <c>context_embedder</c> to the image width) and a pooled caption vector; the
/// conditioning c = timestep embedding + MLP(pooled text) drives adaLN in every block; the blocks attend jointly over
/// [text, image] tokens with separate weights per stream and QK RMS-normalisation; the image tokens go through a
/// final adaLN layer and unpatchify. Predicts the rectified-flow velocity.
/// </summary>
public sealed class MmDit : Module
{
    readonly TextEncoder textEncoder;
    readonly Linear contextEmbedder;
    readonly Sequential yEmbedder;
    readonly TimestepEmbedder tEmbedder;
    readonly PatchEmbed xEmbedder;
    readonly Tensor posEmbed;
    readonly ModuleList<JointBlock> blocks;
    readonly FinalLayer finalLayer;

    public MmDitConfig Config { get; }
    public WordTokenizer Tokenizer { get; }

    public MmDit(MmDitConfig config, Generator g)
    {
        config.Validate();
        Config = config;
        Tokenizer = config.Tokenizer();
        int d = config.Width, p = config.Patch;
        textEncoder = Child("text_encoder", new TextEncoder(Tokenizer.Count, config.MaxTokens, config.TextWidth, config.TextDepth, config.TextHeads, g));
        contextEmbedder = Child("context_embedder", DitInit.Xavier(new Linear(config.TextWidth, d, g), g));
        yEmbedder = Child("y_embedder", new Sequential(DitInit.Xavier(new Linear(config.TextWidth, d, g), g), new Silu(), DitInit.Xavier(new Linear(d, d, g), g)));
        tEmbedder = Child("t_embedder", new TimestepEmbedder(d, g, config.FrequencyDim));
        xEmbedder = Child("x_embedder", new PatchEmbed(config.Channels, d, p, g));
        Init.XavierUniform(xEmbedder.Proj.Weight.Reshape(d, config.Channels * p * p), g);
        Init.Zeros(xEmbedder.Proj.Bias!);
        posEmbed = Parameter("pos_embed", SinCos2d.Table(d, config.Grid, config.Grid));
        blocks = Child("joint_blocks", new ModuleList<JointBlock>(Enumerable.Range(0, config.Depth)
            .Select(i => new JointBlock(d, config.Heads, config.MlpRatio, lastBlock: i == config.Depth - 1, g))));
        finalLayer = Child("final_layer", new FinalLayer(d, p * p * config.Channels, g));
    }

    /// <summary>Velocity for images x (B, C, H, W) at flow times t (B) in [0, 1], given captions.</summary>
    public Tensor Forward(Tensor x, float[] t, IReadOnlyList<string> captions) => Forward(x, t, Tokenizer.EncodeBatch(captions));

    /// <summary>
    /// Velocity for x (B, C, H, W) at times t (B) given token ids (B·L). With <paramref name="withText"/> false the
    /// text stream is removed: no caption tokens in attention and no pooled text in the conditioning.
    /// </summary>
    public Tensor Forward(Tensor x, float[] t, int[] tokens, bool withText = true)
    {
        var c = Config;
        if (x.Rank != 4 || x.Shape[1] != c.Channels || x.Shape[2] != c.ImageSize || x.Shape[3] != c.ImageSize)
            throw new ShapeMismatchException($"MmDit: expected images (B, {c.Channels}, {c.ImageSize}, {c.ImageSize}), got {Shapes.Format(x.Shape)}");
        int b = x.Shape[0];
        if (t.Length != b || tokens.Length != b * c.MaxTokens)
            throw new ShapeMismatchException($"MmDit: batch of {b} with {t.Length} times and {tokens.Length} token ids (expected {b * c.MaxTokens})");
        foreach (var id in tokens)
            if ((uint)id >= (uint)Tokenizer.Count) throw new ArgumentOutOfRangeException(nameof(tokens), $"MmDit: token id {id} is outside the vocabulary of {Tokenizer.Count}");
        var h = xEmbedder.Forward(x) + posEmbed;                                      // (B, T, D)
        var cond = tEmbedder.Forward(t.Select(v => v * DitTrainer.FlowTimeScale).ToArray()); // (B, D)
        Tensor? text = null;
        if (withText)
        {
            var (words, pooled) = textEncoder.Forward(tokens);                        // (B, L, E), (B, E)
            text = contextEmbedder.Forward(words);                                    // (B, L, D)
            cond = cond + yEmbedder.Forward(pooled);
        }
        foreach (var block in blocks) (text, h) = block.Forward(text, h, cond);
        h = finalLayer.Forward(h, cond);                                              // (B, T, p·p·C)
        return PatchEmbed.Unpatchify(h, c.Channels, c.Patch, c.Grid, c.Grid);
    }
}
