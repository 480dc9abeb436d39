using Engine.Autograd;

namespace Engine;

// Scaled dot-product attention: softmax(Q·Kᵀ·scale)·V over the last two axes, any leading (batch, head) axes.
// Q (..., Tq, D), K and V (..., Tk, D) -> (..., Tq, D).
public sealed partial class Tensor
{
    /// <summary>
    /// Fused attention: the forward never forms the Tq×Tk matrix and saves one log-sum-exp per query; the
    /// backward recomputes the probabilities from it. <paramref name="causal"/> lets query i see keys up to i.
    /// <see cref="AttentionComposed"/> is the same function built from primitives, for checking.
    /// </summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, bool causal = false, float? scale = null)
    {
        var (heads, tq, tk, d) = AttentionShapes("Attention", q, k, v);
        float s = scale ?? 1f / MathF.Sqrt(d);
        q = q.Contiguous(); k = k.Contiguous(); v = v.Contiguous();
        var backend = q.Backend;
        if (d > backend.AttentionMaxHeadDim) return AttentionComposed(q, k, v, causal, s);
        var o = Uninitialized(q.Shape, q.Device);                                  // every variant writes all of O, dQ, dK, dV
        var lse = Uninitialized([heads * tq], q.Device);
        backend.AttentionForward(heads, tq, tk, d, s, causal, q, k, v, o, lse);
        return Backprop.Record("Attention", o, [q, k, v], g =>
        {
            g = g.Contiguous();
            var dq = Uninitialized(q.Shape, q.Device); var dk = Uninitialized(k.Shape, k.Device); var dv = Uninitialized(v.Shape, v.Device);
            backend.AttentionBackward(heads, tq, tk, d, s, causal, q, k, v, o, lse, g, dq, dk, dv);
            Backprop.AccumulateFresh(q, dq); Backprop.AccumulateFresh(k, dk); Backprop.AccumulateFresh(v, dv);
        }, $"Tq={tq}, Tk={tk}, D={d}{(causal ? ", causal" : "")}");
    }

    /// <summary>Attention from primitives: MatMul, a stable softmax through LogSumExp, MatMul. Materialises Tq×Tk.</summary>
    public static Tensor AttentionComposed(Tensor q, Tensor k, Tensor v, bool causal = false, float? scale = null)
    {
        var (_, tq, tk, d) = AttentionShapes("AttentionComposed", q, k, v);
        var scores = MatMul(q, k.T) * (scale ?? 1f / MathF.Sqrt(d));        // (..., Tq, Tk)
        if (causal)
        {
            var allowed = Zeros([tq, tk]);
            for (int i = 0; i < tq; i++)
                for (int j = 0; j < tk; j++) allowed[i, j] = j <= i + (tk - tq) ? 1f : 0f;
            scores = Where(allowed.To(q.Device), scores, Scalar(-1e30f));
        }
        var probs = (scores - scores.LogSumExp(-1, keepDim: true)).Exp();
        return MatMul(probs, v);
    }

    static (int heads, int tq, int tk, int d) AttentionShapes(string op, Tensor q, Tensor k, Tensor v)
    {
        Device.Common(op, q, k, v);
        bool ok = q.Rank >= 2 && k.Rank == q.Rank && v.Rank == q.Rank
            && q.Shape[..^2].SequenceEqual(k.Shape[..^2]) && k.Shape.SequenceEqual(v.Shape) && q.Shape[^1] == k.Shape[^1];
        if (!ok || k.Shape[^2] == 0)
            throw new ShapeMismatchException($"{op}: expected Q (..., Tq, D), K and V (..., Tk, D) with the same leading axes, got Q {Shapes.Format(q.Shape)}, K {Shapes.Format(k.Shape)}, V {Shapes.Format(v.Shape)}");
        return (Shapes.Numel(q.Shape.AsSpan(0, q.Rank - 2)), q.Shape[^2], k.Shape[^2], q.Shape[^1]);
    }
}
