using Engine;

namespace Models.FlowMatching;

/// <summary>The right-hand side of dx/dt = f(t, x) over tensors.</summary>
public delegate Tensor OdeFunction(double t, Tensor x);

/// <summary>Integration methods: fixed-step Euler (order 1), Heun (2), classic Runge–Kutta (4); adaptive Dormand–Prince 5(4).</summary>
public enum OdeMethod { Euler, Heun, Rk4, DormandPrince }

/// <summary>Settings of one solve. <see cref="Steps"/> is for the fixed-step methods; the tolerances for Dormand–Prince.</summary>
public sealed record OdeOptions(OdeMethod Method = OdeMethod.Rk4, int Steps = 20, double RelativeTolerance = 1e-5, double AbsoluteTolerance = 1e-5, int MaxSteps = 10_000);

/// <summary>The state at the end time and what it cost: network evaluations, accepted and rejected steps.</summary>
public sealed record OdeResult(Tensor X, int Evaluations, int AcceptedSteps, int RejectedSteps);

/// <summary>
/// Explicit ODE solvers over tensors, integrating from t0 to t1 (either direction). The state is a tensor of
/// any shape; the solver only adds and scales tensors, so f decides whether gradients are recorded.
/// <see cref="Solve"/> calls <paramref name="onStep"/> after every accepted step, for trajectories.
/// </summary>
/// <example><c>var r = OdeSolver.Solve((t, x) => -x, x0, 0, 1, new OdeOptions(OdeMethod.DormandPrince)); // r.X ≈ x0·e⁻¹</c></example>
public static class OdeSolver
{
    public static OdeResult Solve(OdeFunction f, Tensor x0, double t0, double t1, OdeOptions options, Action<double, Tensor>? onStep = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(options);
        if (!double.IsFinite(t0) || !double.IsFinite(t1)) throw new ArgumentException($"OdeSolver: times must be finite, got {t0} → {t1}");
        if (options.Method != OdeMethod.DormandPrince && options.Steps <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"OdeSolver: {options.Method} needs a positive number of steps, got {options.Steps}");
        return options.Method == OdeMethod.DormandPrince ? DormandPrince(f, x0, t0, t1, options, onStep) : FixedStep(f, x0, t0, t1, options, onStep);
    }

    static OdeResult FixedStep(OdeFunction f, Tensor x, double t0, double t1, OdeOptions o, Action<double, Tensor>? onStep)
    {
        double h = (t1 - t0) / o.Steps;
        int evals = 0;
        Tensor F(double t, Tensor v) { evals++; return Checked(f(t, v), v, t); }
        for (int i = 0; i < o.Steps; i++)
        {
            double t = t0 + i * h;
            using var scope = new DeviceScope();                                  // each step's intermediates are recycled by the next
            x = scope.Keep(o.Method switch
            {
                OdeMethod.Euler => x + F(t, x) * (float)h,
                OdeMethod.Heun => HeunStep(F, t, x, h),
                _ => Rk4Step(F, t, x, h),
            });
            onStep?.Invoke(t + h, x);
        }
        return new OdeResult(x, evals, o.Steps, 0);
    }

    /// <summary>Heun's method (explicit trapezoid): an Euler predictor, then the average of the two slopes.</summary>
    static Tensor HeunStep(Func<double, Tensor, Tensor> f, double t, Tensor x, double h)
    {
        var k1 = f(t, x);
        var k2 = f(t + h, x + k1 * (float)h);
        return x + (k1 + k2) * (float)(h / 2);
    }

    static Tensor Rk4Step(Func<double, Tensor, Tensor> f, double t, Tensor x, double h)
    {
        var k1 = f(t, x);
        var k2 = f(t + h / 2, x + k1 * (float)(h / 2));
        var k3 = f(t + h / 2, x + k2 * (float)(h / 2));
        var k4 = f(t + h, x + k3 * (float)h);
        return x + (k1 + (k2 + k3) * 2f + k4) * (float)(h / 6);
    }

