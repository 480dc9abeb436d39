using System.Text;
using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>
/// The accuracy sweep: every elementwise op and reduction, on every path that computes it (the scalar form, each
/// vector width, the GPU kernels on ILGPU's CPU accelerator), against a double-precision reference over the whole
/// float range — tiny, huge and subnormal inputs — and the IEEE edge values. Errors are in ulps of the exact result
/// (an ulp of a subnormal result is 2⁻¹⁴⁹), so a result that should be 3·10⁻⁴⁴ and comes out 0 counts as ~21 ulps,
/// not as "relative error 1"; the relative error is reported for normal results only. A NaN where a number is expected
/// (or the reverse), or an infinity of the wrong sign, counts as an infinite error.
/// </summary>
public static class NumericsSweep
{
    /// <summary>One measured (op, path): worst error in ulps, worst relative error on normal results, and the input that gave the worst ulps.</summary>
    public sealed record Result(string Op, string Path, double MaxUlps, double MaxRel, string WorstAt, int Count);

    /// <summary>One way of computing an op on a whole array: its name and the function.</summary>
    public sealed record SweepPath(string Name, Func<float[], float[]> Run);

    /// <summary>The width paths of a unary op (each width called directly, accelerated here or not) plus the scalar form.</summary>
    public static IEnumerable<SweepPath> CpuUnaryPaths<T>() where T : IUnaryOp =>
    [
        new("scalar", x => Map(x, (s, d) => Elementwise.UnaryReference<T>(s, d))),
        new("avx512", x => Map(x, (s, d) => Elementwise.Unary<T, Vec512>(s, d))),
        new("avx2", x => Map(x, (s, d) => Elementwise.Unary<T, Vec256>(s, d))),
        new("vector", x => Map(x, (s, d) => Elementwise.Unary<T, VecT>(s, d))),
    ];

    public static IEnumerable<SweepPath> CpuBinaryPaths<T>(float[] b) where T : IBinaryOp =>
    [
        new("scalar", a => { var y = new float[a.Length]; for (int i = 0; i < a.Length; i++) y[i] = T.Invoke(a[i], b[i]); return y; }),
        new("avx512", a => { var y = new float[a.Length]; Elementwise.Binary<T, Vec512>(a, b, y); return y; }),
        new("avx2", a => { var y = new float[a.Length]; Elementwise.Binary<T, Vec256>(a, b, y); return y; }),
        new("vector", a => { var y = new float[a.Length]; Elementwise.Binary<T, VecT>(a, b, y); return y; }),
    ];

    delegate void SpanMap(ReadOnlySpan<float> x, Span<float> y);
    static float[] Map(float[] x, SpanMap f) { var y = new float[x.Length]; f(x, y); return y; }

    /// <summary>A tensor op on the CPU device (the engine's dispatch: widest width, or the scalar loop for ops without kernels).</summary>
    public static SweepPath EnginePath(Func<Tensor, Tensor> op) => new("engine", x => op(Tensor.FromArray(x, x.Length)).ToArray());

    /// <summary>The same tensor op on the GPU device the tests use (ILGPU's CPU accelerator running the GPU kernels).</summary>
    public static SweepPath GpuPath(Func<Tensor, Tensor> op) => new("gpu", x => op(Tensor.FromArray(x, x.Length).To(GpuTestDevice.Device)).ToArray());

    public static readonly float[] EdgeValues =
    [
        0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.Epsilon, -float.Epsilon,
        float.MaxValue, -float.MaxValue, 1.17549435e-38f, -1.17549435e-38f, 1f, -1f,
    ];

    /// <summary>
    /// The inputs of a unary sweep: the edge values; every power of two from 2⁻¹⁴⁹ to 2¹²⁷ with its neighbours and
    /// 1.5× it, both signs; 20,000 random bit patterns (uniform over all finite floats); dense grids over [−100, 100],
    /// [−10, 10] and [−10⁻³, 10⁻³]. Padded to a multiple of 64 so every path runs all of it at its vector width.
    /// </summary>
    public static float[] UnaryInputs()
    {
        var list = new List<float>(EdgeValues);
        for (int e = -149; e <= 127; e++)
        {
            float p = MathF.ScaleB(1f, e);
            foreach (var v in new[] { p, MathF.BitIncrement(p), MathF.BitDecrement(p), 1.5f * p })
                if (float.IsFinite(v) && v != 0) { list.Add(v); list.Add(-v); }
        }
        var rng = new System.Random(23);
        for (int i = 0; i < 20000; i++)
        {
            float v;
            do v = BitConverter.Int32BitsToSingle(rng.Next(int.MinValue, int.MaxValue)); while (!float.IsFinite(v));
            list.Add(v);
        }
        for (int i = 0; i < 8000; i++) list.Add(-100f + 200f * i / 8000);
        for (int i = 0; i < 8000; i++) list.Add(-10f + 20f * (float)rng.NextDouble());
        for (int i = 0; i < 2000; i++) list.Add((float)(1e-3 * (2 * rng.NextDouble() - 1)));
        while (list.Count % 64 != 0) list.Add((float)rng.NextDouble());
        return [.. list];
    }

