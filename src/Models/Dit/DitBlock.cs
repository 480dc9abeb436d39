using Engine;
using Engine.Nn;
using Engine.Random;

namespace Models.Dit;

// The transformer parts of DiT (Peebles & Xie 2023). B batch, T tokens, D width.

/// <summary>The transformer MLP: <c>fc1</c> (D → hidden) → tanh-GELU → <c>fc2</c> (hidden → D).</summary>
public sealed class Mlp : Layer
{
    readonly Linear fc1, fc2;

    public Mlp(int width, int hidden, Generator g)
    {
        fc1 = Child("fc1", DitInit.Xavier(new Linear(width, hidden, g), g));
        fc2 = Child("fc2", DitInit.Xavier(new Linear(hidden, width, g), g));
    }

    public override Tensor Forward(Tensor x)
    {
        var hidden = fc1.Forward(x);
        var act = hidden.Gelu(tanhApproximation: true);
        return fc2.Forward(act);
    }
}

/// <summary>Initialisation of the reference DiT: Xavier-uniform Linear weights, zero biases; adaLN projections all zero.</summary>
public static class DitInit
{
    public static Linear Xavier(Linear l, Generator g)
    {
        Init.XavierUniform(l.Weight, g);
        if (l.Bias is not null) Init.Zeros(l.Bias);
        return l;
    }

    /// <summary><c>adaLN_modulation</c>: SiLU → Linear(D, n·D), zero-initialised so that every gate and shift starts at 0 and every scale at 1.</summary>
    public static Sequential Modulation(int width, int n, Generator g)
    {
        var linear = new Linear(width, n * width, g);
        Init.Zeros(linear.Weight); Init.Zeros(linear.Bias!);
        return new Sequential(new Silu(), linear);
    }

    /// <summary>Splits a modulation (B, n·D) into n contiguous (B, D) pieces.</summary>
    public static Tensor[] Split(Tensor modulation, int n) => modulation.Chunk(n, 1).Select(c => c.Contiguous()).ToArray();
}

/// <summary>
/// A DiT block with adaLN-Zero: from the conditioning c (B, D), SiLU → Linear gives shift, scale and gate for the
/// attention and for the MLP branch; LayerNorms have no affine parameters (eps 1e-6). Zero-initialised, the
/// gates are 0, so the block starts as the identity.
/// </summary>
public sealed class DitBlock : Module
{
    readonly LayerNorm norm1, norm2;
    readonly MultiHeadAttention attn;
    readonly Mlp mlp;
    readonly Sequential modulation;

    public DitBlock(int width, int heads, int mlpRatio, Generator g)
    {
        norm1 = Child("norm1", new LayerNorm(width, 1e-6f, elementwiseAffine: false));
        attn = Child("attn", new MultiHeadAttention(width, heads, g));
        DitInit.Xavier(attn.Qkv, g); DitInit.Xavier(attn.Proj!, g);
        norm2 = Child("norm2", new LayerNorm(width, 1e-6f, elementwiseAffine: false));
        mlp = Child("mlp", new Mlp(width, mlpRatio * width, g));
        modulation = Child("adaLN_modulation", DitInit.Modulation(width, 6, g));
    }

    /// <summary>x (B, T, D), c (B, D) → (B, T, D).</summary>
    public Tensor Forward(Tensor x, Tensor c)
    {
        var m = DitInit.Split(modulation.Forward(c), 6);                           // 6 × (B, D)
        var a = Branch(norm1.Forward(x), m[0], m[1], attn.Forward);
        var mid = AdaLN.GatedResidual(x, m[2], a);
        var b = Branch(norm2.Forward(mid), m[3], m[4], mlp.Forward);
        return AdaLN.GatedResidual(mid, m[5], b);
    }

    /// <summary>f(modulate(normed, shift, scale)); without a graph, each intermediate is freed once used.</summary>
    static Tensor Branch(Tensor normed, Tensor shift, Tensor scale, Func<Tensor, Tensor> f)
    {
        var modulated = AdaLN.Modulate(normed, shift, scale);
        return f(modulated);
    }
}

/// <summary>The last layer: LayerNorm, adaLN shift and scale from c, Linear(D → p·p·C) per token; zero-initialised.</summary>
public sealed class FinalLayer : Module
{
    readonly LayerNorm norm;
    readonly Linear linear;
    readonly Sequential modulation;

    public FinalLayer(int width, int outPerToken, Generator g)
    {
        norm = Child("norm_final", new LayerNorm(width, 1e-6f, elementwiseAffine: false));
        linear = Child("linear", new Linear(width, outPerToken, g));
        Init.Zeros(linear.Weight); Init.Zeros(linear.Bias!);
        modulation = Child("adaLN_modulation", DitInit.Modulation(width, 2, g));
    }

    /// <summary>x (B, T, D), c (B, D) → (B, T, p·p·C).</summary>
    public Tensor Forward(Tensor x, Tensor c)
    {
        var m = DitInit.Split(modulation.Forward(c), 2);
        var normed = norm.Forward(x);
        var modulated = AdaLN.Modulate(normed, m[0], m[1]);
        return linear.Forward(modulated);
    }
}
