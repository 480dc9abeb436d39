using Kernels.Cpu;
using static Engine.Tests.NumericsSweep;

namespace Engine.Tests;

/// <summary>
/// Keeps every elementwise op within its stated error bound (docs/numerics.md) on every path, over the whole float
/// range and the IEEE edge values (see <see cref="NumericsSweep"/>). Set NUMERICS_TABLE to a file name to write the
/// measured table there.
/// </summary>
public sealed class NumericsTests
{
    /// <summary>An op of the sweep: its exact value in double, its bound in ulps (the same on every path), and its paths.</summary>
    public sealed record UnaryCase(string Name, Func<double, double> Exact, double Bound, Func<IEnumerable<SweepPath>> Paths)
    {
        public override string ToString() => Name;
    }

    static IEnumerable<SweepPath> Unary<T>(Func<Tensor, Tensor> op) where T : IUnaryOp => [.. CpuUnaryPaths<T>(), GpuPath(op)];
    static IEnumerable<SweepPath> Mapped(Func<Tensor, Tensor> op) => [EnginePath(op), GpuPath(op)];

    /// <summary>Correctly rounded: half an ulp (plus the double reference's own rounding).</summary>
    const double Exact = 0.5001;

    public static readonly UnaryCase[] UnaryCases =
    [
        new("Neg", x => -x, Exact, () => Unary<NegOp>(t => t.Neg())),
        new("Abs", Math.Abs, Exact, () => Unary<AbsOp>(t => t.Abs())),
        new("Relu", x => double.IsNaN(x) ? x : x > 0 ? x : 0, Exact, () => Unary<ReluOp>(t => t.Relu())),
        new("Sqrt", Math.Sqrt, Exact, () => Unary<SqrtOp>(t => t.Sqrt())),
        new("Exp", Math.Exp, 2.5, () => Unary<ExpOp>(t => t.Exp())),
        new("Log", Math.Log, 2, () => Unary<LogOp>(t => t.Log())),
        new("Tanh", Math.Tanh, 3, () => Unary<TanhOp>(t => t.Tanh())),
        new("Sigmoid", Sigmoid, 6, () => Unary<SigmoidOp>(t => t.Sigmoid())),
        new("Silu", x => x * Sigmoid(x), 6, () => Unary<SiluOp>(t => t.Silu())),
        new("Softplus", Softplus, 4, () => Unary<SoftplusOp>(t => t.Softplus())),
        new("Gelu", Gelu, 3, () => Unary<GeluOp>(t => t.Gelu())),
        new("GeluTanh", GeluTanh, 256, () => Unary<GeluTanhOp>(t => t.Gelu(tanhApproximation: true))),
        new("LeakyRelu(0.01)", x => x > 0 ? x : (double)0.01f * x, Exact, () => Mapped(t => t.LeakyRelu(0.01f))),
        new("Clamp(-1, 2)", x => double.IsNaN(x) ? x : Math.Clamp(x, -1, 2), Exact, () => Mapped(t => t.Clamp(-1, 2))),
        new("Pow(x, 2)", x => Math.Pow(x, 2), 1, () => Mapped(t => t.Pow(2f))),
        new("Pow(x, 0.5)", x => Math.Pow(x, 0.5), 1, () => Mapped(t => t.Pow(0.5f))),
        new("Pow(x, -1.5)", x => Math.Pow(x, -1.5), 1, () => Mapped(t => t.Pow(-1.5f))),
    ];

    public sealed record BinaryCase(string Name, Func<double, double, double> Exact, double Bound, Func<float[], IEnumerable<SweepPath>> Paths)
    {
        public override string ToString() => Name;
    }

    static IEnumerable<SweepPath> Binary<T>(float[] b, Func<Tensor, Tensor, Tensor> op) where T : IBinaryOp =>
        [.. CpuBinaryPaths<T>(b), new("gpu", a => op(Tensor.FromArray(a, a.Length).To(GpuTestDevice.Device), Tensor.FromArray(b, b.Length).To(GpuTestDevice.Device)).ToArray())];

