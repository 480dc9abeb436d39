namespace Kernels.Cpu;

/// <summary>
/// Normalisation over rows: every norm of the engine is "normalise each row, then scale and shift". A row is
/// the set of values sharing one mean and variance — a (sample, group) for GroupNorm, a token for LayerNorm
/// and RMSNorm, a channel for BatchNorm. The affine parameter of element e of row r is
/// <c>(r mod groups)·(rowLen/segment) + e/segment</c>: with segment = H·W that is the channel of GroupNorm;
/// with segment 1 and groups 1 it is LayerNorm's per-feature index. Statistics accumulate in double.
/// Forward saves mean and rstd per row (llm.c's layernorm); backward uses them instead of recomputing.
/// </summary>
public static class Norm
{
    /// <param name="rms">RMSNorm: no centring, rstd = 1/√(mean(x²) + eps).</param>
    public static void Forward(int rows, int rowLen, int groups, int segment, float eps, bool rms,
        ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y, Span<float> mean, Span<float> rstd)
    {
        Check(rows, rowLen, groups, segment, x.Length, y.Length, mean.Length, rstd.Length);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * rowLen, rowLen);
            double m = 0;
            if (!rms) { foreach (var v in xr) m += v; m /= rowLen; }
            double var = 0;
            foreach (var v in xr) var += (v - m) * (v - m);
            var /= rowLen;
            float mu = (float)m, rs = (float)(1 / Math.Sqrt(var + eps));
            mean[r] = mu; rstd[r] = rs;
            var yr = y.Slice(r * rowLen, rowLen);
            int pBase = (r % groups) * (rowLen / segment);
            for (int e = 0; e < rowLen; e++)
            {
                float xhat = (xr[e] - mu) * rs;
                int p = pBase + e / segment;
                yr[e] = (gamma.IsEmpty ? xhat : xhat * gamma[p]) + (beta.IsEmpty ? 0f : beta[p]);
            }
        }
    }

    /// <summary>
    /// dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with dx̂ = dy·γ (the mean(dx̂) term dropped for RMSNorm);
    /// dγ += Σ dy·x̂ and dβ += Σ dy per parameter. Overwrites dx; accumulates into dgamma/dbeta.
    /// </summary>
    public static void Backward(int rows, int rowLen, int groups, int segment, bool rms,
        ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, ReadOnlySpan<float> dy,
        Span<float> dx, Span<float> dgamma, Span<float> dbeta)
    {
        Check(rows, rowLen, groups, segment, x.Length, dx.Length, mean.Length, rstd.Length);
        int paramCount = groups * (rowLen / segment);
        var dg = new double[dgamma.IsEmpty ? 0 : paramCount];
        var db = new double[dbeta.IsEmpty ? 0 : paramCount];
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * rowLen, rowLen);
            var dyr = dy.Slice(r * rowLen, rowLen);
            float mu = mean[r], rs = rstd[r];
            int pBase = (r % groups) * (rowLen / segment);
            double sumD = 0, sumDX = 0;
            for (int e = 0; e < rowLen; e++)
            {
                int p = pBase + e / segment;
                double xhat = (xr[e] - mu) * rs;
                double d = gamma.IsEmpty ? dyr[e] : (double)dyr[e] * gamma[p];
                sumD += d; sumDX += d * xhat;
                if (dg.Length > 0) dg[p] += dyr[e] * xhat;
                if (db.Length > 0) db[p] += dyr[e];
            }
            double meanD = rms ? 0 : sumD / rowLen, meanDX = sumDX / rowLen;
            var dxr = dx.Slice(r * rowLen, rowLen);
            for (int e = 0; e < rowLen; e++)
            {
                int p = pBase + e / segment;
                double xhat = (xr[e] - mu) * rs;
                double d = gamma.IsEmpty ? dyr[e] : (double)dyr[e] * gamma[p];
                dxr[e] = (float)(rs * (d - meanD - xhat * meanDX));
            }
        }
        for (int p = 0; p < dg.Length; p++) dgamma[p] += (float)dg[p];
        for (int p = 0; p < db.Length; p++) dbeta[p] += (float)db[p];
    }

    static void Check(int rows, int rowLen, int groups, int segment, int xLen, int yLen, int meanLen, int rstdLen)
    {
        if (rows < 0 || rowLen < 1 || groups < 1 || segment < 1 || rowLen % segment != 0)
            throw new ArgumentException($"Norm: invalid layout rows={rows}, rowLen={rowLen}, groups={groups}, segment={segment}");
        if (xLen < rows * rowLen || yLen < rows * rowLen || meanLen < rows || rstdLen < rows)
            throw new ArgumentException($"Norm: buffers too small for {rows}×{rowLen}");
    }
}