    /// <summary>Operand pairs of a binary sweep: every pair of ~270 values (edges, powers of ten, random), padded to a multiple of 64.</summary>
    public static (float[] A, float[] B) BinaryInputs()
    {
        var rng = new System.Random(5);
        var vals = new List<float>(EdgeValues);
        for (int e = -45; e <= 38; e += 3) { vals.Add(float.Parse($"1e{e}")); vals.Add(-float.Parse($"3e{e}")); }
        for (int i = 0; i < 150; i++) vals.Add((float)((rng.NextDouble() * 2 - 1) * Math.Pow(10, rng.Next(-6, 7))));
        vals.AddRange([2f, 0.5f, 3f, -2f, 0.25f, 1e-3f, 16777216f]);
        var a = new List<float>(); var b = new List<float>();
        foreach (var x in vals) foreach (var y in vals) { a.Add(x); b.Add(y); }
        while (a.Count % 64 != 0) { a.Add(1f); b.Add(1f); }
        return ([.. a], [.. b]);
    }

    /// <summary>The distance in ulps of <paramref name="got"/> from the exact <paramref name="exact"/> (see the class summary).</summary>
    public static double Ulps(float got, double exact)
    {
        if (double.IsNaN(exact) || float.IsNaN(got)) return double.IsNaN(exact) && float.IsNaN(got) ? 0 : double.PositiveInfinity;
        float rounded = (float)exact;                                   // an exact value beyond the float range must come out as that infinity
        if (float.IsInfinity(rounded)) return got == rounded ? 0 : double.PositiveInfinity;
        double g = float.IsInfinity(got) ? Math.CopySign(Math.Pow(2, 128), got) : got;
        double mag = Math.Abs(exact);
        if (mag > float.MaxValue) mag = float.MaxValue;
        double ulp = mag < 1.1754943508222875e-38 ? Math.Pow(2, -149) : Math.Pow(2, Math.Floor(Math.Log2(mag)) - 23);
        return Math.Abs(g - exact) / ulp;
    }

    /// <summary>Runs <paramref name="path"/> over <paramref name="inputs"/> and measures it against <paramref name="exact"/>[i].</summary>
    public static Result Measure(string op, SweepPath path, float[] inputs, double[] exact, Func<int, string> describe)
    {
        var got = path.Run(inputs);
        double maxUlps = 0, maxRel = 0; int worst = -1;
        for (int i = 0; i < inputs.Length; i++)
        {
            double u = Ulps(got[i], exact[i]);
            if (u > maxUlps || (worst < 0 && u == maxUlps && u > 0)) { maxUlps = u; worst = i; }
            double e = exact[i];
            if (double.IsFinite(e) && Math.Abs(e) >= 1.1754943508222875e-38 && Math.Abs(e) <= float.MaxValue && float.IsFinite(got[i]))
                maxRel = Math.Max(maxRel, Math.Abs(got[i] - e) / Math.Abs(e));
        }
        string at = worst < 0 ? "" : $"{describe(worst)} → {got[worst]:R} (exact {exact[worst]:R})";
        return new Result(op, path.Name, maxUlps, maxRel, at, inputs.Length);
    }

    /// <summary>
    /// A reduction path: each row in, its results out (one value for sum, max, logsumexp; the row for softmax).
    /// </summary>
    public sealed record RowPath(string Name, Func<float[], float[]> Run);

    /// <summary>
    /// Runs <paramref name="path"/> on every row and measures |got − exact| in the row's own units
    /// (<paramref name="unit"/>[row][i], e.g. ε·Σ|x| for a sum). Where the exact value is NaN or beyond the float range,
    /// the result must be that NaN or infinity exactly.
    /// </summary>
    public static Result MeasureRows(string op, RowPath path, float[][] rows, double[][] exact, double[][] unit, Func<int, string> describe)
    {
        double worstErr = 0, maxRel = 0; string at = ""; int count = 0;
        for (int r = 0; r < rows.Length; r++)
        {
            var got = path.Run(rows[r]);
            for (int i = 0; i < exact[r].Length; i++, count++)
            {
                double e = exact[r][i], err;
                float rounded = (float)e;
                if (double.IsNaN(e) || float.IsNaN(got[i])) err = double.IsNaN(e) && float.IsNaN(got[i]) ? 0 : double.PositiveInfinity;
                else if (float.IsInfinity(rounded) || float.IsInfinity(got[i])) err = got[i] == rounded ? 0 : double.PositiveInfinity;
                else err = Math.Abs(got[i] - e) / unit[r][i];
                if (err > worstErr) { worstErr = err; at = $"{describe(r)}[{i}] → {got[i]:R} (exact {e:R})"; }
                if (double.IsFinite(e) && Math.Abs(e) >= 1.1754943508222875e-38 && float.IsFinite(got[i]) && float.IsFinite(rounded))
                    maxRel = Math.Max(maxRel, Math.Abs(got[i] - e) / Math.Abs(e));
            }
        }
        return new Result(op, path.Name, worstErr, maxRel, at, count);
    }

