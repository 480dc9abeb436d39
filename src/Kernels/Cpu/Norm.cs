namespace Kernels.Cpu;

/// <summary>
/// The signature of every row-normalisation forward variant (group, layer and RMS norm; see <see cref="Norm"/>).
/// Writes y and each row's mean (0 when not <paramref name="center"/>) and reciprocal standard deviation.
/// </summary>
public delegate void RowNormForwardKernel(int rows, int len, int groups, int spatial, float eps, bool center,
    ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, Span<float> mean, Span<float> rstd);

/// <summary>
/// The signature of every row-normalisation backward variant. Overwrites dx, dweight and dbias; an empty span
/// is not computed (pass <c>default</c> for gradients that are not needed).
/// </summary>
public delegate void RowNormBackwardKernel(int rows, int len, int groups, int spatial, bool center,
    ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, ReadOnlySpan<float> dy,
    Span<float> dx, Span<float> dweight, Span<float> dbias);

/// <summary>
/// The signature of every backward variant of a row norm followed by SiLU, y = silu(x̂·w + b) (the forward has the
/// row-norm signature, <see cref="RowNormForwardKernel"/>). The activation's input is recomputed from x, the saved
/// statistics, weight and bias, so the forward keeps nothing but them. Overwrites dx, dweight and dbias; an empty
/// span is not computed.
/// </summary>
public delegate void RowNormSiluBackwardKernel(int rows, int len, int groups, int spatial, bool center,
    ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
    ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias);

/// <summary>The signature of every batch-norm statistics variant: per-channel mean and biased variance of (N, C, S) input.</summary>
public delegate void BatchNormStatsKernel(int n, int c, int s, ReadOnlySpan<float> x, Span<float> mean, Span<float> variance);

/// <summary>The signature of every batch-norm forward variant: y = (x − mean[c])·rstd[c]·weight[c] + bias[c] over (N, C, S).</summary>
public delegate void BatchNormForwardKernel(int n, int c, int s, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
    ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y);

/// <summary>
/// The signature of every batch-norm backward variant. With <paramref name="training"/> the statistics depend on x
/// (dx = rstd·w·(g − mean(g) − x̂·mean(g·x̂))); otherwise they are constants (dx = rstd·w·g). Empty outputs are skipped.
/// </summary>
public delegate void BatchNormBackwardKernel(int n, int c, int s, bool training, ReadOnlySpan<float> x, ReadOnlySpan<float> mean,
    ReadOnlySpan<float> rstd, ReadOnlySpan<float> weight, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias);

