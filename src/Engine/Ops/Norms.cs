using Engine.Autograd;
using Kernels.Cpu;

namespace Engine;

// GroupNorm, LayerNorm, RMSNorm and BatchNorm: one row-normalisation kernel (Kernels/Cpu/Norm.cs) seen
// through different row layouts. Forward saves mean and rstd per row; backward reuses them.
public sealed partial class Tensor
{
    /// <summary>GroupNorm over x (N, C, ...): channels split into <paramref name="groups"/>, each normalised over its channels and positions.</summary>
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        if (x.Rank < 2 || groups < 1 || x.Shape[1] % groups != 0)
            throw new ShapeMismatchException($"GroupNorm: {groups} groups must divide the channels of x (N, C, ...), got {Shapes.Format(x.Shape)}");
        int c = x.Shape[1];
        CheckAffine("GroupNorm", weight, bias, c);
        int spatial = x.Numel / Math.Max(1, x.Shape[0] * c);
        return RowNorm("GroupNorm", x, rows: x.Shape[0] * groups, rowLen: c / groups * spatial, groups, segment: spatial, eps, rms: false, weight, bias);
    }

    /// <summary>LayerNorm over the last axis, with optional elementwise affine (weight and bias of the last axis' size).</summary>
    public static Tensor LayerNorm(Tensor x, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        int d = x.Shape[^1];
        CheckAffine("LayerNorm", weight, bias, d);
        return RowNorm("LayerNorm", x, x.Numel / d, d, 1, 1, eps, rms: false, weight, bias);
    }

    /// <summary>RMSNorm over the last axis: x / √(mean(x²) + eps) · weight.</summary>
    public static Tensor RmsNorm(Tensor x, Tensor? weight = null, float eps = 1e-6f)
    {
        int d = x.Shape[^1];
        CheckAffine("RmsNorm", weight, null, d);
        return RowNorm("RmsNorm", x, x.Numel / d, d, 1, 1, eps, rms: true, weight, null);
    }

    /// <summary>
    /// BatchNorm over x (N, C, ...) with the batch's statistics per channel. Returns also the batch mean and the
    /// unbiased batch variance, for the caller's running averages.
    /// </summary>
    public static (Tensor y, float[] mean, float[] variance) BatchNorm(Tensor x, Tensor? weight, Tensor? bias, float eps = 1e-5f)
    {
        if (x.Rank < 2) throw new ShapeMismatchException($"BatchNorm: expected x (N, C, ...), got {Shapes.Format(x.Shape)}");
        int n = x.Shape[0], c = x.Shape[1], spatial = x.Numel / Math.Max(1, n * c);
        CheckAffine("BatchNorm", weight, bias, c);
        // Channels first, so each channel's N·spatial values form one row.
        var perm = Enumerable.Range(0, x.Rank).ToArray();
        (perm[0], perm[1]) = (perm[1], perm[0]);
        var xc = x.Permute(perm).Reshape(c, n * spatial);
        var y = RowNorm("BatchNorm", xc, c, n * spatial, c, n * spatial, eps, rms: false, weight, bias, out var mean, out var rstd);
        int count = n * spatial;
        var variance = rstd.Select(r => (1f / (r * r) - eps) * count / Math.Max(1, count - 1)).ToArray();
        var shape = (int[])x.Shape.Clone();
        (shape[0], shape[1]) = (shape[1], shape[0]);
        return (y.Reshape(shape).Permute(perm).Contiguous(), mean, variance);
    }

    static void CheckAffine(string op, Tensor? weight, Tensor? bias, int size)
    {
        foreach (var p in new[] { weight, bias })
            if (p is not null && (p.Rank != 1 || p.Shape[0] != size))
                throw new ShapeMismatchException($"{op}: affine parameters must have shape [{size}], got {Shapes.Format(p.Shape)}");
    }

    static Tensor RowNorm(string op, Tensor x, int rows, int rowLen, int groups, int segment, float eps, bool rms, Tensor? weight, Tensor? bias) =>
        RowNorm(op, x, rows, rowLen, groups, segment, eps, rms, weight, bias, out _, out _);

    static Tensor RowNorm(string op, Tensor x, int rows, int rowLen, int groups, int segment, float eps, bool rms, Tensor? weight, Tensor? bias,
        out float[] mean, out float[] rstd)
    {
        Tensor[] inputs = new[] { x, weight, bias }.Where(t => t is not null).ToArray()!;
        Device.Common(op, inputs);
        x = x.Contiguous();
        var w = weight?.Contiguous(); var b = bias?.Contiguous();
        var y = Zeros(x.Shape);
        var mu = mean = new float[rows];
        var rs = rstd = new float[rows];
        Norm.Forward(rows, rowLen, groups, segment, eps, rms, x.Span, w is null ? default : w.Span, b is null ? default : b.Span, y.Span, mu, rs);
        return Backprop.Record(op, y, w is null ? (b is null ? [x] : [x, b]) : (b is null ? [x, w] : [x, w, b]), g =>
        {
            var dx = Zeros(x.Shape);
            var dw = w is null ? null : Zeros(w.Shape);
            var db = b is null ? null : Zeros(b.Shape);
            Norm.Backward(rows, rowLen, groups, segment, rms, x.Span, w is null ? default : w.Span, mu, rs, g.Span, dx.Span,
                dw is null ? default : dw.Span, db is null ? default : db.Span);
            Backprop.Accumulate(x, dx);
            if (w is not null) Backprop.Accumulate(w, dw!);
            if (b is not null) Backprop.Accumulate(b, db!);
        }, $"eps={eps}");
    }
}
