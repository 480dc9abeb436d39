using Engine.Autograd;
using Kernels.Cpu;

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
        var A = MatrixOperand.Of(a, batch);
        var B = MatrixOperand.Of(b, batch);
        int count = Shapes.Numel(batch);
        if (device.IsGpu && y.Numel > 0)
            Gpu.GpuOps.BatchedGemm(A.Source, A.Transposed, A.Ld, A.OffsetOf, B.Source, B.Transposed, B.Ld, B.OffsetOf, y, count, m, n, k);
        var yd = device.IsGpu ? [] : y.Storage.Data;
        var gemm = KernelRegistry.FastGemm;
        for (int i = 0; i < count && !device.IsGpu; i++)
            gemm(A.Transposed, B.Transposed, m, n, k, 1f,
                A.Data.AsSpan(A.OffsetOf(i)), A.Ld, B.Data.AsSpan(B.OffsetOf(i)), B.Ld, 0f, yd.AsSpan(i * m * n, m * n), n);
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
        if (device.IsGpu || x.Shape[1] == 0) return MatMul(x, weight.T) + bias;
        int rows = x.Shape[0], inF = x.Shape[1], outF = weight.Shape[0];
        var xc = x.Contiguous(); var w = weight.Contiguous(); var b = bias.Contiguous();
        var y = Uninitialized([rows, outF], device);
        var yd = y.Span; var bd = b.Span;
        for (int r = 0; r < rows; r++) bd.CopyTo(yd.Slice(r * outF, outF));
        KernelRegistry.FastGemm(false, true, rows, outF, inF, 1f, xc.Span, inF, w.Span, inF, 1f, yd, outF);
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
    /// One operand of a batched GEMM: storage, per-batch offsets, and whether each matrix is stored row-major
    /// or transposed (so a .T view reaches the kernel as a flag, not a copy).
    /// </summary>
    sealed class MatrixOperand
    {
        public required Tensor Source;
        public float[] Data => Source.Storage.Data;
        public required bool Transposed;
        public required int Ld;
        public required int[] BatchStrides;
        public required int Offset;
        public required int[] Batch;

        public static MatrixOperand Of(Tensor t, int[] batch)
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
            return new MatrixOperand
            {
                Source = t,
                Transposed = !rowMajor,
                Ld = rowMajor ? Math.Max(cols, t.Strides[^2]) : Math.Max(rows, t.Strides[^1]),
                BatchStrides = full.Strides[..^2],
                Offset = full.Offset,
                Batch = batch,
            };
        }

        public int OffsetOf(int flatBatch)
        {
            int o = Offset;
            for (int d = Batch.Length - 1; d >= 0; d--) { o += flatBatch % Batch[d] * BatchStrides[d]; flatBatch /= Batch[d]; }
            return o;
        }
    }
}