    public static readonly BinaryCase[] BinaryCases =
    [
        new("Add", (a, b) => a + b, Exact, b => Binary<AddOp>(b, (x, y) => x + y)),
        new("Sub", (a, b) => a - b, Exact, b => Binary<SubOp>(b, (x, y) => x - y)),
        new("Mul", (a, b) => a * b, Exact, b => Binary<MulOp>(b, (x, y) => x * y)),
        new("Div", (a, b) => a / b, Exact, b => Binary<DivOp>(b, (x, y) => x / y)),
        new("Pow", Math.Pow, 1, b => Binary<PowOp>(b, Tensor.Pow)),
        new("Max", Math.Max, Exact, b => Binary<MaxOp>(b, Tensor.Maximum)),
        new("Min", Math.Min, Exact, b => Binary<MinOp>(b, Tensor.Minimum)),
    ];

    static readonly Lazy<float[]> Inputs = new(UnaryInputs);
    static readonly Lazy<(float[] A, float[] B)> Pairs = new(BinaryInputs);

    public static IEnumerable<Result> SweepUnary(UnaryCase c)
    {
        var x = Inputs.Value;
        var exact = x.Select(v => c.Exact(v)).ToArray();
        return c.Paths().Select(p => Measure(c.Name, p, x, exact, i => $"x = {x[i]:R}")).ToList();
    }

    public static IEnumerable<Result> SweepBinary(BinaryCase c)
    {
        var (a, b) = Pairs.Value;
        var exact = a.Select((v, i) => c.Exact(v, b[i])).ToArray();
        return c.Paths(b).Select(p => Measure(c.Name, p, a, exact, i => $"({a[i]:R}, {b[i]:R})")).ToList();
    }

    [TestCaseSource(nameof(UnaryCases))]
    public void Unary_op_stays_within_its_bound_on_every_path(UnaryCase c) => AssertWithin(SweepUnary(c), c.Bound);

    [TestCaseSource(nameof(BinaryCases))]
    public void Binary_op_stays_within_its_bound_on_every_path(BinaryCase c) => AssertWithin(SweepBinary(c), c.Bound);

    [Test]
    public void Sign_of_zero_is_kept_on_every_path()
    {
        foreach (var (name, paths, zero, negZero) in new (string, IEnumerable<SweepPath>, float, float)[]
        {
            ("Sqrt", Unary<SqrtOp>(t => t.Sqrt()), 0f, -0f), ("Tanh", Unary<TanhOp>(t => t.Tanh()), 0f, -0f),
            ("Silu", Unary<SiluOp>(t => t.Silu()), 0f, -0f), ("Gelu", Unary<GeluOp>(t => t.Gelu()), 0f, -0f),
            ("GeluTanh", Unary<GeluTanhOp>(t => t.Gelu(tanhApproximation: true)), 0f, -0f),
            ("Neg", Unary<NegOp>(t => t.Neg()), -0f, 0f), ("Abs", Unary<AbsOp>(t => t.Abs()), 0f, 0f),
        })
            foreach (var path in paths)
            {
                var x = new float[64];                                     // +0 then −0, a whole vector of each
                for (int i = 32; i < 64; i++) x[i] = -0f;
                var y = path.Run(x);
                Assert.That(BitConverter.SingleToInt32Bits(y[0]), Is.EqualTo(BitConverter.SingleToInt32Bits(zero)), $"{name} [{path.Name}] of +0");
                Assert.That(BitConverter.SingleToInt32Bits(y[63]), Is.EqualTo(BitConverter.SingleToInt32Bits(negZero)), $"{name} [{path.Name}] of −0");
            }
    }

    static void AssertWithin(IEnumerable<Result> results, double bound)
    {
        var list = results.ToList();
        Report(list);
        var bad = list.Where(r => !(r.MaxUlps <= bound)).Select(r => $"{r.Op} [{r.Path}]: {r.MaxUlps} ulps > {bound} at {r.WorstAt}").ToList();
        Assert.That(bad, Is.Empty, string.Join("\n", bad));
    }
}