    /// <summary>The size of one ulp at |v| (2⁻¹⁴⁹ below the normal range).</summary>
    public static double Ulp(double v)
    {
        double mag = Math.Min(Math.Abs(v), float.MaxValue);
        return mag < 1.1754943508222875e-38 ? Math.Pow(2, -149) : Math.Pow(2, Math.Floor(Math.Log2(mag)) - 23);
    }

    /// <summary>Σx in double with Neumaier's compensation: exact to ~10⁻¹⁶·Σ|x|, far below a float ulp.</summary>
    public static double ExactSum(IEnumerable<float> x)
    {
        double s = 0, c = 0;
        foreach (double v in x)
        {
            if (!double.IsFinite(v)) return x.Select(f => (double)f).Sum();
            double t = s + v;
            c += Math.Abs(s) >= Math.Abs(v) ? (s - t) + v : (v - t) + s;
            s = t;
        }
        return s + c;
    }

    /// <summary>Prints the table of <paramref name="results"/>, and appends it to the file named by NUMERICS_TABLE when that is set (how docs/numerics.md's table is made).</summary>
    public static void Report(IReadOnlyList<Result> results)
    {
        string table = Table(results);
        TestContext.Out.WriteLine(table);
        var file = Environment.GetEnvironmentVariable("NUMERICS_TABLE");
        if (!string.IsNullOrEmpty(file)) lock (ReportGate) File.AppendAllText(file, string.Join("\n", table.Split('\n').Skip(2)));
    }

    static readonly object ReportGate = new();

    /// <summary>The markdown table of a sweep.</summary>
    public static string Table(IEnumerable<Result> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| op | path | worst ulps | worst rel. error (normal results) | worst case |");
        sb.AppendLine("|---|---|---:|---:|---|");
        foreach (var r in results)
            sb.AppendLine($"| {r.Op} | {r.Path} | {FormatUlps(r.MaxUlps)} | {r.MaxRel:0.0e+0} | {r.WorstAt.Replace("|", "\\|")} |");
        return sb.ToString();
    }

    static string FormatUlps(double u) => double.IsPositiveInfinity(u) ? "∞" : u < 10 ? $"{u:0.00}" : $"{u:0.0e+0}";

    // ------------------------------------------------------------------ double-precision references

    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    /// <summary>log(1 + x) to full double precision (the correction keeps the rounding of 1 + x out of the result).</summary>
    public static double Log1p(double x)
    {
        double u = 1 + x;
        return u == 1 ? x : double.IsPositiveInfinity(u) ? u : Math.Log(u) * x / (u - 1);
    }

    public static double Softplus(double x) => double.IsNaN(x) ? x : x > 0 ? x + Log1p(Math.Exp(-x)) : Log1p(Math.Exp(x));

    /// <summary>erfc(z) for z ≥ 0: the Taylor series of erf below 2.5, a continued fraction (Lentz) above.</summary>
    public static double Erfc(double z)
    {
        if (z < 2.5)
        {
            double sum = 0, term = z;     // Σ (−1)ⁿ z^(2n+1) / (n! (2n+1))
            for (int n = 0; n < 200; n++)
            {
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.Abs(t) < 1e-18 * Math.Abs(sum)) break;
                term *= -z * z / (n + 1);
            }
            return 1 - 2 / Math.Sqrt(Math.PI) * sum;
        }
        if (double.IsPositiveInfinity(z)) return 0;
        // erfc z = e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …))))
        double f = z, c = z, d = 0;
        for (int k = 1; k < 500; k++)
        {
            double a = k / 2.0;
            d = z + a * d; d = 1 / d;
            c = z + a / c;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-17) break;
        }
        return Math.Exp(-z * z) / Math.Sqrt(Math.PI) / f;
    }

    /// <summary>Φ(x), the standard normal distribution function, without cancellation in either tail.</summary>
    public static double NormalCdf(double x) => x < 0 ? 0.5 * Erfc(-x / Math.Sqrt(2)) : 1 - 0.5 * Erfc(x / Math.Sqrt(2));

    public static double Gelu(double x) => double.IsNaN(x) ? x : x * NormalCdf(x);

    /// <summary>0.5·x·(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715x³).</summary>
    public static double GeluTanh(double x) => x * Sigmoid(2 * Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x));
}
