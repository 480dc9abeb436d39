using Engine.Autograd;
using Engine.Data;
using Engine.Random;
using Models.FlowMatching;

namespace Engine.Tests;

public sealed class FlowMatchingTests
{
    /// <summary>The linear field v(x) = x·Aᵀ, whose flow maps x₀ to x₀·exp(A)ᵀ and whose divergence is tr A.</summary>
    sealed class LinearField(float[] a) : IVelocityField
    {
        readonly Tensor matrix = Tensor.FromArray(a, 2, 2);
        public int NullClass => -1;
        public IEnumerable<Tensor> Parameters() => [];
        public Tensor Forward(Tensor x, float[] t, int[]? labels) => Tensor.MatMul(x, matrix.T);
    }

    [Test]
    public void Continuous_flow_log_likelihood_matches_the_change_of_variables_of_a_linear_flow()
    {
        // A = [[0.3, 0.5], [−0.2, −0.1]]: x₁ = exp(A)x₀, log p₁(x₁) = log N(exp(−A)x₁) − tr A.
        var field = new LinearField([0.3f, 0.5f, -0.2f, -0.1f]);
        var g = new Generator(4);
        var x1 = Tensor.Randn([5, 2], g);
        var options = new OdeOptions(OdeMethod.Rk4, 40);
        var x0 = OdeSolver.Solve((t, x) => field.Forward(x, [], null), x1, 1, 0, options).X;
        var expected = (Models.Flows.StandardNormal.LogProb(x0) - 0.2f).ToArray();
        var exact = ContinuousFlow.LogProb(field, x1, options, Divergence.Exact).ToArray();
        for (int i = 0; i < 5; i++) Assert.That(exact[i], Is.EqualTo(expected[i]).Within(1e-4f));

        // Hutchinson: unbiased; εᵀAε with Rademacher ε is tr A ± (a₁₂ + a₂₁), so its mean over many draws is close.
        var many = x1.Narrow(0, 0, 1).Expand(2000, 2).Contiguous();
        var estimates = ContinuousFlow.LogProb(field, many, options, Divergence.Hutchinson, new Generator(1)).ToArray();
        Assert.That(estimates.Average(), Is.EqualTo(expected[0]).Within(0.03));
        Assert.That(estimates.Max() - estimates.Min(), Is.GreaterThan(0.1f), "single estimates vary");
    }

    [Test]
    public void Continuous_flow_refuses_to_run_without_gradients()
    {
        var field = new LinearField([1, 0, 0, 1]);
        using var _ = GradMode.NoGrad();
        Assert.Throws<InvalidOperationException>(() => ContinuousFlow.LogProb(field, Tensor.Zeros([1, 2]), new OdeOptions(), Divergence.Exact));
    }

    [Test]
    public void Interpolation_goes_from_noise_to_data_and_straight_fields_have_zero_straightness()
    {
        var x0 = Tensor.FromArray([0f, 0f, 1f, 1f], 2, 2);
        var x1 = Tensor.FromArray([2f, 4f, 3f, -1f], 2, 2);
        Assert.That(ConditionalFlowMatching.Interpolate(x0, x1, [0f, 1f]).ToArray(), Is.EqualTo(new float[] { 0, 0, 3, -1 }));
        Assert.That(ConditionalFlowMatching.Interpolate(x0, x1, [0.5f, 0.25f]).ToArray(), Is.EqualTo(new float[] { 1, 2, 1.5f, 0.5f }));

        var constant = new LinearField([0, 0, 0, 0]);
        Assert.That(ConditionalFlowMatching.Straightness(constant, x1, 8), Is.EqualTo(0).Within(1e-12));
        var rotation = new LinearField([0, -1, 1, 0]);                           // circles: far from straight
        Assert.That(ConditionalFlowMatching.Straightness(rotation, x1, 8), Is.GreaterThan(0.5));
    }

    [Test]
    public void Flow_matching_learns_eight_gaussians_and_samples_improve_with_steps()
    {
        var g = new Generator(0);
        var field = new MlpVelocityField(2, 64, g);
        var trainer = new FlowMatchingTrainer(field, 3e-3f, 300, seed: 1);
        var losses = new List<float>();
        for (int i = 0; i < 300; i++) losses.Add(trainer.Step(Toy2D.EightGaussians(256, g)));
        double first = losses.Take(20).Average(), last = losses.Skip(280).Average();
        var data = Toy2D.EightGaussians(1000, new Generator(50));
        var noise = Tensor.Randn([1000, 2], new Generator(51));
        double Sw(OdeOptions o) => SlicedWasserstein.Distance(ConditionalFlowMatching.Sample(field, noise, o).X, data, 64, new Generator(3));
        double sw1 = Sw(new OdeOptions(OdeMethod.Euler, 1)), sw20 = Sw(new OdeOptions(OdeMethod.Euler, 20)), swNoise = SlicedWasserstein.Distance(noise, data, 64, new Generator(3));
        TestContext.Out.WriteLine($"loss {first:F3} → {last:F3}; sliced W1 noise {swNoise:F3}, 1 Euler step {sw1:F3}, 20 steps {sw20:F3}");
        Assert.That(last, Is.LessThan(first * 0.8));
        Assert.That(sw20, Is.LessThan(sw1));
        Assert.That(sw20, Is.LessThan(swNoise * 0.3));
    }

