using Engine.Autograd;

namespace Engine;

// Group, layer and RMS normalisation share one fused kernel: the input is cut into rows that are normalised
// on their own (llm.c style: forward saves each row's mean and rstd, backward reuses them), then scaled and
// shifted per channel. N batch, C channels, G groups, S spatial size (H·W), D last-axis width.
public sealed partial class Tensor
{
    /// <summary>
    /// Group normalisation of <paramref name="x"/> (N, C, ...): the C/G channels of each group and all spatial
    /// positions share one mean and variance; then y·weight[c] + bias[c] with (C) affine parameters if given.
    /// </summary>
    /// <example><c>var y = Tensor.GroupNorm(x, 32, gamma, beta);</c></example>
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        const string op = "GroupNorm";
        if (x.Rank < 2) throw new ShapeMismatchException($"{op}: input must be (N, C, ...), got {Shapes.Format(x.Shape)}");
        int n = x.Shape[0], c = x.Shape[1];
        if (groups < 1 || c % groups != 0)
            throw new ShapeMismatchException($"{op}: {groups} groups do not divide the {c} channels of input {Shapes.Format(x.Shape)}");
        CheckAffine(op, x, weight, bias, c);
        int spatial = n * c == 0 ? 0 : x.Numel / (n * c);
        return NormalizeRows(op, x, n * groups, c / groups * spatial, groups, spatial, weight, bias, eps, center: true, $"groups={groups}, eps={eps}");
    }

    /// <summary>Layer normalisation over the last axis (width D), with optional (D) weight and bias.</summary>
    public static Tensor LayerNorm(Tensor x, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        const string op = "LayerNorm";
        if (x.Rank < 1) throw new ShapeMismatchException($"{op}: input must have at least one axis, got a scalar");
        int d = x.Shape[^1];
        CheckAffine(op, x, weight, bias, d);
        return NormalizeRows(op, x, d == 0 ? 0 : x.Numel / d, d, 1, 1, weight, bias, eps, center: true, $"eps={eps}");
    }

    /// <summary>RMS normalisation over the last axis: x / sqrt(mean(x²) + eps) · weight, weight (D) optional.</summary>
    public static Tensor RmsNorm(Tensor x, Tensor? weight = null, float eps = 1e-6f)
    {
        const string op = "RmsNorm";
        if (x.Rank < 1) throw new ShapeMismatchException($"{op}: input must have at least one axis, got a scalar");
        int d = x.Shape[^1];
        CheckAffine(op, x, weight, null, d);
        return NormalizeRows(op, x, d == 0 ? 0 : x.Numel / d, d, 1, 1, weight, null, eps, center: false, $"eps={eps}");
    }

    /// <summary>The composed twin of <see cref="GroupNorm"/>, made of Mean, Sub, Sqrt and Div (for tests).</summary>
    public static Tensor GroupNormComposed(Tensor x, int groups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        var xr = x.Reshape(x.Shape[0], groups, -1);                      // (N, G, C/G·S)
        var centered = xr - xr.Mean(2, keepDim: true);
        var y = (centered / (centered.Square().Mean(2, keepDim: true) + eps).Sqrt()).Reshape(x.Shape);
        var channelShape = Enumerable.Repeat(1, x.Rank).ToArray();
        channelShape[1] = x.Shape[1];                                    // (1, C, 1, ...)
        if (weight is not null) y = y * weight.Reshape(channelShape);
        if (bias is not null) y = y + bias.Reshape(channelShape);
        return y;
    }

    /// <summary>The composed twin of <see cref="LayerNorm"/> (for tests).</summary>
    public static Tensor LayerNormComposed(Tensor x, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        var centered = x - x.Mean(-1, keepDim: true);
        var y = centered / (centered.Square().Mean(-1, keepDim: true) + eps).Sqrt();
        if (weight is not null) y = y * weight;
        if (bias is not null) y = y + bias;
        return y;
    }

    /// <summary>The composed twin of <see cref="RmsNorm"/> (for tests).</summary>
    public static Tensor RmsNormComposed(Tensor x, Tensor? weight = null, float eps = 1e-6f)
    {
        var y = x / (x.Square().Mean(-1, keepDim: true) + eps).Sqrt();
        return weight is null ? y : y * weight;
    }

    static void CheckAffine(string op, Tensor x, Tensor? weight, Tensor? bias, int channels) =>
        CheckPerChannel(op, x, channels, ("weight", weight), ("bias", bias));

    /// <summary>Throws unless each given tensor has shape (channels).</summary>
    static void CheckPerChannel(string op, Tensor x, int channels, params (string Name, Tensor? Value)[] tensors)
    {
        foreach (var (name, t) in tensors)
            if (t is not null && (t.Rank != 1 || t.Shape[0] != channels))
                throw new ShapeMismatchException($"{op}: {name} {Shapes.Format(t.Shape)} does not match input {Shapes.Format(x.Shape)}; expected [{channels}]");
    }

    /// <summary>
    /// Normalises each of <paramref name="rows"/> contiguous rows of <paramref name="len"/> values (subtracting the
    /// mean only when <paramref name="center"/>), then applies weight[c] and bias[c], where the channel of element j
    /// of row r is (r mod groups)·(len / spatial) + j / spatial.
    /// </summary>
    static Tensor NormalizeRows(string op, Tensor x, int rows, int len, int groups, int spatial, Tensor? weight, Tensor? bias, float eps, bool center, string attrs)
    {
        Device.Common(op, [x, .. new[] { weight, bias }.OfType<Tensor>()]);
        if (rows > 0 && len == 0) throw new ShapeMismatchException($"{op}: cannot normalise empty rows of {Shapes.Format(x.Shape)}");
        var xc = x.Contiguous(); var wc = weight?.Contiguous(); var bc = bias?.Contiguous();
        var mean = new float[rows]; var rstd = new float[rows];
        int perRow = spatial == 0 ? 0 : len / spatial;
        var y = Zeros(x.Shape);
        {
            var xs = xc.Span; var ys = y.Span;
            ReadOnlySpan<float> ws = wc is null ? default : wc.Span, bs = bc is null ? default : bc.Span;
            for (int r = 0; r < rows; r++)
            {
                var row = xs.Slice(r * len, len);
                double m = 0, v = 0;
                if (center) { foreach (var e in row) m += e; m /= len; }
                foreach (var e in row) v += (e - m) * (e - m);
                float rs = (float)(1.0 / Math.Sqrt(v / len + eps)), mf = (float)m;
                mean[r] = mf; rstd[r] = rs;
                int c0 = r % groups * perRow;
                var yrow = ys.Slice(r * len, len);
                for (int j = 0; j < len; j++)
                {
                    int c = c0 + j / spatial;
                    float xhat = (row[j] - mf) * rs;
                    yrow[j] = xhat * (ws.IsEmpty ? 1f : ws[c]) + (bs.IsEmpty ? 0f : bs[c]);
                }
            }
        }
        Tensor[] inputs = [xc, .. new[] { wc, bc }.OfType<Tensor>()];
        return Backprop.Record(op, y, inputs, g =>
        {
            var gs = g.Span; var xs = xc.Span;
            ReadOnlySpan<float> ws = wc is null ? default : wc.Span;
            var dx = xc.RequiresGrad ? Zeros(xc.Shape) : null;
            var dw = wc is null ? null : new double[wc.Numel];
            var db = bc is null ? null : new double[bc.Numel];
            for (int r = 0; r < rows; r++)
            {
                int c0 = r % groups * perRow, b = r * len;
                float mf = mean[r], rs = rstd[r];
                double sumD = 0, sumDX = 0;
                for (int j = 0; j < len; j++)
                {
                    int c = c0 + j / spatial;
                    float xhat = (xs[b + j] - mf) * rs, gj = gs[b + j];
                    float dxhat = gj * (ws.IsEmpty ? 1f : ws[c]);
                    sumD += dxhat; sumDX += (double)dxhat * xhat;
                    if (dw is not null) dw[c] += (double)gj * xhat;
                    if (db is not null) db[c] += gj;
                }
                if (dx is null) continue;
                float meanD = center ? (float)(sumD / len) : 0f, meanDX = (float)(sumDX / len);
                var ds = dx.Span;
                for (int j = 0; j < len; j++)
                {
                    int c = c0 + j / spatial;
                    float xhat = (xs[b + j] - mf) * rs;
                    float dxhat = gs[b + j] * (ws.IsEmpty ? 1f : ws[c]);
                    ds[b + j] = rs * (dxhat - meanD - xhat * meanDX);
                }
            }
            if (dx is not null) Backprop.Accumulate(xc, dx);
            if (wc is not null && dw is not null) Backprop.Accumulate(wc, FromDoubles(dw, wc.Shape));
            if (bc is not null && db is not null) Backprop.Accumulate(bc, FromDoubles(db, bc.Shape));
        }, attrs);
    }

    static Tensor FromDoubles(double[] values, int[] shape) => Wrap(values.Select(v => (float)v).ToArray(), shape);
}
