using Engine.Autograd;

namespace Engine;

// Matrix multiply over the last two axes, batched and broadcast over the leading ones:
// (..., M, K) @ (..., K, N) -> (..., M, N).
public sealed partial class Tensor
{
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        var device = Device.Common("MatMul", a, b);
        if (a.Rank < 2 || b.Rank < 2)
            throw new ShapeMismatchException($"MatMul: both operands need rank ≥ 2, got {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)} (use Unsqueeze for vectors)");
        int m = a.Shape[^2], k = a.Shape[^1], n = b.Shape[^1];
        if (b.Shape[^2] != k)
            throw new ShapeMismatchException($"MatMul: inner sizes differ: {Shapes.Format(a.Shape)} @ {Shapes.Format(b.Shape)} ({k} vs {b.Shape[^2]})");
        var batch = Shapes.Broadcast("MatMul", a.Shape[..^2], b.Shape[..^2]);
        var y = k > 0 ? Uninitialized([.. batch, m, n], device) : Zeros([.. batch, m, n], device);   // the GEMM (β = 0) writes every element
        int count = Shapes.Numel(batch);
        if (y.Numel > 0) device.Backend.BatchedGemm(Operand(a, batch, count), Operand(b, batch, count), y, count, m, n, k);
        return Backprop.Record("MatMul", y, [a, b], g =>
        {
            if (a.RequiresGrad) Backprop.Accumulate(a, MatMul(g, b.T));
            if (b.RequiresGrad) Backprop.Accumulate(b, MatMul(a.T, g));
        }, $"{m}×{k} @ {k}×{n}");
    }

    /// <summary>
    /// x·Wᵀ + b for x (N, in), W (out, in), b (out): a fully connected layer as one op. On the CPU the bias is written
    /// into the output rows first and the GEMM adds the product onto it (β = 1), so the bias costs no extra pass over
    /// the output nor a temporary; the backward gives dx = g·W, dW = gᵀ·x, db = Σ_rows g.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor bias)
    {
        var device = Device.Common("Linear", x, weight, bias);
        if (x.Rank != 2 || weight.Rank != 2 || bias.Rank != 1 || x.Shape[1] != weight.Shape[1] || bias.Shape[0] != weight.Shape[0])
            throw new ShapeMismatchException($"Linear: expected x (N, in), weight (out, in), bias (out), got {Shapes.Format(x.Shape)}, {Shapes.Format(weight.Shape)}, {Shapes.Format(bias.Shape)}");
        if (x.Shape[1] == 0) return MatMul(x, weight.T) + bias;
        int rows = x.Shape[0], inF = x.Shape[1], outF = weight.Shape[0];
        var xc = x.Contiguous(); var w = weight.Contiguous(); var b = bias.Contiguous();
        var y = device.Backend.Linear(xc, w, b);
        return Backprop.Record("Linear", y, [xc, w, b], g =>
        {
            if (xc.RequiresGrad) Backprop.Accumulate(xc, MatMul(g, w));
            if (w.RequiresGrad) Backprop.Accumulate(w, MatMul(g.T, xc));
            if (b.RequiresGrad) Backprop.Accumulate(b, g.Sum(0));
        }, $"{rows}×{inF} → {outF}");
    }

    /// <summary>Shorthand for <see cref="MatMul(Tensor, Tensor)"/>.</summary>
    public Tensor MatMul(Tensor other) => MatMul(this, other);

    /// <summary>
    /// One operand of a batched GEMM: its storage, per-batch offsets, and whether each matrix is stored row-major or
    /// transposed (so a .T view reaches the kernel as a flag, not a copy). Other layouts are copied contiguous first.
    /// </summary>
    static Backends.GemmOperand Operand(Tensor t, int[] batch, int count)
    {
        int rows = t.Shape[^2], cols = t.Shape[^1];
        bool rowMajor = t.Strides[^1] == 1 && (t.Strides[^2] == cols || rows == 1);
        bool colMajor = !rowMajor && t.Strides[^2] == 1 && (t.Strides[^1] == rows || cols == 1);
        if (!rowMajor && !colMajor)
        {
            using var _ = GradMode.NoGrad();
            t = t.Detach().Contiguous();
            rowMajor = true;
        }
        var full = t.Detach().Expand([.. batch, rows, cols]);
        var batchStrides = full.Strides[..^2];
        var offsets = new int[count];
        for (int i = 0; i < count; i++)
        {
            int o = full.Offset, flat = i;
            for (int d = batch.Length - 1; d >= 0; d--) { o += flat % batch[d] * batchStrides[d]; flat /= batch[d]; }
            offsets[i] = o;
        }
        return new Backends.GemmOperand(t, !rowMajor, rowMajor ? Math.Max(cols, t.Strides[^2]) : Math.Max(rows, t.Strides[^1]), offsets);
    }
}