    [Test]
    public void Flow_matching_trainer_averages_the_weights_it_is_given()
    {
        var g = new Generator(4);
        var field = new MlpVelocityField(2, 16, g);
        var same = new FlowMatchingTrainer(field, 1e-2f, 10, seed: 1, emaOf: field, emaDecay: 0f);     // decay 0: the average is the weights
        for (int i = 0; i < 3; i++) same.Step(Toy2D.EightGaussians(32, g));
        foreach (var (name, w) in field.StateDict()) Assert.That(same.Ema!.StateDict()[name].ToArray(), Is.EqualTo(w.ToArray()), name);

        var start = field.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
        var slow = new FlowMatchingTrainer(field, 1e-2f, 10, seed: 2, emaOf: field, emaDecay: 0.999f);
        for (int i = 0; i < 3; i++) slow.Step(Toy2D.EightGaussians(32, g));
        // With the warm-up decay min(0.999, (1 + n)/(10 + n)) the average lies strictly between the start and the weights now.
        var w0 = start["output.weight"];
        var now = field.StateDict()["output.weight"].ToArray();
        var avg = slow.Ema!.StateDict()["output.weight"].ToArray();
        int between = Enumerable.Range(0, avg.Length).Count(i => now[i] != w0[i] && Math.Min(now[i], w0[i]) < avg[i] && avg[i] < Math.Max(now[i], w0[i]));
        Assert.That(between, Is.GreaterThan(avg.Length / 2));
        Assert.That(new FlowMatchingTrainer(field, 1e-2f, 10, seed: 3).Ema, Is.Null);
    }

    [Test]
    public void Reflow_pairs_come_from_the_flow_and_guidance_mixes_the_two_passes()
    {
        var field = new LinearField([0.5f, 0, 0, 0.5f]);
        var (x0, x1, labels) = Reflow.Pairs(field, 7, [2], new OdeOptions(OdeMethod.Rk4, 10), new Generator(2), batch: 3);
        Assert.That(labels, Is.Null);
        var a = x0.ToArray(); var b = x1.ToArray();
        for (int i = 0; i < a.Length; i++) Assert.That(b[i], Is.EqualTo(a[i] * MathF.Exp(0.5f)).Within(1e-4f));

        var g = new Generator(3);
        var cond = new MlpVelocityField(2, 8, g, classes: 3);
        var x = Tensor.Randn([4, 2], g);
        int[] lab = [0, 1, 2, 0];
        using var _ = GradMode.NoGrad();
        var vc = cond.Forward(x, [0.3f, 0.3f, 0.3f, 0.3f], lab);
        var vu = cond.Forward(x, [0.3f, 0.3f, 0.3f, 0.3f], [3, 3, 3, 3]);
        var guided = ConditionalFlowMatching.Velocity(cond, x, 0.3, lab, 2.5f).ToArray();
        var c = vc.ToArray(); var u = vu.ToArray();
        for (int i = 0; i < guided.Length; i++) Assert.That(guided[i], Is.EqualTo(u[i] + 2.5f * (c[i] - u[i])).Within(1e-5f));
    }

    [Test]
    public void Sliced_Wasserstein_is_zero_for_identical_sets_and_the_shift_for_shifted_ones()
    {
        var g = new Generator(8);
        var a = Tensor.Randn([200, 2], g);
        Assert.That(SlicedWasserstein.Distance(a, a, 16, new Generator(1)), Is.EqualTo(0).Within(1e-12));
        var shifted = a + Tensor.FromArray([3f, 0f], 2);
        // Projections of a shift by s along a random direction u move by s·u₁; E|u₁| over the circle is 2/π.
        Assert.That(SlicedWasserstein.Distance(a, shifted, 4000, new Generator(1)), Is.EqualTo(3 * 2 / Math.PI).Within(0.05));
        Assert.Throws<ShapeMismatchException>(() => SlicedWasserstein.Distance(a, Tensor.Zeros([10, 2]), 4, g));
    }
}
