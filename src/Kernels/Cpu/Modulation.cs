using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>The signature of every modulation-forward variant (see <see cref="Modulation"/>).</summary>
public delegate void ModulateKernel(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> shift, ReadOnlySpan<float> scale, Span<float> y);

/// <summary>The signature of every modulation-backward variant.</summary>
public delegate void ModulateBackwardKernel(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> g,
    Span<float> dx, Span<float> dshift, Span<float> dscale);

/// <summary>The signature of every gated-residual forward variant.</summary>
public delegate void GatedAddKernel(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> gate, ReadOnlySpan<float> branch, Span<float> y);

/// <summary>The signature of every gated-residual backward variant (the residual's gradient is g itself).</summary>
public delegate void GatedAddBackwardKernel(int batch, int tokens, int width, ReadOnlySpan<float> gate, ReadOnlySpan<float> branch, ReadOnlySpan<float> g,
    Span<float> dbranch, Span<float> dgate);

/// <summary>
/// The two elementwise steps of adaLN conditioning (DiT, MM-DiT), each one pass over the tokens instead of a chain
/// of broadcast ops with a temporary per link. Tokens are (B, T, D) row-major; the conditioning is one row of D per
/// sample, broadcast over its T tokens.
/// <list type="bullet">
/// <item>Modulate: y = x·(1 + scale) + shift. Backward: dx = g·(1 + scale), dshift = Σ_t g, dscale = Σ_t g·x.</item>
/// <item>GatedAdd: y = x + gate·branch. Backward: dx = g, dbranch = g·gate, dgate = Σ_t g·branch.</item>
/// </list>
/// The backward sums run per sample, so samples run in parallel without shared writes.
/// </summary>
public static unsafe class Modulation
{
    public static void ModulateReference(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> shift, ReadOnlySpan<float> scale, Span<float> y)
    {
        Check(batch, tokens, width, x.Length, shift.Length, scale.Length, y.Length);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                for (int c = 0; c < width; c++)
                {
                    int i = (b * tokens + t) * width + c;
                    y[i] = x[i] * (1f + scale[b * width + c]) + shift[b * width + c];
                }
    }

