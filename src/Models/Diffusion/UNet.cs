using Engine;
using Engine.Nn;
using Engine.Random;

namespace Models.Diffusion;

/// <summary>
/// Settings of the W1 UNet-S denoiser. <paramref name="BaseChannels"/> is the width ch (a multiple of 8),
/// <paramref name="ResBlocks"/> the residual blocks per resolution on each side (2 in W1).
/// </summary>
public sealed record UNetConfig(int BaseChannels = 32, int Classes = 10, int Heads = 4, int ImageChannels = 1, int ResBlocks = 2);

/// <summary>Sinusoidal timestep features (dim/2 sines then dim/2 cosines) → Linear → SiLU → Linear.</summary>
public sealed class TimeEmbed : Module
{
    readonly int dim;
    readonly Linear linear1, linear2;

    public TimeEmbed(int dim, int outDim, Generator g)
    {
        this.dim = dim;
        linear1 = Child("linear1", new Linear(dim, outDim, g));
        linear2 = Child("linear2", new Linear(outDim, outDim, g));
    }

    public Tensor Forward(int[] t) => linear2.Forward(linear1.Forward(Sinusoidal(t, dim).To(linear1.Weight.Device)).Silu());   // features made on the host, used where the weights are

    /// <summary>(B, dim): sin(t·f_i) and cos(t·f_i) with f_i = exp(−ln(10000)·i/half).</summary>
    public static Tensor Sinusoidal(int[] t, int dim)
    {
        int half = dim / 2;
        var v = new float[t.Length * dim];
        for (int b = 0; b < t.Length; b++)
            for (int i = 0; i < half; i++)
            {
                double a = t[b] * Math.Exp(-Math.Log(10000) * i / half);
                v[b * dim + i] = (float)Math.Sin(a);
                v[b * dim + half + i] = (float)Math.Cos(a);
            }
        return Tensor.Wrap(v, [t.Length, dim]);
    }
}

/// <summary>GroupNorm → SiLU → Conv3×3 → + time/class projection → GroupNorm → SiLU → Conv3×3, plus a skip.</summary>
public sealed class ResBlock : Module
{
    readonly GroupNorm norm1, norm2;
    readonly Conv2d conv1, conv2;
    readonly Linear timeProj;
    readonly Conv2d? skip;

    public ResBlock(int ci, int co, int embDim, Generator g)
    {
        norm1 = Child("norm1", new GroupNorm(8, ci));
        conv1 = Child("conv1", new Conv2d(ci, co, 3, g, padding: 1));
        timeProj = Child("time_proj", new Linear(embDim, co, g));
        norm2 = Child("norm2", new GroupNorm(8, co));
        conv2 = Child("conv2", new Conv2d(co, co, 3, g, padding: 1));
        if (ci != co) skip = Child("skip", new Conv2d(ci, co, 1, g));
    }

    public Tensor Forward(Tensor x, Tensor emb)                                   // x (B, Ci, H, W), emb (B, E)
    {
        var a = norm1.ForwardSilu(x);
        var h = conv1.Forward(a);                                                 // (B, Co, H, W)
        h = h + timeProj.Forward(emb).Unsqueeze(-1).Unsqueeze(-1);               // + (B, Co, 1, 1)
        var b = norm2.ForwardSilu(h);
        h = conv2.Forward(b);
        if (skip is null) return h + x;
        var s = skip.Forward(x);
        return h + s;
    }
}

/// <summary>Self-attention over the H·W positions: GroupNorm → Conv1×1 to Q, K, V → heads → Conv1×1, residual.</summary>
public sealed class AttnBlock : Module
{
    readonly int heads;
    readonly GroupNorm norm;
    readonly Conv2d qkv, proj;

    public AttnBlock(int c, int heads, Generator g)
    {
        this.heads = heads;
        norm = Child("norm", new GroupNorm(8, c));
        qkv = Child("qkv", new Conv2d(c, 3 * c, 1, g));
        proj = Child("proj", new Conv2d(c, c, 1, g));
    }

    public Tensor Forward(Tensor x)                                               // (B, C, H, W)
    {
        int b = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var normed = norm.Forward(x);
        var qkvOut = qkv.Forward(normed);
        var parts = qkvOut
            .Reshape(b, 3, heads, c / heads, h * w)
            .Permute(1, 0, 2, 4, 3);                                             // (3, B, heads, HW, C/heads)
        var q = parts.Narrow(0, 0, 1).Squeeze(0);
        var k = parts.Narrow(0, 1, 1).Squeeze(0);
        var v = parts.Narrow(0, 2, 1).Squeeze(0);
        var a = Tensor.Attention(q, k, v);                                        // (B, heads, HW, C/heads)
        var heads2d = a.Permute(0, 1, 3, 2).Reshape(b, c, h, w);
        var o = proj.Forward(heads2d);
        return x + o;
    }
}

/// <summary>One resolution: residual blocks, optional attention after each, optional resampling conv.</summary>
public sealed class Level : Module
{
    public ModuleList<ResBlock> Res { get; }
    public ModuleList<AttnBlock>? Attn { get; }
    public Conv2d? Resample { get; }

    public Level((int Ci, int Co)[] pairs, int embDim, bool attention, Conv2d? resample, int heads, Generator g)
    {
        Res = Child("res", new ModuleList<ResBlock>(pairs.Select(p => new ResBlock(p.Ci, p.Co, embDim, g))));
        if (attention) Attn = Child("attn", new ModuleList<AttnBlock>(pairs.Select(p => new AttnBlock(p.Co, heads, g))));
        if (resample is not null) Resample = Child("resample", resample);
    }
}