/// <summary>
/// Normalisation kernels, reference versions (the SIMD ones are in <see cref="NormSimd"/>).
/// <para>
/// Row norm: x is <c>rows</c> contiguous rows of <c>len</c> values, each normalised on its own (subtracting the mean
/// only when <c>center</c>, so RMS norm is the uncentered case), then scaled and shifted per channel: element j of
/// row r belongs to channel (r mod groups)·(len / spatial) + j / spatial. GroupNorm of (N, C, S) is
/// rows = N·G, len = C/G·S, spatial = S; LayerNorm and RMSNorm of (…, D) are rows = numel/D, len = D, groups = spatial = 1.
/// weight and bias have groups·len/spatial entries, or are empty for 1 and 0.
/// </para>
/// <para>Batch norm: x is (N, C, S) and each channel c is normalised over its N·S values.</para>
/// </summary>
public static class Norm
{
    /// <summary>Two passes per row in double (mean, then variance of the deviations); readable and slow.</summary>
    public static void RowForwardReference(int rows, int len, int groups, int spatial, float eps, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, Span<float> mean, Span<float> rstd)
    {
        int perRow = CheckRow("RowNormForward", rows, len, groups, spatial, x.Length, weight.Length, bias.Length, y.Length, mean.Length, rstd.Length);
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * len, len);
            double m = 0, v = 0;
            if (center) { foreach (var e in row) m += e; m /= len; }
            foreach (var e in row) v += (e - m) * (e - m);
            double rs = 1.0 / Math.Sqrt(v / len + eps);
            mean[r] = (float)m; rstd[r] = (float)rs;
            int c0 = r % groups * perRow;
            for (int j = 0; j < len; j++)
            {
                int c = c0 + j / spatial;
                double xhat = (row[j] - m) * rs;
                y[r * len + j] = (float)(xhat * (weight.IsEmpty ? 1.0 : weight[c]) + (bias.IsEmpty ? 0.0 : bias[c]));
            }
        }
    }

    /// <summary>
    /// dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with dx̂ = g·w (the mean term only when centered);
    /// dweight[c] = Σ g·x̂, dbias[c] = Σ g over the elements of channel c. All sums in double.
    /// </summary>
    public static void RowBackwardReference(int rows, int len, int groups, int spatial, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, ReadOnlySpan<float> dy,
        Span<float> dx, Span<float> dweight, Span<float> dbias)
    {
        int perRow = CheckRow("RowNormBackward", rows, len, groups, spatial, x.Length, weight.Length, 0, dy.Length, mean.Length, rstd.Length);
        CheckGradients("RowNormBackward", rows * len, groups * perRow, dx.Length, dweight.Length, dbias.Length);
        var dw = new double[groups * perRow];
        var db = new double[groups * perRow];
        for (int r = 0; r < rows; r++)
        {
            int c0 = r % groups * perRow, b = r * len;
            double m = mean[r], rs = rstd[r], sumD = 0, sumDX = 0;
            for (int j = 0; j < len; j++)
            {
                int c = c0 + j / spatial;
                double xhat = (x[b + j] - m) * rs, g = dy[b + j];
                double dxhat = g * (weight.IsEmpty ? 1.0 : weight[c]);
                sumD += dxhat; sumDX += dxhat * xhat;
                dw[c] += g * xhat; db[c] += g;
            }
            if (dx.IsEmpty) continue;
            double meanD = center ? sumD / len : 0, meanDX = sumDX / len;
            for (int j = 0; j < len; j++)
            {
                int c = c0 + j / spatial;
                double xhat = (x[b + j] - m) * rs;
                double dxhat = dy[b + j] * (weight.IsEmpty ? 1.0 : weight[c]);
                dx[b + j] = (float)(rs * (dxhat - meanD - xhat * meanDX));
            }
        }
        for (int c = 0; c < dweight.Length; c++) dweight[c] = (float)dw[c];
        for (int c = 0; c < dbias.Length; c++) dbias[c] = (float)db[c];
    }

    /// <summary>The row norm, then SiLU of each output (y·σ(y), in double).</summary>
    public static void RowForwardSiluReference(int rows, int len, int groups, int spatial, float eps, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, Span<float> mean, Span<float> rstd)
    {
        RowForwardReference(rows, len, groups, spatial, eps, center, x, weight, bias, y, mean, rstd);
        for (long i = 0; i < (long)rows * len; i++) y[(int)i] = (float)(y[(int)i] / (1.0 + Math.Exp(-y[(int)i])));
    }

    /// <summary>
    /// dz = dy·silu′(z) with z = x̂·w + b recomputed in double and silu′(z) = σ(z)·(1 + z·(1 − σ(z))), then the row-norm
    /// backward of dz.
    /// </summary>
    public static void RowBackwardSiluReference(int rows, int len, int groups, int spatial, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias)
    {
        int perRow = CheckRow("RowNormSiluBackward", rows, len, groups, spatial, x.Length, weight.Length, bias.Length, dy.Length, mean.Length, rstd.Length);
        var dz = new float[rows * len];
        for (int r = 0; r < rows; r++)
            for (int j = 0, c0 = r % groups * perRow; j < len; j++)
            {
                int c = c0 + j / spatial, i = r * len + j;
                double z = (x[i] - (double)mean[r]) * rstd[r] * (weight.IsEmpty ? 1.0 : weight[c]) + (bias.IsEmpty ? 0.0 : bias[c]);
                double sig = 1.0 / (1.0 + Math.Exp(-z));
                dz[i] = (float)(dy[i] * sig * (1.0 + z * (1.0 - sig)));
            }
        RowBackwardReference(rows, len, groups, spatial, center, x, weight, mean, rstd, dz, dx, dweight, dbias);
    }

    /// <summary>Per-channel mean and biased variance over the batch and the plane, two passes in double.</summary>
    public static void BatchStatsReference(int n, int c, int s, ReadOnlySpan<float> x, Span<float> mean, Span<float> variance)
    {
        CheckBatch("BatchNormStats", n, c, s, x.Length, mean.Length, variance.Length, 0, 0, x.Length);
        long count = (long)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0, sq = 0;
            for (int i = 0; i < n; i++) foreach (var e in x.Slice((i * c + ch) * s, s)) sum += e;
            double m = sum / count;
            for (int i = 0; i < n; i++) foreach (var e in x.Slice((i * c + ch) * s, s)) sq += (e - m) * (e - m);
            mean[ch] = (float)m; variance[ch] = (float)(sq / count);
        }
    }

    /// <summary>y = (x − mean[c])·rstd[c]·weight[c] + bias[c], in double.</summary>
    public static void BatchForwardReference(int n, int c, int s, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y)
    {
        CheckBatch("BatchNormForward", n, c, s, x.Length, mean.Length, rstd.Length, weight.Length, bias.Length, y.Length);
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0, b = (i * c + ch) * s; j < s; j++)
                    y[b + j] = (float)((x[b + j] - (double)mean[ch]) * rstd[ch] * (weight.IsEmpty ? 1.0 : weight[ch]) + (bias.IsEmpty ? 0.0 : bias[ch]));
    }

    /// <summary>dweight[c] = Σ g·x̂, dbias[c] = Σ g, dx as in <see cref="BatchNormBackwardKernel"/>; sums in double.</summary>
    public static void BatchBackwardReference(int n, int c, int s, bool training, ReadOnlySpan<float> x, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, ReadOnlySpan<float> weight, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias)
    {
        CheckBatch("BatchNormBackward", n, c, s, x.Length, mean.Length, rstd.Length, weight.Length, 0, dy.Length);
        CheckGradients("BatchNormBackward", x.Length, c, dx.Length, dweight.Length, dbias.Length);
        long count = (long)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double w = weight.IsEmpty ? 1.0 : weight[ch], m = mean[ch], rs = rstd[ch], sumG = 0, sumGX = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0, b = (i * c + ch) * s; j < s; j++) { sumG += dy[b + j]; sumGX += dy[b + j] * (x[b + j] - m) * rs; }
            if (!dweight.IsEmpty) dweight[ch] = (float)sumGX;
            if (!dbias.IsEmpty) dbias[ch] = (float)sumG;
            if (dx.IsEmpty) continue;
            double meanG = training ? sumG / count : 0, meanGX = training ? sumGX / count : 0;
            for (int i = 0; i < n; i++)
                for (int j = 0, b = (i * c + ch) * s; j < s; j++)
                    dx[b + j] = (float)(rs * w * (dy[b + j] - meanG - (x[b + j] - m) * rs * meanGX));
        }
    }

    /// <summary>Validates row-norm sizes and returns the channels per row (len / spatial).</summary>
    internal static int CheckRow(string op, int rows, int len, int groups, int spatial, int xLen, int wLen, int bLen, int yLen, int meanLen, int rstdLen)
    {
        if (rows < 0 || len < 1 || groups < 1 || spatial < 1 || len % spatial != 0)
            throw new ArgumentException($"{op}: rows {rows}, len {len}, groups {groups}, spatial {spatial}: expected rows ≥ 0, groups ≥ 1 and len a positive multiple of spatial");
        int perRow = len / spatial;
        long numel = (long)rows * len;
        if (xLen < numel || yLen < numel) throw new ArgumentException($"{op}: x ({xLen}) and y/dy ({yLen}) must hold rows·len = {numel} values");
        if (meanLen < rows || rstdLen < rows) throw new ArgumentException($"{op}: mean ({meanLen}) and rstd ({rstdLen}) must hold {rows} rows");
        int channels = groups * perRow;
        if ((wLen != 0 && wLen < channels) || (bLen != 0 && bLen < channels))
            throw new ArgumentException($"{op}: weight ({wLen}) and bias ({bLen}) must be empty or hold {channels} channels");
        return perRow;
    }

    internal static void CheckBatch(string op, int n, int c, int s, int xLen, int meanLen, int rstdLen, int wLen, int bLen, int yLen)
    {
        if (n < 0 || c < 0 || s < 0) throw new ArgumentException($"{op}: sizes n {n}, c {c}, s {s} must not be negative");
        long numel = (long)n * c * s;
        if (xLen < numel || yLen < numel) throw new ArgumentException($"{op}: x ({xLen}) and y ({yLen}) must hold n·c·s = {numel} values");
        if (meanLen < c || rstdLen < c) throw new ArgumentException($"{op}: per-channel statistics ({meanLen}, {rstdLen}) must hold {c} channels");
        if ((wLen != 0 && wLen < c) || (bLen != 0 && bLen < c)) throw new ArgumentException($"{op}: weight ({wLen}) and bias ({bLen}) must be empty or hold {c} channels");
    }

    internal static void CheckGradients(string op, long numel, int channels, int dxLen, int dwLen, int dbLen)
    {
        if (dxLen != 0 && dxLen < numel) throw new ArgumentException($"{op}: dx ({dxLen}) must be empty or hold {numel} values");
        if ((dwLen != 0 && dwLen < channels) || (dbLen != 0 && dbLen < channels))
            throw new ArgumentException($"{op}: dweight ({dwLen}) and dbias ({dbLen}) must be empty or hold {channels} channels");
    }
}
