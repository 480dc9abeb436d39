using Cli.Workloads;
using Engine.Random;
using Kernels.Cpu;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// The attention section of <c>engine kernels</c>: every registered forward and backward variant on the W3 shape
/// (B·H = 256 heads of 196 tokens × 64), with time, GFLOP/s, fraction of the FMA peak, and the largest error against the
/// double-precision reference. The reference takes seconds per call at this shape, so it is timed once and checked on
/// the first heads only (heads are independent).
/// </summary>
public static class AttentionKernels
{
    const int CheckedHeads = 8;

    public static void Write(int threads)
    {
        const int heads = W3Attention.B * W3Attention.H, t = W3Attention.T, d = W3Attention.D;
        double peak = FmaPeak.Gflops(threads);
        // FLOPs: forward Q·Kᵀ and P·V (4·T²·D per head); backward dV, dP, dQ, dK (8·T²·D), not counting the
        // recomputation of the scores that the flash and blocked backwards do on top.
        double forwardFlops = 4.0 * heads * t * t * d, backwardFlops = 2 * forwardFlops;
        var g = new Generator(21);
        float[] Normal(int n) { var a = new float[n]; g.FillNormal(a); return a; }
        int n = heads * t * d;
        var q = Normal(n); var k = Normal(n); var v = Normal(n); var dO = Normal(n);
        var o = new float[n]; var lse = new float[heads * t];
        var dq = new float[n]; var dk = new float[n]; var dv = new float[n];
        float scale = 1f / MathF.Sqrt(d);

        // Reference outputs on the first heads, and the forward outputs every backward starts from (the backward
        // reference starts from the reference forward, so the error also carries the forward's few ulps).
        int cn = CheckedHeads * t * d;
        var oRef = new float[cn]; var lRef = new float[CheckedHeads * t];
        Attention.ForwardReference(CheckedHeads, t, t, d, scale, false, q, k, v, oRef, lRef);
        var dqRef = new float[cn]; var dkRef = new float[cn]; var dvRef = new float[cn];
        Attention.BackwardReference(CheckedHeads, t, t, d, scale, false, q, k, v, oRef, lRef, dO, dqRef, dkRef, dvRef);
        KernelRegistry.FastAttentionForward(heads, t, t, d, scale, false, q, k, v, o, lse);

        var table = new Table().Title($"Attention (W3: {W3Attention.B}×{W3Attention.H} heads, T = {t}, D = {d}, no mask)")
            .AddColumns("pass", "variant", "ms", "GFLOP/s", "% of peak", "max err");
        var fo = new float[n]; var fl = new float[heads * t];
        foreach (var fv in KernelRegistry.AttentionForward)
        {
            double ms = Timing.MedianMs(() => fv.Run(heads, t, t, d, scale, false, q, k, v, fo, fl), minRuns: fv.IsReference ? 1 : 3, minSeconds: fv.IsReference ? 0 : 0.5);
            double? err = fv.IsReference ? null : Math.Max(MaxError(oRef, fo), MaxError(lRef, fl));
            AddRow(table, "forward", fv.Name, ms, forwardFlops, peak, err);
        }
        foreach (var bv in KernelRegistry.AttentionBackward)
        {
            double ms = Timing.MedianMs(() => bv.Run(heads, t, t, d, scale, false, q, k, v, o, lse, dO, dq, dk, dv), minRuns: bv.IsReference ? 1 : 3, minSeconds: bv.IsReference ? 0 : 0.5);
            double? err = bv.IsReference ? null : Math.Max(MaxError(dqRef, dq), Math.Max(MaxError(dkRef, dk), MaxError(dvRef, dv)));
            AddRow(table, "backward", bv.Name, ms, backwardFlops, peak, err);
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[grey]{threads} thread(s); peak = {peak:F0} GFLOP/s (the FMA loop on as many threads, measured now); backward FLOPs = 2× forward (the recomputed scores not counted); " +
            $"max err = max |x − ref| / (1 + |ref|) over the first {CheckedHeads} heads, against the double-precision reference[/]");
    }

    static void AddRow(Table table, string pass, string variant, double ms, double flops, double peak, double? err)
    {
        double gflops = flops / (ms * 1e6);
        table.AddRow(pass, variant, ms.ToString("F1"), gflops.ToString("F1"), (gflops / peak * 100).ToString("F0") + "%", err?.ToString("0.0E+0") ?? "—");
    }

    /// <summary>max |got − expected| / (1 + |expected|) over the length of <paramref name="expected"/> (a prefix of <paramref name="got"/>).</summary>
    static double MaxError(float[] expected, float[] got)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - (double)expected[i]) / (1 + Math.Abs(expected[i])));
        return worst;
    }
}
