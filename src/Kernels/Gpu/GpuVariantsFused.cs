using Kernels.Cpu;

namespace Kernels.Gpu;

/// <summary>
/// The span-signature GPU variants of the batch-norm, fused norm + SiLU and modulation kernels, beside the CPU
/// variants of the same delegates (so <see cref="KernelRegistry"/> can list them and the tests and the race check
/// and time them the same way). Each call uploads, runs and downloads, as the other variants.
/// </summary>
public sealed partial class GpuVariants
{
    Variant<BatchNormStatsKernel>? batchNormStats;
    Variant<BatchNormForwardKernel>? batchNormForward;
    Variant<BatchNormBackwardKernel>? batchNormBackward;
    Variant<RowNormForwardKernel>? rowNormSiluForward;
    Variant<RowNormSiluBackwardKernel>? rowNormSiluBackward;
    Variant<ModulateKernel>? modulate;
    Variant<ModulateBackwardKernel>? modulateBackward;
    Variant<GatedAddKernel>? gatedAdd;
    Variant<GatedAddBackwardKernel>? gatedAddBackward;

    public Variant<BatchNormStatsKernel> BatchNormStats => batchNormStats ??= new(Name, RunBatchNormStats);
    public Variant<BatchNormForwardKernel> BatchNormForward => batchNormForward ??= new(Name, RunBatchNormForward);
    public Variant<BatchNormBackwardKernel> BatchNormBackward => batchNormBackward ??= new(Name, RunBatchNormBackward);
    public Variant<RowNormForwardKernel> RowNormSiluForward => rowNormSiluForward ??= new(Name, RunRowNormSiluForward);
    public Variant<RowNormSiluBackwardKernel> RowNormSiluBackward => rowNormSiluBackward ??= new(Name, RunRowNormSiluBackward);
    public Variant<ModulateKernel> Modulate => modulate ??= new(Name, RunModulate);
    public Variant<ModulateBackwardKernel> ModulateBackward => modulateBackward ??= new(Name, RunModulateBackward);
    public Variant<GatedAddKernel> GatedAdd => gatedAdd ??= new(Name, RunGatedAdd);
    public Variant<GatedAddBackwardKernel> GatedAddBackward => gatedAddBackward ??= new(Name, RunGatedAddBackward);

    void RunBatchNormStats(int n, int c, int s, ReadOnlySpan<float> x, Span<float> mean, Span<float> variance)
    {
        int len = n * c * s;
        using var bx = Upload(x[..len]); using var bm = Zeroed(c); using var bv = Zeroed(c);
        Kernels.BatchNormStats(n, c, s, View(bx, len), View(bm, c), View(bv, c));
        Download(bm, mean[..c]); Download(bv, variance[..c]);
    }

    void RunBatchNormForward(int n, int c, int s, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y)
    {
        int len = n * c * s;
        using var bx = Upload(x[..len]); using var bm = Upload(mean[..c]); using var br = Upload(rstd[..c]);
        using var bw = Upload(weight); using var bb = Upload(bias); using var by = Zeroed(len);
        Kernels.BatchNormForward(n, c, s, View(bx, len), View(bm, c), View(br, c), View(bw, weight.Length), View(bb, bias.Length), View(by, len));
        Download(by, y[..len]);
    }

    void RunBatchNormBackward(int n, int c, int s, bool training, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> weight, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias)
    {
        int len = n * c * s;
        using var bx = Upload(x[..len]); using var bm = Upload(mean[..c]); using var br = Upload(rstd[..c]); using var bw = Upload(weight);
        using var bg = Upload(dy[..len]); using var bdx = Zeroed(dx.Length); using var bdw = Zeroed(dweight.Length); using var bdb = Zeroed(dbias.Length);
        Kernels.BatchNormBackward(n, c, s, training, View(bx, len), View(bm, c), View(br, c), View(bw, weight.Length), View(bg, len),
            View(bdx, dx.Length), View(bdw, dweight.Length), View(bdb, dbias.Length));
        Download(bdx, dx); Download(bdw, dweight); Download(bdb, dbias);
    }

