using Kernels.Cpu;
using static Engine.Tests.NumericsSweep;

namespace Engine.Tests;

/// <summary>
/// The reductions of the accuracy sweep (docs/numerics.md): sum, mean, max, logsumexp, softmax and log-softmax on
/// every path, on rows of every length class (one element to 65,537, so each width's tails and blocks are exercised)
/// with normal, positive-only, mixed-magnitude (10⁻²⁰…10²⁰) and wide-logit values, and rows of IEEE edge values.
/// Each error is in the unit a float algorithm can be held to: ε·Σ|x| for sums (ε = 2⁻²⁴), ulps of max(|y|, 1) for
/// logsumexp and log-softmax, and ulps of p per unit of |x − max| for softmax (exp amplifies the rounding of x − max).
/// </summary>
public sealed class NumericsReductionTests
{
    const double Eps = 1.0 / (1 << 24);

    static readonly Lazy<float[][]> RowsLazy = new(MakeRows);
    static float[][] Rows => RowsLazy.Value;

    static float[][] MakeRows()
    {
        var rng = new Random.Generator(77);
        var sys = new System.Random(77);
        var rows = new List<float[]>();
        foreach (int len in new[] { 1, 3, 17, 64, 1000, 4099, 65537 })
        {
            var normal = new float[len]; rng.FillNormal(normal); rows.Add(normal);
            var positive = new float[len]; rng.FillUniform(positive, 0f, 1f); rows.Add(positive);
            rows.Add(normal.Select(v => v * MathF.Pow(10f, sys.Next(-20, 21))).ToArray());
            rows.Add(normal.Select(v => v * 30f).ToArray());
        }
        float inf = float.PositiveInfinity, nan = float.NaN, max = float.MaxValue;
        rows.AddRange(
        [
            [1f, inf], [inf, -inf], [nan, 1f, 2f], [max, max], [-inf, -inf, -inf], [-inf, 0f, -inf], [1e30f, 1e30f, -1e30f],
            [-1e30f, -1e30f], [float.Epsilon, float.Epsilon, float.Epsilon], [-0f, -0f], [-inf, 3f, 1f, -inf, 2f, -inf, 0f, 5f, 1f, -inf, 4f, 0f, 1f, 2f, 3f, 4f, 5f],
        ]);
        return [.. rows];
    }

    static string Describe(int r) => $"row {r} (length {Rows[r].Length})";

    static double RowMax(float[] x) => x.Any(float.IsNaN) ? double.NaN : x.Max();

    // ------------------------------------------------------------------ exact values and units

    /// <summary>The exact sum or mean; a mean whose sum overflows the float range is that infinity (the mean is sum·(1/n), as PyTorch's float mean).</summary>
    static (double[][] Exact, double[][] Unit) SumExact(bool mean) =>
        (Rows.Select(x => { double s = ExactSum(x); return new[] { Math.Abs(s) > float.MaxValue ? s * double.PositiveInfinity : s / (mean ? x.Length : 1) }; }).ToArray(),
         Rows.Select(x => new[] { Math.Max(Eps * x.Sum(v => Math.Abs((double)v)) / (mean ? x.Length : 1), Math.Pow(2, -149)) }).ToArray());

    static double LogSumExp(float[] x)
    {
        double m = RowMax(x);
        if (double.IsNaN(m) || double.IsInfinity(m)) return m;
        return m + Math.Log(x.Sum(v => Math.Exp(v - m)));
    }

    static double[] ExactSoftmax(float[] x, bool log)
    {
        double m = RowMax(x);
        if (!double.IsFinite(m)) return x.Select(_ => double.NaN).ToArray();   // ∞ − ∞ or 0/0, as PyTorch
        double s = x.Sum(v => Math.Exp(v - m)), ls = Math.Log(s);
        return x.Select(v => log ? v - m - ls : Math.Exp(v - m) / s).ToArray();
    }

    static double[] SoftmaxUnit(float[] x, double[] p)
    {
        double m = RowMax(x);
        return p.Select((v, i) => Ulp(v) * Math.Max(1, Math.Abs(x[i] - m))).ToArray();
    }

    // ------------------------------------------------------------------ paths

    static RowPath Engine(Func<Tensor, Tensor> op) => new("engine", x => op(Tensor.FromArray(x, x.Length)).ToArray());
    static RowPath OnGpu(Func<Tensor, Tensor> op) => new("gpu", x => op(Tensor.FromArray(x, x.Length).To(GpuTestDevice.Device)).ToArray());