    // Dormand–Prince 5(4) tableau (Hairer, Nørsett & Wanner, Table 5.2). B is the 5th-order solution (equal to
    // the last row of A: first same as last), E = B − B̂ the difference to the embedded 4th-order one.
    static readonly double[] C = [0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1];
    static readonly double[][] A =
    [
        [],
        [1.0 / 5],
        [3.0 / 40, 9.0 / 40],
        [44.0 / 45, -56.0 / 15, 32.0 / 9],
        [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
        [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
        [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84],
    ];
    static readonly double[] E = [71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40];

    /// <summary>
    /// One Dormand–Prince step from (t, x) with slope k1 = f(t, x): the 5th-order state, its slope (reused as
    /// the next k1) and the error estimate (5th − 4th order).
    /// </summary>
    public static (Tensor X, Tensor Slope, Tensor Error) DormandPrinceStep(OdeFunction f, double t, Tensor x, Tensor k1, double h)
    {
        var k = new Tensor[7];
        k[0] = k1;
        for (int s = 1; s < 7; s++)
        {
            var xs = x;
            for (int j = 0; j < s; j++)
                if (A[s][j] != 0) xs = xs + k[j] * (float)(h * A[s][j]);
            if (s == 6) { k[6] = f(t + h, xs); return (xs, k[6], Combine(k, E, h)); }
            k[s] = f(t + C[s] * h, xs);
        }
        throw new InvalidOperationException("unreachable");
    }

    static Tensor Combine(Tensor[] k, double[] w, double h)
    {
        Tensor? sum = null;
        for (int i = 0; i < k.Length; i++)
            if (w[i] != 0) sum = sum is null ? k[i] * (float)(h * w[i]) : sum + k[i] * (float)(h * w[i]);
        return sum!;
    }

    /// <summary>RMS over elements of err / (atol + rtol·max(|x0|, |x1|)), computed in double.</summary>
    static double ErrorNorm(Tensor error, Tensor x0, Tensor x1, double rtol, double atol)
    {
        var e = error.Contiguous().Span; var a = x0.Contiguous().Span; var b = x1.Contiguous().Span;
        double s = 0;
        for (int i = 0; i < e.Length; i++)
        {
            double scale = atol + rtol * Math.Max(Math.Abs(a[i]), Math.Abs(b[i]));
            double r = e[i] / scale;
            s += r * r;
        }
        return Math.Sqrt(s / Math.Max(1, e.Length));
    }

    static double Rms(Tensor t, Tensor x, double rtol, double atol)
    {
        var v = t.Contiguous().Span; var xs = x.Contiguous().Span;
        double s = 0;
        for (int i = 0; i < v.Length; i++) { double r = v[i] / (atol + rtol * Math.Abs(xs[i])); s += r * r; }
        return Math.Sqrt(s / Math.Max(1, v.Length));
    }

    static OdeResult DormandPrince(OdeFunction f, Tensor x, double t0, double t1, OdeOptions o, Action<double, Tensor>? onStep)
    {
        if (!(o.RelativeTolerance > 0) || !(o.AbsoluteTolerance > 0))
            throw new ArgumentOutOfRangeException(nameof(o), $"OdeSolver: tolerances must be positive, got rtol {o.RelativeTolerance}, atol {o.AbsoluteTolerance}");
        int evals = 0, accepted = 0, rejected = 0;
        Tensor F(double t, Tensor v) { evals++; return Checked(f(t, v), v, t); }
        double span = t1 - t0, dir = Math.Sign(span);
        if (span == 0) return new OdeResult(x, 0, 0, 0);
        var k1 = F(t0, x);

        // Starting step (Hairer, Nørsett & Wanner II.4): h0 from the sizes of x and f, refined by one Euler probe.
        double d0 = Rms(x, x, o.RelativeTolerance, o.AbsoluteTolerance), d1 = Rms(k1, x, o.RelativeTolerance, o.AbsoluteTolerance);
        double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
        h0 = Math.Min(h0, Math.Abs(span));
        var probe = F(t0 + dir * h0, x + k1 * (float)(dir * h0));
        double d2 = Rms(probe - k1, x, o.RelativeTolerance, o.AbsoluteTolerance) / h0;
        double h1 = Math.Max(d1, d2) <= 1e-15 ? Math.Max(1e-6, h0 * 1e-3) : Math.Pow(0.01 / Math.Max(d1, d2), 1.0 / 5);
        double h = Math.Min(Math.Min(100 * h0, h1), Math.Abs(span));

        double t = t0;
        while (dir * (t1 - t) > 1e-12 * Math.Abs(span))
        {
            if (accepted + rejected >= o.MaxSteps)
                throw new InvalidOperationException($"OdeSolver: Dormand–Prince gave up after {o.MaxSteps} steps at t = {t:G6} of [{t0}, {t1}] (step {h:G3}); the problem may be stiff or the tolerances too tight");
            double step = dir * Math.Min(h, Math.Abs(t1 - t));
            var (x1, slope, err) = DormandPrinceStep(F, t, x, k1, step);
            double norm = ErrorNorm(err, x, x1, o.RelativeTolerance, o.AbsoluteTolerance);
            if (!double.IsFinite(norm)) norm = 1e10;
            double factor = norm == 0 ? 5 : Math.Clamp(0.9 * Math.Pow(norm, -1.0 / 5), 0.2, 5);
            if (norm <= 1)
            {
                t += step; x = x1; k1 = slope; accepted++;
                onStep?.Invoke(t, x);
                h = Math.Abs(step) * factor;
            }
            else
            {
                rejected++;
                h = Math.Abs(step) * Math.Min(1, factor);
            }
        }
        return new OdeResult(x, evals, accepted, rejected);
    }

    static Tensor Checked(Tensor dx, Tensor x, double t)
    {
        if (!Shapes.SameShape(dx.Shape, x.Shape))
            throw new ShapeMismatchException($"OdeSolver: f(t, x) returned {Shapes.Format(dx.Shape)} for a state of shape {Shapes.Format(x.Shape)} at t = {t:G6}");
        return dx;
    }
}
