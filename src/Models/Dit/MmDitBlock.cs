using Engine;
using Engine.Nn;
using Engine.Random;

namespace Models.Dit;

/// <summary>
/// One stream of an MM-DiT block (SD3's "dismantled" block), with its own weights: adaLN modulation from the
/// conditioning, LayerNorm, QKV with per-head RMS-normalised queries and keys, output projection and MLP.
/// A pre-only stream (the text stream of the last block) contributes keys and values but produces no output.
/// </summary>
public sealed class StreamBlock : Module
{
    readonly LayerNorm norm1;
    readonly LayerNorm? norm2;
    readonly MultiHeadAttention attn;
    readonly Mlp? mlp;
    readonly Sequential modulation;

    public bool PreOnly { get; }

    public StreamBlock(int width, int heads, int mlpRatio, bool preOnly, Generator g)
    {
        PreOnly = preOnly;
        modulation = Child("adaLN_modulation", DitInit.Modulation(width, preOnly ? 2 : 6, g));
        norm1 = Child("norm1", new LayerNorm(width, 1e-6f, elementwiseAffine: false));
        attn = Child("attn", new MultiHeadAttention(width, heads, g, qkNorm: true, outputProjection: !preOnly));
        DitInit.Xavier(attn.Qkv, g);
        if (preOnly) return;
        DitInit.Xavier(attn.Proj!, g);
        norm2 = Child("norm2", new LayerNorm(width, 1e-6f, elementwiseAffine: false));
        mlp = Child("mlp", new Mlp(width, mlpRatio * width, g));
    }

    /// <summary>x (B, T, D), c (B, D) → this stream's queries, keys, values (B, H, T, D/H) and the modulation pieces.</summary>
    public ((Tensor Q, Tensor K, Tensor V) Qkv, Tensor[] Mod) Pre(Tensor x, Tensor c)
    {
        var m = DitInit.Split(modulation.Forward(c), PreOnly ? 2 : 6);
        return (attn.Project(AdaLN.Modulate(norm1.Forward(x), m[0], m[1])), m);
    }

    /// <summary>The residual updates after attention: attention result a (B, H, T, D/H) → new x (B, T, D).</summary>
    public Tensor Post(Tensor x, Tensor a, Tensor[] m)
    {
        if (PreOnly) throw new InvalidOperationException("StreamBlock: a pre-only stream has no output");
        x = AdaLN.GatedResidual(x, m[2], attn.Output(a));
        return AdaLN.GatedResidual(x, m[5], mlp!.Forward(AdaLN.Modulate(norm2!.Forward(x), m[3], m[4])));
    }
}

/// <summary>
/// An MM-DiT block (Esser et al. 2024): the text stream (<c>context_block</c>) and the image stream (<c>x_block</c>)
/// keep separate weights but attend jointly over the concatenation [text tokens, image tokens].
/// </summary>
public sealed class JointBlock : Module
{
    readonly StreamBlock context, image;

    public JointBlock(int width, int heads, int mlpRatio, bool lastBlock, Generator g)
    {
        context = Child("context_block", new StreamBlock(width, heads, mlpRatio, preOnly: lastBlock, g));
        image = Child("x_block", new StreamBlock(width, heads, mlpRatio, preOnly: false, g));
    }

    /// <summary>
    /// text (B, L, D) or null (no text stream: image-only attention), x (B, T, D), c (B, D) → updated text (null
    /// after the last block) and image tokens.
    /// </summary>
    public (Tensor? Text, Tensor Image) Forward(Tensor? text, Tensor x, Tensor c)
    {
        var (qx, mx) = image.Pre(x, c);
        if (text is null) return (null, image.Post(x, MultiHeadAttention.Joint(qx)[0], mx));
        var (qt, mt) = context.Pre(text, c);
        var a = MultiHeadAttention.Joint(qt, qx);                                    // [text, image] attend together
        return (context.PreOnly ? null : context.Post(text, a[0], mt), image.Post(x, a[1], mx));
    }
}
