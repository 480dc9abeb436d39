using Engine;
using Engine.Autograd;
using Engine.Random;

namespace Models.Dit;

/// <summary>How training draws the flow time t ∈ (0, 1).</summary>
public enum FlowTimeSampling { Uniform, LogitNormal }

/// <summary>
/// The rectified-flow objective (Liu et al. 2022; SD3's convention): the straight path x_t = (1 − t)·x₀ + t·ε from
/// data (t = 0) to noise (t = 1), a network regressing its constant velocity v = ε − x₀, and Euler integration
/// from t = 1 back to 0 to sample. Independent of any network: the model is a <see cref="VelocityField"/>.
/// </summary>
public static class RectifiedFlow
{
    /// <summary>A network's velocity prediction at x_t (B, ...) and times t (B) in [0, 1].</summary>
    public delegate Tensor VelocityField(Tensor xt, float[] t);

    /// <summary>x_t = (1 − t)·x₀ + t·ε, t broadcast per sample.</summary>
    public static Tensor Interpolate(Tensor x0, Tensor noise, float[] t)
    {
        if (!Shapes.SameShape(x0.Shape, noise.Shape))
            throw new ShapeMismatchException($"RectifiedFlow.Interpolate: x0 {Shapes.Format(x0.Shape)} and noise {Shapes.Format(noise.Shape)} differ");
        var tt = PerSample(t, x0);
        return (1f - tt) * x0 + tt * noise;
    }

    /// <summary>The regression target, the velocity of the straight path: ε − x₀.</summary>
    public static Tensor VelocityTarget(Tensor x0, Tensor noise) => noise - x0;

    /// <summary>Mean squared error between the predicted and the true velocity at x_t.</summary>
    public static Tensor Loss(VelocityField model, Tensor x0, Tensor noise, float[] t)
    {
        var v = model(Interpolate(x0, noise, t), t);
        var target = VelocityTarget(x0, noise);
        if (!Shapes.SameShape(v.Shape, target.Shape))
            throw new ShapeMismatchException($"RectifiedFlow.Loss: the model returned {Shapes.Format(v.Shape)} for inputs {Shapes.Format(x0.Shape)}");
        return (v - target).Square().Mean();
    }

    /// <summary>
    /// n training times: uniform in (0, 1), or logit-normal, t = sigmoid(m + s·n) with n ~ N(0, 1) (SD3 uses m = 0,
    /// s = 1), which puts more weight on the middle of the path where the velocity is hardest to predict.
    /// </summary>
    public static float[] SampleTimes(int n, Generator g, FlowTimeSampling kind, float mean = 0f, float std = 1f)
    {
        var t = new float[n];
        if (kind == FlowTimeSampling.Uniform) g.FillUniform(t, 1e-5f, 1f - 1e-5f);
        else
        {
            g.FillNormal(t, mean, std);
            for (int i = 0; i < n; i++) t[i] = 1f / (1f + MathF.Exp(-t[i]));
        }
        return t;
    }

    /// <summary>SD3's timestep shift: t' = s·t / (1 + (s − 1)·t); s &gt; 1 spends more sampling steps at high noise.</summary>
    public static float Shift(float t, float shift)
    {
        if (!(shift > 0)) throw new ArgumentOutOfRangeException(nameof(shift), $"RectifiedFlow.Shift: shift must be positive, got {shift}");
        return shift * t / (1 + (shift - 1) * t);
    }

    /// <summary>The steps+1 times visited by the sampler, from 1 down to 0, evenly spaced then shifted.</summary>
    public static float[] Times(int steps, float shift = 1f)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), $"RectifiedFlow: needs at least one step, got {steps}");
        return Enumerable.Range(0, steps + 1).Select(i => Shift(1f - (float)i / steps, shift)).ToArray();
    }

    /// <summary>
    /// Integrates dx/dt = v(x, t) with Euler steps from x₁ = <paramref name="noise"/> at t = 1 to t = 0 over
    /// <see cref="Times"/>; <paramref name="onStep"/> sees (step, x) after each step. Runs without gradients.
    /// </summary>
    public static Tensor SampleEuler(VelocityField model, Tensor noise, int steps, float shift = 1f, Action<int, Tensor>? onStep = null)
    {
        using var _ = GradMode.NoGrad();
        var times = Times(steps, shift);
        int b = noise.Shape[0];
        var x = noise;
        var plan = new MemoryPlan();                                              // learned on the first step: when each intermediate is done
        for (int i = 0; i < steps; i++)
        {
            using var scope = new DeviceScope(plan);                              // freed after their last use, and recycled by the next step
            var v = model(x, Enumerable.Repeat(times[i], b).ToArray());
            x = scope.Keep(x + v * (times[i + 1] - times[i]));
            onStep?.Invoke(i, x);
        }
        return x;
    }

    static Tensor PerSample(float[] t, Tensor like)
    {
        if (like.Rank == 0 || t.Length != like.Shape[0])
            throw new ShapeMismatchException($"RectifiedFlow: {t.Length} times for a batch of shape {Shapes.Format(like.Shape)}");
        var shape = Enumerable.Repeat(1, like.Rank).ToArray();
        shape[0] = t.Length;
        return Tensor.FromArray(t, shape).To(like.Device);                        // the batch's times, where the batch is
    }
}
