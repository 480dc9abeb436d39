using Engine;
using Engine.Autograd;
using Engine.Nn;
using Engine.Random;

namespace Models.FlowMatching;

/// <summary>
/// Conditional flow matching (Lipman et al. 2023; Liu et al. 2023's rectified flow) on the straight path from
/// noise x₀ (t = 0) to data x₁ (t = 1): x_t = (1 − t)·x₀ + t·x₁, whose velocity is x₁ − x₀. The network regresses
/// that velocity; the ODE dx/dt = v(x, t) then carries noise to data.
/// </summary>
public static class ConditionalFlowMatching
{
    /// <summary>x_t = (1 − t)·x₀ + t·x₁ with one t per sample.</summary>
    public static Tensor Interpolate(Tensor x0, Tensor x1, float[] t)
    {
        if (!Shapes.SameShape(x0.Shape, x1.Shape) || t.Length != x0.Shape[0])
            throw new ShapeMismatchException($"ConditionalFlowMatching: x0 {Shapes.Format(x0.Shape)}, x1 {Shapes.Format(x1.Shape)} and {t.Length} times do not match");
        var tt = Tensor.Wrap((float[])t.Clone(), [t.Length, .. Enumerable.Repeat(1, x0.Rank - 1)]).To(x0.Device);  // (B, 1, …)
        return x0 * (1f - tt) + x1 * tt;
    }

    /// <summary>‖v(x_t, t) − (x₁ − x₀)‖² averaged over all elements, for given couplings (x₀, x₁) and times.</summary>
    public static Tensor Loss(IVelocityField field, Tensor x0, Tensor x1, float[] t, int[]? labels)
    {
        var xt = Interpolate(x0, x1, t);
        return Losses.MseLoss(field.Forward(xt, t, labels), x1 - x0);
    }

    /// <summary>
    /// The loss on a data batch <paramref name="x1"/> with fresh noise, uniform times, and each label replaced by
    /// the 'no class' token with probability <paramref name="labelDrop"/> (classifier-free guidance training).
    /// When <paramref name="x0"/> is given the pairs are fixed (reflow); otherwise x₀ ~ N(0, I).
    /// </summary>
    public static Tensor SampledLoss(IVelocityField field, Tensor x1, int[]? labels, Generator g, float labelDrop = 0f, Tensor? x0 = null)
    {
        x0 ??= Tensor.Randn(x1.Shape, g);
        var t = new float[x1.Shape[0]];
        g.FillUniform(t);
        int[]? used = labels;
        if (labels is not null && labelDrop > 0f)
        {
            if (field.NullClass < 0) throw new InvalidOperationException("ConditionalFlowMatching: label dropout needs a field with a 'no class' label");
            used = labels.Select(l => g.NextFloat() < labelDrop ? field.NullClass : l).ToArray();
        }
        return Loss(field, x0, x1, t, used);
    }

    /// <summary>The classifier-free-guided velocity v_u + s·(v_c − v_u) at one time for the whole batch; s = 1 (or no labels) is one pass.</summary>
    public static Tensor Velocity(IVelocityField field, Tensor x, double t, int[]? labels, float guidance = 1f)
    {
        int b = x.Shape[0];
        var times = Enumerable.Repeat((float)t, b).ToArray();
        if (labels is null || guidance == 1f) return field.Forward(x, times, labels);
        var both = field.Forward(Tensor.Cat([x, x], 0), [.. times, .. times], [.. labels, .. Enumerable.Repeat(field.NullClass, b)]);
        var cond = both.Narrow(0, 0, b);
        var uncond = both.Narrow(0, b, b);
        return uncond + (cond - uncond) * guidance;
    }

    /// <summary>Carries noise <paramref name="x0"/> to samples by solving dx/dt = v from t = 0 to 1.</summary>
    public static OdeResult Sample(IVelocityField field, Tensor x0, OdeOptions options, int[]? labels = null, float guidance = 1f, Action<double, Tensor>? onStep = null)
    {
        using var _ = GradMode.NoGrad();
        return OdeSolver.Solve((t, x) => Velocity(field, x, t, labels, guidance), x0, 0, 1, options, onStep);
    }

    /// <summary>
    /// Straightness of the learned flow (Liu et al. 2023): S = ∫₀¹ E‖(X₁ − X₀) − v(X_t, t)‖² dt along the model's own
    /// trajectories, estimated with <paramref name="steps"/> Euler steps from <paramref name="x0"/>. Zero for
    /// perfectly straight paths (then one Euler step is exact). Per sample, summed over dimensions.
    /// </summary>
    public static double Straightness(IVelocityField field, Tensor x0, int steps, int[]? labels = null, float guidance = 1f)
    {
        if (steps <= 0) throw new ArgumentOutOfRangeException(nameof(steps), $"Straightness: steps must be positive, got {steps}");
        using var _ = GradMode.NoGrad();
        var velocities = new List<Tensor>();
        var x = x0;
        for (int k = 0; k < steps; k++)
        {
            var v = Velocity(field, x, (double)k / steps, labels, guidance);
            velocities.Add(v);
            x = x + v * (1f / steps);
        }
        var chord = x - x0;
        double sum = 0;
        foreach (var v in velocities) sum += (chord - v).Square().Sum().Item();
        return sum / steps / x0.Shape[0];
    }
}