    static RowPath Kernel(string name, SoftmaxForwardKernel k) => new(name, x => { var y = new float[x.Length]; k(1, x.Length, 1, x, y); return y; });

    public static IEnumerable<Result> SweepSum() =>
        Sweep("Sum", SumExact(false),
        [
            new("reference", x => [(float)Elementwise.SumReference(x)]),
            new("avx512", x => [Elementwise.Sum<Vec512>(x)]),
            new("avx2", x => [Elementwise.Sum<Vec256>(x)]),
            new("vector", x => [Elementwise.Sum<VecT>(x)]),
            Engine(t => t.Sum()), Engine(t => t.Reshape(1, t.Numel).Sum(1)) with { Name = "engine (row)" },
            OnGpu(t => t.Sum()),
        ]);

    public static IEnumerable<Result> SweepMean() => Sweep("Mean", SumExact(true), [Engine(t => t.Mean()), OnGpu(t => t.Mean())]);

    public static IEnumerable<Result> SweepMax() =>
        Sweep("Max (reduction)", (Rows.Select(x => new[] { RowMax(x) }).ToArray(), Rows.Select(x => new[] { Math.Pow(2, -149) }).ToArray()),
            [Engine(t => t.Max()), OnGpu(t => t.Max())]);

    public static IEnumerable<Result> SweepLogSumExp()
    {
        var exact = Rows.Select(x => new[] { LogSumExp(x) }).ToArray();
        return Sweep("LogSumExp", (exact, exact.Select(e => new[] { Ulp(Math.Max(Math.Abs(e[0]), 1)) }).ToArray()),
            [Engine(t => t.LogSumExp(0)), OnGpu(t => t.LogSumExp(0))]);
    }

    public static IEnumerable<Result> SweepSoftmax(bool log)
    {
        var exact = Rows.Select(x => ExactSoftmax(x, log)).ToArray();
        var unit = log ? exact.Select(e => e.Select(v => Ulp(Math.Max(Math.Abs(v), 1))).ToArray()).ToArray()
                       : Rows.Select((x, r) => SoftmaxUnit(x, exact[r])).ToArray();
        var paths = log
            ? new[] { Kernel("reference", Kernels.Cpu.Softmax.LogForwardReference), Kernel("avx512", SoftmaxSimd<Vec512>.LogForward), Kernel("avx2", SoftmaxSimd<Vec256>.LogForward),
                      Kernel("vector", SoftmaxSimd<VecT>.LogForward), Kernel("gpu", GpuTestDevice.Variants.LogSoftmaxForward.Run) }
            : [Kernel("reference", Kernels.Cpu.Softmax.ForwardReference), Kernel("avx512", SoftmaxSimd<Vec512>.Forward), Kernel("avx2", SoftmaxSimd<Vec256>.Forward),
               Kernel("vector", SoftmaxSimd<VecT>.Forward), Kernel("gpu", GpuTestDevice.Variants.SoftmaxForward.Run)];
        return Sweep(log ? "LogSoftmax" : "Softmax", (exact, unit), paths);
    }

    static List<Result> Sweep(string op, (double[][] Exact, double[][] Unit) e, IEnumerable<RowPath> paths) =>
        paths.Select(p => MeasureRows(op, p, Rows, e.Exact, e.Unit, Describe)).ToList();

    // ------------------------------------------------------------------ bounds

    static void AssertWithin(IEnumerable<Result> results, double bound)
    {
        var list = results.ToList();
        Report(list);
        var bad = list.Where(r => !(r.MaxUlps <= bound)).Select(r => $"{r.Op} [{r.Path}]: {r.MaxUlps} > {bound} at {r.WorstAt}").ToList();
        Assert.That(bad, Is.Empty, string.Join("\n", bad));
    }

    [Test] public void Sum_stays_within_its_bound_on_every_path() => AssertWithin(SweepSum(), 4);
    [Test] public void Mean_stays_within_its_bound_on_every_path() => AssertWithin(SweepMean(), 4);
    [Test] public void Max_is_exact_and_propagates_NaN_on_every_path() => AssertWithin(SweepMax(), 0);
    [Test] public void LogSumExp_stays_within_its_bound_and_keeps_infinities() => AssertWithin(SweepLogSumExp(), 4);
    [Test] public void Softmax_stays_within_its_bound_on_every_path() => AssertWithin(SweepSoftmax(log: false), 8);
    [Test] public void LogSoftmax_stays_within_its_bound_on_every_path() => AssertWithin(SweepSoftmax(log: true), 4);
}
