using Engine.Random;

namespace Engine.Nn;

/// <summary>
/// Multi-head self-attention over tokens (B, T, D) on top of the fused <see cref="Tensor.Attention"/> op: one
/// Linear <c>qkv</c> (D → 3D), H heads of width D/H, and an output Linear <c>proj</c> (D → D) — the layout of
/// ViT/DiT, so PyTorch weights load by name. With <c>qkNorm</c>, queries and keys are RMS-normalised per head
/// (learned weights <c>q_norm</c>, <c>k_norm</c> of width D/H), as in SD3's MM-DiT.
/// The steps are public so that several streams can attend jointly: <see cref="Project"/> each stream,
/// <see cref="Joint"/> over all of them, then <see cref="Output"/> each.
/// </summary>
/// <example><c>var attn = new MultiHeadAttention(256, 4, g); var y = attn.Forward(x); // (B, T, 256)</c></example>
public sealed class MultiHeadAttention : Module
{
    readonly Linear qkv;
    readonly Linear? proj;
    readonly RmsNorm? qNorm, kNorm;

    public int Width { get; }
    public int Heads { get; }
    public int HeadDim => Width / Heads;

    public MultiHeadAttention(int width, int heads, Generator g, bool qkNorm = false, bool outputProjection = true)
    {
        if (width < 1 || heads < 1 || width % heads != 0)
            throw new ArgumentOutOfRangeException(nameof(heads), $"MultiHeadAttention: width {width} must be a positive multiple of the {heads} heads");
        Width = width; Heads = heads;
        qkv = Child("qkv", new Linear(width, 3 * width, g));
        if (qkNorm)
        {
            qNorm = Child("q_norm", new RmsNorm(width / heads));
            kNorm = Child("k_norm", new RmsNorm(width / heads));
        }
        if (outputProjection) proj = Child("proj", new Linear(width, width, g));
    }

    /// <summary>False for a stream that only contributes keys and values (SD3's last context block).</summary>
    public bool HasOutput => proj is not null;

    public Linear Qkv => qkv;
    public Linear? Proj => proj;

    /// <summary>x (B, T, D) → self-attention output (B, T, D).</summary>
    public Tensor Forward(Tensor x)
    {
        var (q, k, v) = Project(x);
        return Output(Tensor.Attention(q, k, v));
    }

    /// <summary>x (B, T, D) → queries, keys, values, each (B, H, T, D/H), queries and keys normalised if configured.</summary>
    public (Tensor Q, Tensor K, Tensor V) Project(Tensor x)
    {
        if (x.Rank != 3 || x.Shape[2] != Width)
            throw new ShapeMismatchException($"MultiHeadAttention: expected tokens (B, T, {Width}), got {Shapes.Format(x.Shape)}");
        int b = x.Shape[0], t = x.Shape[1];
        var parts = qkv.Forward(x).Reshape(b, t, 3, Heads, HeadDim).Permute(2, 0, 3, 1, 4);   // (3, B, H, T, D/H)
        var q = parts.Narrow(0, 0, 1).Squeeze(0);
        var k = parts.Narrow(0, 1, 1).Squeeze(0);
        var v = parts.Narrow(0, 2, 1).Squeeze(0);
        if (qNorm is not null) { q = qNorm.Forward(q); k = kNorm!.Forward(k); }
        return (q, k, v);
    }

    /// <summary>Attention result (B, H, T, D/H) → heads merged and projected, (B, T, D).</summary>
    public Tensor Output(Tensor a)
    {
        if (proj is null) throw new InvalidOperationException("MultiHeadAttention: this stream was built without an output projection");
        if (a.Rank != 4 || a.Shape[1] != Heads || a.Shape[3] != HeadDim)
            throw new ShapeMismatchException($"MultiHeadAttention.Output: expected (B, {Heads}, T, {HeadDim}), got {Shapes.Format(a.Shape)}");
        int b = a.Shape[0], t = a.Shape[2];
        return proj.Forward(a.Transpose(1, 2).Reshape(b, t, Width));
    }

    /// <summary>
    /// Joint attention (SD3): the streams' tokens are concatenated into one sequence, every token attends to all
    /// of them, and the result is split back per stream. Each stream is (Q, K, V) of shape (B, H, T_i, D/H);
    /// the result i is (B, H, T_i, D/H).
    /// </summary>
    public static Tensor[] Joint(params (Tensor Q, Tensor K, Tensor V)[] streams)
    {
        if (streams.Length == 0) throw new ArgumentException("MultiHeadAttention.Joint: no streams given");
        if (streams.Length == 1) return [Tensor.Attention(streams[0].Q, streams[0].K, streams[0].V)];
        var q = Tensor.Cat(streams.Select(s => s.Q).ToArray(), 2);
        var k = Tensor.Cat(streams.Select(s => s.K).ToArray(), 2);
        var v = Tensor.Cat(streams.Select(s => s.V).ToArray(), 2);
        var a = Tensor.Attention(q, k, v);                                          // (B, H, ΣT_i, D/H)
        return a.Split(streams.Select(s => s.Q.Shape[2]).ToArray(), 2);
    }
}