    public static void ModulateBackwardReference(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> g,
        Span<float> dx, Span<float> dshift, Span<float> dscale)
    {
        Check(batch, tokens, width, x.Length, dshift.Length, scale.Length, g.Length);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < width; c++)
            {
                double sumG = 0, sumGx = 0;
                for (int t = 0; t < tokens; t++)
                {
                    int i = (b * tokens + t) * width + c;
                    dx[i] = g[i] * (1f + scale[b * width + c]);
                    sumG += g[i];
                    sumGx += (double)g[i] * x[i];
                }
                dshift[b * width + c] = (float)sumG;
                dscale[b * width + c] = (float)sumGx;
            }
    }

    public static void GatedAddReference(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> gate, ReadOnlySpan<float> branch, Span<float> y)
    {
        Check(batch, tokens, width, x.Length, gate.Length, gate.Length, y.Length);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                for (int c = 0; c < width; c++)
                {
                    int i = (b * tokens + t) * width + c;
                    y[i] = x[i] + gate[b * width + c] * branch[i];
                }
    }

    public static void GatedAddBackwardReference(int batch, int tokens, int width, ReadOnlySpan<float> gate, ReadOnlySpan<float> branch, ReadOnlySpan<float> g,
        Span<float> dbranch, Span<float> dgate)
    {
        Check(batch, tokens, width, branch.Length, gate.Length, gate.Length, g.Length);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < width; c++)
            {
                double sum = 0;
                for (int t = 0; t < tokens; t++)
                {
                    int i = (b * tokens + t) * width + c;
                    dbranch[i] = g[i] * gate[b * width + c];
                    sum += (double)g[i] * branch[i];
                }
                dgate[b * width + c] = (float)sum;
            }
    }

    /// <summary>y = x·(1 + scale) + shift, one FMA per element; rows of tokens split across threads.</summary>
    public static void Modulate<V>(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> shift, ReadOnlySpan<float> scale, Span<float> y)
        where V : unmanaged, IVec<V>
    {
        Check(batch, tokens, width, x.Length, shift.Length, scale.Length, y.Length);
        fixed (float* xp = x, hp = shift, sp = scale, yp = y)
        {
            nint X = (nint)xp, H = (nint)hp, S = (nint)sp, Y = (nint)yp;
            Parallelism.For(batch, (long)tokens * width, b =>
            {
                float* h = (float*)H + b * width, s = (float*)S + b * width;
                for (int t = 0; t < tokens; t++)
                {
                    long row = ((long)b * tokens + t) * width;
                    float* xr = (float*)X + row, yr = (float*)Y + row;
                    int c = 0;
                    for (; c <= width - V.Count; c += V.Count)
                        V.Store(V.Fma(V.Load(xr + c), V.Load(s + c) + V.Create(1f), V.Load(h + c)), yr + c);
                    for (; c < width; c++) yr[c] = xr[c] * (1f + s[c]) + h[c];
                }
            }, grain: 1 << 16);
        }
    }

    /// <summary>dx = g·(1 + scale) and the per-sample sums dshift = Σ_t g, dscale = Σ_t g·x in one pass.</summary>
    public static void ModulateBackward<V>(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> g,
        Span<float> dx, Span<float> dshift, Span<float> dscale) where V : unmanaged, IVec<V>
    {
        Check(batch, tokens, width, x.Length, dshift.Length, scale.Length, g.Length);
        if (dx.Length < g.Length || dscale.Length < batch * width) throw new ArgumentException("Modulation: gradient outputs too short");
        fixed (float* xp = x, sp = scale, gp = g, dxp = dx, dhp = dshift, dsp = dscale)
        {
            nint X = (nint)xp, S = (nint)sp, G = (nint)gp, DX = (nint)dxp, DH = (nint)dhp, DS = (nint)dsp;
            Parallelism.For(batch, 2L * tokens * width, b =>
            {
                float* s = (float*)S + b * width, dh = (float*)DH + b * width, ds = (float*)DS + b * width;
                new Span<float>(dh, width).Clear();
                new Span<float>(ds, width).Clear();
                for (int t = 0; t < tokens; t++)
                {
                    long row = ((long)b * tokens + t) * width;
                    float* xr = (float*)X + row, gr = (float*)G + row, dxr = (float*)DX + row;
                    int c = 0;
                    for (; c <= width - V.Count; c += V.Count)
                    {
                        var gv = V.Load(gr + c);
                        V.Store(gv * (V.Load(s + c) + V.Create(1f)), dxr + c);
                        V.Store(V.Load(dh + c) + gv, dh + c);
                        V.Store(V.Fma(gv, V.Load(xr + c), V.Load(ds + c)), ds + c);
                    }
                    for (; c < width; c++)
                    {
                        dxr[c] = gr[c] * (1f + s[c]);
                        dh[c] += gr[c];
                        ds[c] += gr[c] * xr[c];
                    }
                }
            }, grain: 1 << 16);
        }
    }

    /// <summary>y = x + gate·branch, one FMA per element.</summary>
    public static void GatedAdd<V>(int batch, int tokens, int width, ReadOnlySpan<float> x, ReadOnlySpan<float> gate, ReadOnlySpan<float> branch, Span<float> y)
        where V : unmanaged, IVec<V>
    {
        Check(batch, tokens, width, x.Length, gate.Length, gate.Length, y.Length);
        if (branch.Length < x.Length) throw new ArgumentException("Modulation: branch shorter than the residual");
        fixed (float* xp = x, ap = gate, bp = branch, yp = y)
        {
            nint X = (nint)xp, A = (nint)ap, Bp = (nint)bp, Y = (nint)yp;
            Parallelism.For(batch, (long)tokens * width, b =>
            {
                float* a = (float*)A + b * width;
                for (int t = 0; t < tokens; t++)
                {
                    long row = ((long)b * tokens + t) * width;
                    float* xr = (float*)X + row, br = (float*)Bp + row, yr = (float*)Y + row;
                    int c = 0;
                    for (; c <= width - V.Count; c += V.Count)
                        V.Store(V.Fma(V.Load(a + c), V.Load(br + c), V.Load(xr + c)), yr + c);
                    for (; c < width; c++) yr[c] = xr[c] + a[c] * br[c];
                }
            }, grain: 1 << 16);
        }
    }

    /// <summary>dbranch = g·gate and the per-sample sums dgate = Σ_t g·branch in one pass.</summary>
    public static void GatedAddBackward<V>(int batch, int tokens, int width, ReadOnlySpan<float> gate, ReadOnlySpan<float> branch, ReadOnlySpan<float> g,
        Span<float> dbranch, Span<float> dgate) where V : unmanaged, IVec<V>
    {
        Check(batch, tokens, width, branch.Length, gate.Length, gate.Length, g.Length);
        if (dbranch.Length < g.Length || dgate.Length < batch * width) throw new ArgumentException("Modulation: gradient outputs too short");
        fixed (float* ap = gate, bp = branch, gp = g, dbp = dbranch, dap = dgate)
        {
            nint A = (nint)ap, Bp = (nint)bp, G = (nint)gp, DB = (nint)dbp, DA = (nint)dap;
            Parallelism.For(batch, 2L * tokens * width, b =>
            {
                float* a = (float*)A + b * width, da = (float*)DA + b * width;
                new Span<float>(da, width).Clear();
                for (int t = 0; t < tokens; t++)
                {
                    long row = ((long)b * tokens + t) * width;
                    float* br = (float*)Bp + row, gr = (float*)G + row, dbr = (float*)DB + row;
                    int c = 0;
                    for (; c <= width - V.Count; c += V.Count)
                    {
                        var gv = V.Load(gr + c);
                        V.Store(gv * V.Load(a + c), dbr + c);
                        V.Store(V.Fma(gv, V.Load(br + c), V.Load(da + c)), da + c);
                    }
                    for (; c < width; c++)
                    {
                        dbr[c] = gr[c] * a[c];
                        da[c] += gr[c] * br[c];
                    }
                }
            }, grain: 1 << 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Check(int batch, int tokens, int width, int tokensLen, int condLen, int cond2Len, int outLen)
    {
        if (batch < 0 || tokens < 0 || width < 1) throw new ArgumentException($"Modulation: invalid sizes B={batch}, T={tokens}, D={width}");
        long n = (long)batch * tokens * width;
        if (tokensLen < n || outLen < n) throw new ArgumentException($"Modulation: tokens need {n} floats, got {tokensLen} in, {outLen} out");
        if (condLen < batch * width || cond2Len < batch * width) throw new ArgumentException($"Modulation: conditioning needs {batch * width} floats, got {condLen}/{cond2Len}");
    }
}
