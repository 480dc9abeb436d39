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
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f) =>
        GroupRows("GroupNorm", x, groups, weight, bias, eps, silu: false);

    /// <summary>
    /// <see cref="GroupNorm"/> followed by SiLU, as one op: each row is activated while still in cache, and backward
    /// recomputes the activation's input from x, so neither the normalised tensor nor its gradient is stored.
    /// </summary>
    /// <example><c>var h = Tensor.GroupNormSilu(x, 8, gamma, beta);   // = Tensor.GroupNorm(x, 8, gamma, beta).Silu()</c></example>
    public static Tensor GroupNormSilu(Tensor x, int groups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f) =>
        GroupRows("GroupNormSilu", x, groups, weight, bias, eps, silu: true);

    /// <summary>(N, C, ...) as N·G rows of C/G·S values, checked, then normalised (and activated with <paramref name="silu"/>).</summary>
    static Tensor GroupRows(string op, Tensor x, int groups, Tensor? weight, Tensor? bias, float eps, bool silu)
    {
        if (x.Rank < 2) throw new ShapeMismatchException($"{op}: input must be (N, C, ...), got {Shapes.Format(x.Shape)}");
        int n = x.Shape[0], c = x.Shape[1];
        if (groups < 1 || c % groups != 0)
            throw new ShapeMismatchException($"{op}: {groups} groups do not divide the {c} channels of input {Shapes.Format(x.Shape)}");
        CheckAffine(op, x, weight, bias, c);
        int spatial = n * c == 0 ? 0 : x.Numel / (n * c);
        return NormalizeRows(op, x, n * groups, c / groups * spatial, groups, spatial, weight, bias, eps, center: true, $"groups={groups}, eps={eps}", silu);
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
    /// of row r is (r mod groups)·(len / spatial) + j / spatial, and SiLU when <paramref name="silu"/>. Forward saves
    /// each row's mean and rstd for backward.
    /// </summary>
    static Tensor NormalizeRows(string op, Tensor x, int rows, int len, int groups, int spatial, Tensor? weight, Tensor? bias, float eps, bool center, string attrs,
        bool silu = false)
    {
        Device.Common(op, [x, .. new[] { weight, bias }.OfType<Tensor>()]);
        if (rows > 0 && len == 0) throw new ShapeMismatchException($"{op}: cannot normalise empty rows of {Shapes.Format(x.Shape)}");
        var xc = x.Contiguous(); var wc = weight?.Contiguous(); var bc = bias?.Contiguous();
        var backend = x.Backend;
        var mean = Uninitialized([rows], x.Device); var rstd = Uninitialized([rows], x.Device);
        var y = Uninitialized(x.Shape, x.Device);                                    // every element written
        if (rows > 0) backend.RowNormForward(rows, len, groups, spatial, eps, center, silu, xc, wc, bc, y, mean, rstd);
        Tensor[] inputs = [xc, .. new[] { wc, bc }.OfType<Tensor>()];
        return Backprop.Record(op, y, inputs, g =>
        {
            var dx = xc.RequiresGrad ? Uninitialized(xc.Shape, xc.Device) : null;   // the kernels overwrite dx
            var dw = wc is { RequiresGrad: true } ? Zeros(wc.Shape, xc.Device) : null;
            var db = bc is { RequiresGrad: true } ? Zeros(bc.Shape, xc.Device) : null;
            if (rows > 0) backend.RowNormBackward(rows, len, groups, spatial, center, silu, xc, wc, bc, mean, rstd, g.Contiguous(), dx, dw, db);
            if (dx is not null) Backprop.AccumulateFresh(xc, dx);
            if (dw is not null) Backprop.AccumulateFresh(wc!, dw);
            if (db is not null) Backprop.AccumulateFresh(bc!, db);
        }, attrs);
    }
}
