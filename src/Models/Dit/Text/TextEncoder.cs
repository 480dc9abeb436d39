using Engine;
using Engine.Nn;
using Engine.Random;

namespace Models.Dit.Text;

/// <summary>A pre-norm transformer layer: x + attn(LN(x)), then x + MLP(LN(x)). L tokens, E width.</summary>
public sealed class TextLayer : Module
{
    readonly LayerNorm norm1, norm2;
    readonly MultiHeadAttention attn;
    readonly Mlp mlp;

    public TextLayer(int width, int heads, Generator g)
    {
        norm1 = Child("norm1", new LayerNorm(width));
        attn = Child("attn", new MultiHeadAttention(width, heads, g));
        norm2 = Child("norm2", new LayerNorm(width));
        mlp = Child("mlp", new Mlp(width, 4 * width, g));
    }

    public Tensor Forward(Tensor x)                                                  // (B, L, E)
    {
        x = x + attn.Forward(norm1.Forward(x));
        return x + mlp.Forward(norm2.Forward(x));
    }
}

/// <summary>
/// A small text encoder trained together with the image model (no pretrained weights): token embedding plus a
/// learned position embedding, a few <see cref="TextLayer"/>s and a final LayerNorm. Gives the per-token features
/// (B, L, E) for joint attention and a pooled vector (B, E), the mean over the non-padding tokens (over all tokens
/// for an empty caption), for the adaLN conditioning.
/// </summary>
public sealed class TextEncoder : Module
{
    readonly Embedding tokenEmbedding;
    readonly Tensor posEmbed;
    readonly ModuleList<TextLayer> layers;
    readonly LayerNorm finalNorm;

    public int Width { get; }
    public int MaxLength { get; }
    public int VocabularySize { get; }

    public TextEncoder(int vocabularySize, int maxLength, int width, int depth, int heads, Generator g)
    {
        Width = width; MaxLength = maxLength; VocabularySize = vocabularySize;
        tokenEmbedding = Child("token_embedding", new Embedding(vocabularySize, width, g));
        Init.Normal(tokenEmbedding.Weight, g, 0f, 0.02f);
        posEmbed = Parameter("pos_embed", Init.Normal(Tensor.Zeros([1, maxLength, width]), g, 0f, 0.01f));
        layers = Child("layers", new ModuleList<TextLayer>(Enumerable.Range(0, depth).Select(_ => new TextLayer(width, heads, g))));
        finalNorm = Child("final_norm", new LayerNorm(width));
    }

    /// <summary>Token ids (B·L, row after row) → tokens (B, L, E) and pooled (B, E).</summary>
    public (Tensor Tokens, Tensor Pooled) Forward(int[] ids)
    {
        if (ids.Length == 0 || ids.Length % MaxLength != 0)
            throw new ShapeMismatchException($"TextEncoder: {ids.Length} token ids are not whole captions of {MaxLength}");
        int b = ids.Length / MaxLength;
        var x = tokenEmbedding.Forward(ids).Reshape(b, MaxLength, Width) + posEmbed;    // (B, L, E)
        foreach (var layer in layers) x = layer.Forward(x);
        x = finalNorm.Forward(x);
        var weights = new float[b * MaxLength];                                      // mean over the words
        for (int i = 0; i < b; i++)
        {
            int words = 0;
            for (int j = 0; j < MaxLength; j++) if (ids[i * MaxLength + j] != WordTokenizer.Pad) words++;
            for (int j = 0; j < MaxLength; j++)
                weights[i * MaxLength + j] = words == 0 ? 1f / MaxLength : ids[i * MaxLength + j] != WordTokenizer.Pad ? 1f / words : 0f;
        }
        var pooled = (x * Tensor.Wrap(weights, b, MaxLength, 1).To(x.Device)).Sum(1); // (B, E); the weights come with the ids, like them from the host
        return (x, pooled);
    }
}
