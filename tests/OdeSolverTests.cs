using Models.FlowMatching;

namespace Engine.Tests;

/// <summary>The ODE solvers on problems with known solutions; the order of convergence is measured by halving the step.</summary>
public sealed class OdeSolverTests
{
    /// <summary>The harmonic oscillator x' = v, v' = −x from (1, 0): (cos t, −sin t). Two copies to exercise a batch.</summary>
    static Tensor Oscillator(double t, Tensor s)
    {
        var v = s.ToArray();
        return Tensor.Wrap([v[1], -v[0], v[3], -v[2]], 2, 2);
    }

    static readonly Tensor Start = Tensor.FromArray([1f, 0f, 2f, 0f], 2, 2);

    static double OscillatorError(Tensor end, double t)
    {
        var v = end.ToArray();
        double e = 0;
        for (int k = 0; k < 2; k++)
        {
            double a = k + 1;
            e = Math.Max(e, Math.Max(Math.Abs(v[2 * k] - a * Math.Cos(t)), Math.Abs(v[2 * k + 1] + a * Math.Sin(t))));
        }
        return e;
    }

    static double Order(Func<int, double> errorWithSteps, int steps)
    {
        double coarse = errorWithSteps(steps), fine = errorWithSteps(2 * steps);
        double order = Math.Log2(coarse / fine);
        TestContext.Out.WriteLine($"error {coarse:E3} at {steps} steps, {fine:E3} at {2 * steps}: order {order:F2}");
        return order;
    }

    [TestCase(OdeMethod.Euler, 400, 1.0, 0.12)]
    [TestCase(OdeMethod.Heun, 64, 2.0, 0.2)]
    [TestCase(OdeMethod.Rk4, 16, 4.0, 0.3)]
    public void Fixed_step_methods_converge_at_their_order(OdeMethod method, int steps, double order, double slack)
    {
        double T = 2 * Math.PI;
        double Error(int n) => OscillatorError(OdeSolver.Solve(Oscillator, Start, 0, T, new OdeOptions(method, n)).X, T);
        Assert.That(Order(Error, steps), Is.EqualTo(order).Within(slack));
    }

    [Test]
    public void Dormand_Prince_steps_are_fifth_order()
    {
        double T = 2 * Math.PI;
        double Error(int n)
        {
            var x = Start;
            double h = T / n;
            var k1 = Oscillator(0, x);
            for (int i = 0; i < n; i++) (x, k1, _) = OdeSolver.DormandPrinceStep(Oscillator, i * h, x, k1, h);
            return OscillatorError(x, T);
        }
        Assert.That(Order(Error, 8), Is.EqualTo(5.0).Within(0.6));
    }

    [Test]
    public void Dormand_Prince_meets_its_tolerance_and_spends_more_for_tighter_ones()
    {
        // y' = cos(t)·y, y(0) = 1: y = exp(sin t), on [0, 4].
        static Tensor F(double t, Tensor y) => y * (float)Math.Cos(t);
        var y0 = Tensor.FromArray([1f, 0.5f], 2);
        double Exact(double t, double a) => a * Math.Exp(Math.Sin(t));
        var loose = OdeSolver.Solve(F, y0, 0, 4, new OdeOptions(OdeMethod.DormandPrince, RelativeTolerance: 1e-3, AbsoluteTolerance: 1e-3));
        var tight = OdeSolver.Solve(F, y0, 0, 4, new OdeOptions(OdeMethod.DormandPrince, RelativeTolerance: 1e-6, AbsoluteTolerance: 1e-6));
        double Err(OdeResult r) => Math.Max(Math.Abs(r.X.ToArray()[0] - Exact(4, 1)), Math.Abs(r.X.ToArray()[1] - Exact(4, 0.5)));
        TestContext.Out.WriteLine($"rtol 1e-3: error {Err(loose):E2}, {loose.Evaluations} evaluations; rtol 1e-6: error {Err(tight):E2}, {tight.Evaluations} evaluations, {tight.RejectedSteps} rejected");
        Assert.That(Err(loose), Is.LessThan(1e-2));
        Assert.That(Err(tight), Is.LessThan(2e-5));
        Assert.That(Err(tight), Is.LessThan(Err(loose)));
        Assert.That(tight.Evaluations, Is.GreaterThan(loose.Evaluations));
        Assert.That(loose.Evaluations, Is.EqualTo(2 + 6 * (loose.AcceptedSteps + loose.RejectedSteps)), "first-same-as-last: 6 new slopes per step");
    }

    [Test]
    public void Solves_backwards_in_time_and_reports_each_step()
    {
        // y' = −y from y(1) = e⁻¹ back to t = 0 gives 1.
        var times = new List<double>();
        var r = OdeSolver.Solve((t, y) => -y, Tensor.FromArray([MathF.Exp(-1f)], 1), 1, 0, new OdeOptions(OdeMethod.Rk4, 10), (t, _) => times.Add(t));
        Assert.That(r.X.Item(), Is.EqualTo(1f).Within(1e-5f));
        Assert.That(times, Has.Count.EqualTo(10));
        Assert.That(times[^1], Is.EqualTo(0).Within(1e-12));
        var adaptive = OdeSolver.Solve((t, y) => -y, Tensor.FromArray([MathF.Exp(-1f)], 1), 1, 0, new OdeOptions(OdeMethod.DormandPrince));
        Assert.That(adaptive.X.Item(), Is.EqualTo(1f).Within(1e-4f));
    }

    [Test]
    public void Bad_arguments_are_typed_errors()
    {
        var x = Tensor.Zeros([2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => OdeSolver.Solve((t, y) => y, x, 0, 1, new OdeOptions(OdeMethod.Euler, 0)));
        Assert.Throws<ShapeMismatchException>(() => OdeSolver.Solve((t, y) => Tensor.Zeros([3]), x, 0, 1, new OdeOptions(OdeMethod.Heun, 2)));
        Assert.Throws<ArgumentException>(() => OdeSolver.Solve((t, y) => y, x, 0, double.NaN, new OdeOptions()));
        Assert.Throws<InvalidOperationException>(() => OdeSolver.Solve((t, y) => Tensor.Full([2], float.NaN), Tensor.Ones([2]), 0, 1,
            new OdeOptions(OdeMethod.DormandPrince, MaxSteps: 50)));
    }
}