    void RunRowNormSiluForward(int rows, int len, int groups, int spatial, float eps, bool center,
        ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, Span<float> mean, Span<float> rstd)
    {
        int n = rows * len;
        using var bx = Upload(x[..n]); using var bw = Upload(weight); using var bb = Upload(bias);
        using var by = Zeroed(n); using var bm = Zeroed(rows); using var br = Zeroed(rows);
        Kernels.RowNormSiluForward(rows, len, groups, spatial, eps, center, View(bx, n), View(bw, weight.Length), View(bb, bias.Length),
            View(by, n), View(bm, rows), View(br, rows));
        Download(by, y[..n]); Download(bm, mean[..rows]); Download(br, rstd[..rows]);
    }

    void RunRowNormSiluBackward(int rows, int len, int groups, int spatial, bool center, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> bias, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias)
    {
        int n = rows * len;
        using var bx = Upload(x[..n]); using var bw = Upload(weight); using var bb = Upload(bias); using var bm = Upload(mean[..rows]);
        using var br = Upload(rstd[..rows]); using var bg = Upload(dy[..n]);
        using var bdx = Zeroed(dx.Length); using var bdw = Zeroed(dweight.Length); using var bdb = Zeroed(dbias.Length);
        Kernels.RowNormSiluBackward(rows, len, groups, spatial, center, View(bx, n), View(bw, weight.Length), View(bb, bias.Length), View(bm, rows),
            View(br, rows), View(bg, n), View(bdx, dx.Length), View(bdw, dweight.Length), View(bdb, dbias.Length));
        Download(bdx, dx); Download(bdw, dweight); Download(bdb, dbias);
    }

    void RunModulate(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> shift, ReadOnlySpan<float> scale, Span<float> y)
    {
        int n = batch * tokens * width, m = batch * width;
        using var bx = Upload(x[..n]); using var bh = Upload(shift[..m]); using var bs = Upload(scale[..m]); using var by = Zeroed(n);
        Kernels.Modulate(batch, tokens, width, View(bx, n), View(bh, m), View(bs, m), View(by, n));
        Download(by, y[..n]);
    }

    void RunModulateBackward(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> g,
        Span<float> dx, Span<float> dshift, Span<float> dscale)
    {
        int n = batch * tokens * width, m = batch * width;
        using var bx = Upload(x[..n]); using var bs = Upload(scale[..m]); using var bg = Upload(g[..n]);
        using var bdx = Zeroed(n); using var bdh = Zeroed(m); using var bds = Zeroed(m);
        Kernels.ModulateBackward(batch, tokens, width, View(bx, n), View(bs, m), View(bg, n), View(bdx, n), View(bdh, m), View(bds, m));
        Download(bdx, dx[..n]); Download(bdh, dshift[..m]); Download(bds, dscale[..m]);
    }

    void RunGatedAdd(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> gate, ReadOnlySpan<float> branch, Span<float> y)
    {
        int n = batch * tokens * width, m = batch * width;
        using var bx = Upload(x[..n]); using var ba = Upload(gate[..m]); using var bb = Upload(branch[..n]); using var by = Zeroed(n);
        Kernels.GatedAdd(batch, tokens, width, View(bx, n), View(ba, m), View(bb, n), View(by, n));
        Download(by, y[..n]);
    }

    void RunGatedAddBackward(int batch, int tokens, int width, ReadOnlySpan<float> gate, ReadOnlySpan<float> branch, ReadOnlySpan<float> g,
        Span<float> dbranch, Span<float> dgate)
    {
        int n = batch * tokens * width, m = batch * width;
        using var ba = Upload(gate[..m]); using var bb = Upload(branch[..n]); using var bg = Upload(g[..n]);
        using var bdb = Zeroed(n); using var bda = Zeroed(m);
        Kernels.GatedAddBackward(batch, tokens, width, View(ba, m), View(bb, n), View(bg, n), View(bdb, n), View(bda, m));
        Download(bdb, dbranch[..n]); Download(bda, dgate[..m]);
    }
}