/// <summary>
/// The W1 UNet-S denoiser (see docs/workloads.md): three resolutions (28, 14, 7) at widths ch, 2ch, 2ch, attention at
/// 7×7, time and class embeddings added together and fed to every residual block. Parameter names follow the
/// PyTorch peer, so weights move between the two by name.
/// </summary>
public sealed class UNet : Module, IDenoiser
{
    public UNetConfig Config { get; }
    public int NullClass => Config.Classes;

    readonly TimeEmbed timeEmbed;
    readonly Embedding classEmbed;
    readonly Conv2d convIn, convOut;
    readonly ModuleList<Level> down, up;
    readonly ResBlock midRes1, midRes2;
    readonly AttnBlock midAttn;
    readonly GroupNorm normOut;

    public UNet(UNetConfig config, Generator g)
    {
        Config = config;
        int ch = config.BaseChannels, c2 = 2 * ch, td = 4 * ch, heads = config.Heads;
        if (ch % 8 != 0) throw new ArgumentException($"UNet: base width {ch} must be a multiple of 8 (GroupNorm with 8 groups)");
        timeEmbed = Child("time_embed", new TimeEmbed(ch, td, g));
        classEmbed = Child("class_embed", new Embedding(config.Classes + 1, td, g));
        convIn = Child("conv_in", new Conv2d(config.ImageChannels, ch, 3, g, padding: 1));
        int n = config.ResBlocks;
        if (n < 1) throw new ArgumentException($"UNet: needs at least one residual block per resolution, got {n}");
        if (c2 % heads != 0) throw new ArgumentException($"UNet: width {c2} at 7×7 does not split into {heads} heads");
        (int, int)[] Blocks(int first, int rest, int co) => Enumerable.Range(0, n).Select(i => (i == 0 ? first : rest, co)).ToArray();
        down = Child("down", new ModuleList<Level>(
        [
            new Level(Blocks(ch, ch, ch), td, false, new Conv2d(ch, ch, 3, g, stride: 2, padding: 1), heads, g),
            new Level(Blocks(ch, c2, c2), td, false, new Conv2d(c2, c2, 3, g, stride: 2, padding: 1), heads, g),
            new Level(Blocks(c2, c2, c2), td, true, null, heads, g),
        ]));
        midRes1 = Child("mid_res1", new ResBlock(c2, c2, td, g));
        midAttn = Child("mid_attn", new AttnBlock(c2, heads, g));
        midRes2 = Child("mid_res2", new ResBlock(c2, c2, td, g));
        // Each up block takes one skip, popped in reverse: the first at 28×28 meets a 2ch skip, the others ch.
        up = Child("up", new ModuleList<Level>(
        [
            new Level(Blocks(2 * c2, 2 * c2, c2), td, true, new Conv2d(c2, c2, 3, g, padding: 1), heads, g),
            new Level(Blocks(2 * c2, 2 * c2, c2), td, false, new Conv2d(c2, c2, 3, g, padding: 1), heads, g),
            new Level(Blocks(c2 + ch, 2 * ch, ch), td, false, null, heads, g),
        ]));
        normOut = Child("norm_out", new GroupNorm(8, ch));
        convOut = Child("conv_out", new Conv2d(ch, config.ImageChannels, 3, g, padding: 1));
    }

    /// <summary>x (B, 1, 28, 28), t timesteps, y labels (Classes = no class) → predicted ε or v, (B, 1, 28, 28).</summary>
    public Tensor Forward(Tensor x, int[] t, int[] y)
    {
        if (x.Rank != 4 || x.Shape[1] != Config.ImageChannels || x.Shape[2] % 4 != 0 || x.Shape[3] % 4 != 0)
            throw new ShapeMismatchException($"UNet: expected (B, {Config.ImageChannels}, H, W) with H, W multiples of 4, got {Shapes.Format(x.Shape)}");
        if (t.Length != x.Shape[0] || y.Length != x.Shape[0])
            throw new ShapeMismatchException($"UNet: batch of {x.Shape[0]} with {t.Length} timesteps and {y.Length} labels");
        var emb = timeEmbed.Forward(t) + classEmbed.Forward(y);                  // (B, 4ch)
        var h = convIn.Forward(x);
        var skips = new Stack<Tensor>();
        foreach (var level in down)
        {
            for (int i = 0; i < level.Res.Count; i++)
            {
                h = level.Res[i].Forward(h, emb);
                if (level.Attn is not null) h = level.Attn[i].Forward(h);
                skips.Push(h);
            }
            if (level.Resample is not null) h = level.Resample.Forward(h);    // stride-2 conv
        }
        var mid = midRes1.Forward(h, emb);
        h = midAttn.Forward(mid);
        h = midRes2.Forward(h, emb);
        foreach (var level in up)
        {
            for (int i = 0; i < level.Res.Count; i++)
            {
                var skip = skips.Pop();
                var joined = Tensor.Cat([h, skip], 1);
                h = level.Res[i].Forward(joined, emb);
                if (level.Attn is not null) h = level.Attn[i].Forward(h);
            }
            if (level.Resample is not null)
            {
                var up2 = h.UpsampleNearest2d(2);
                h = level.Resample.Forward(up2);
            }
        }
        var last = normOut.ForwardSilu(h);
        return convOut.Forward(last);
    }
}
