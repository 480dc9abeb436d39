using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>
/// Gradients at the edges follow PyTorch's conventions, on every path (the scalar derivative, each vector width, the
/// GPU kernels): Relu′(0) = 0, |x|′(0) = 0, √′(0) = +∞, clamp passes the gradient at its bounds, maximum and minimum
/// split it on ties, x⁰ has gradient 0 at 0, and the saturating ops give 0, not NaN, at ±∞.
/// </summary>
public sealed class NumericsGradientTests
{
    const float Inf = float.PositiveInfinity;

    /// <summary>The derivative of <typeparamref name="T"/> at each x, by every path (from the op's own forward output).</summary>
    static IEnumerable<(string Path, float[] D)> Derivatives<T>(float[] x, Func<Tensor, Tensor> op) where T : IUnaryOp
    {
        var y = new float[x.Length];
        Elementwise.UnaryReference<T>(x, y);
        var g = x.Select(_ => 1f).ToArray();
        float[] Run(Action<float[]> f) { var d = new float[x.Length]; f(d); return d; }
        yield return ("scalar", Run(d => Elementwise.UnaryBackwardReference<T>(x, y, g, d)));
        if (T.HasVectorDerivative)
        {
            // Padded to two whole vectors of every width, so the edge values go through the vector code, not the tail.
            int n = 32;
            var xp = new float[n]; var yp = new float[n]; var gp = Enumerable.Repeat(1f, n).ToArray();
            x.CopyTo(xp, 0); Elementwise.UnaryReference<T>(xp, yp);
            float[] Wide(Action<float[]> f) { var d = new float[n]; f(d); return d[..x.Length]; }
            yield return ("avx512", Wide(d => Elementwise.UnaryBackward<T, Vec512>(xp, yp, gp, d)));
            yield return ("avx2", Wide(d => Elementwise.UnaryBackward<T, Vec256>(xp, yp, gp, d)));
            yield return ("vector", Wide(d => Elementwise.UnaryBackward<T, VecT>(xp, yp, gp, d)));
        }
        yield return ("engine", Grad(op, x, Device.Cpu));
        yield return ("gpu", Grad(op, x, GpuTestDevice.Device));
    }

    static float[] Grad(Func<Tensor, Tensor> op, float[] x, Device device)
    {
        var t = Tensor.FromArray(x, x.Length).To(device).RequireGrad();
        op(t).Sum().Backward();
        return t.Grad!.ToArray();
    }

    static void Check<T>(Func<Tensor, Tensor> op, float[] x, float[] expected, float tol = 0) where T : IUnaryOp
    {
        foreach (var (path, d) in Derivatives<T>(x, op))
            for (int i = 0; i < x.Length; i++)
            {
                bool same = float.IsNaN(expected[i]) ? float.IsNaN(d[i]) : d[i] == expected[i] || Math.Abs(d[i] - expected[i]) <= tol;
                Assert.That(same, $"{typeof(T).Name} [{path}]: derivative at {x[i]:R} is {d[i]:R}, expected {expected[i]:R}");
            }
    }

    [Test]
    public void Relu_derivative_is_zero_at_zero_and_passes_NaN() =>
        Check<ReluOp>(t => t.Relu(), [0f, -0f, 1f, -1f, Inf, -Inf, float.NaN], [0, 0, 1, 0, 1, 0, 1]);

    [Test]
    public void Abs_derivative_is_the_sign_and_zero_at_zero() =>
        Check<AbsOp>(t => t.Abs(), [0f, -0f, 2f, -2f, Inf, -Inf], [0, 0, 1, -1, 1, -1]);

    [Test]
    public void Sqrt_and_log_derivatives_are_infinite_at_zero() 
    {
        Check<SqrtOp>(t => t.Sqrt(), [0f, 4f, Inf], [Inf, 0.25f, 0]);
        Check<LogOp>(t => t.Log(), [0f, 2f, Inf], [Inf, 0.5f, 0]);
    }

    [Test]
    public void Saturating_ops_have_zero_derivative_at_infinity_not_NaN()
    {
        Check<ExpOp>(t => t.Exp(), [-Inf, 0f], [0, 1]);
        Check<TanhOp>(t => t.Tanh(), [-Inf, Inf, 0f, 1e-20f], [0, 0, 1, 1]);
        Check<SigmoidOp>(t => t.Sigmoid(), [-Inf, Inf, 0f, -200f], [0, 0, 0.25f, 0]);
        Check<SoftplusOp>(t => t.Softplus(), [-Inf, Inf, 0f, 100f], [0, 1, 0.5f, 1]);
        Check<SiluOp>(t => t.Silu(), [0f, 100f, -100f], [0.5f, 1, 0], tol: 1e-7f);   // the portable width's exp (the runtime's) is 1 − 6·10⁻⁸ at 0
        Check<GeluTanhOp>(t => t.Gelu(tanhApproximation: true), [0f, 50f, -50f], [0.5f, 1, 0], tol: 1e-7f);
        Check<GeluOp>(t => t.Gelu(), [0f, 50f, -50f], [0.5f, 1, 0], tol: 1e-7f);
    }

    static IEnumerable<Device> Devices() => [Device.Cpu, GpuTestDevice.Device];

    [TestCaseSource(nameof(Devices))]
    public void Clamp_passes_the_gradient_at_its_bounds_and_leaky_relu_takes_the_slope_at_zero(Device device)
    {
        Assert.That(Grad(t => t.Clamp(-1f, 2f), [-1f, 2f, 0.5f, -3f, 5f], device), Is.EqualTo(new[] { 1f, 1f, 1f, 0f, 0f }));
        Assert.That(Grad(t => t.LeakyRelu(0.25f), [0f, -0f, 1f, -1f], device), Is.EqualTo(new[] { 0.25f, 0.25f, 1f, 0.25f }));
    }

    [TestCaseSource(nameof(Devices))]
    public void Maximum_and_minimum_split_the_gradient_on_ties(Device device)
    {
        foreach (var (op, ga, gb) in new (Func<Tensor, Tensor, Tensor>, float[], float[])[]
        {
            (Tensor.Maximum, [0.5f, 1f, 0f], [0.5f, 0f, 1f]),
            (Tensor.Minimum, [0.5f, 0f, 1f], [0.5f, 1f, 0f]),
        })
        {
            var a = Tensor.FromArray([2f, 3f, 1f], 3).To(device).RequireGrad();
            var b = Tensor.FromArray([2f, 1f, 3f], 3).To(device).RequireGrad();
            op(a, b).Sum().Backward();
            Assert.That(a.Grad!.ToArray(), Is.EqualTo(ga));
            Assert.That(b.Grad!.ToArray(), Is.EqualTo(gb));
        }
    }

    [TestCaseSource(nameof(Devices))]
    public void Pow_gradients_at_zero_follow_pytorch(Device device)
    {
        Assert.That(Grad(t => t.Pow(0f), [0f, 2f], device), Is.EqualTo(new[] { 0f, 0f }));
        Assert.That(Grad(t => t.Pow(2f), [0f, 3f], device), Is.EqualTo(new[] { 0f, 6f }));
        Assert.That(Grad(t => t.Pow(0.5f), [0f], device), Is.EqualTo(new[] { Inf }));
        var a = Tensor.FromArray([0f, 0f, 2f], 3).To(device).RequireGrad();
        var b = Tensor.FromArray([0f, 2f, 3f], 3).To(device).RequireGrad();
        Tensor.Pow(a, b).Sum().Backward();
        Assert.That(a.Grad!.ToArray(), Is.EqualTo(new[] { 0f, 0f, 12f }));
        Assert.That(b.Grad!.ToArray()[..2], Is.EqualTo(new[] { 0f, 0f }));
        Assert.That(b.Grad!.ToArray()[2], Is.EqualTo(8 * MathF.Log(2f)).Within(1e-5f));
    }

    [TestCaseSource(nameof(Devices))]
    public void Max_reduction_sends_the_gradient_to_the_first_maximum(Device device) =>
        Assert.That(Grad(t => t.Max(), [1f, 3f, 3f, 2f], device), Is.EqualTo(new[] { 0f, 1f, 0f, 0f }));

    [TestCaseSource(nameof(Devices))]
    public void LogSumExp_keeps_infinite_rows_infinite(Device device)
    {
        float ninf = float.NegativeInfinity;
        var x = Tensor.FromArray([ninf, ninf, ninf, 1f, Inf, 2f, ninf, 0f, ninf, float.NaN, 1f, 2f], 4, 3).To(device);
        var y = x.LogSumExp(1).ToArray();
        Assert.That(y[0], Is.EqualTo(ninf));
        Assert.That(y[1], Is.EqualTo(Inf));
        Assert.That(y[2], Is.EqualTo(0f));
        Assert.That(y[3], Is.NaN);
    }
}
