namespace Engine.Optim;

/// <summary>A learning rate as a function of the step index (0 for the first step). Set one as <see cref="Optimizer.Schedule"/>.</summary>
public interface ILrSchedule
{
    /// <summary>The learning rate for step <paramref name="step"/> (0-based).</summary>
    float At(int step);
}

/// <summary>Factories for the usual schedules.</summary>
/// <example><c>opt.Schedule = LrSchedule.Cosine(3e-4f, totalSteps: 20_000, warmupSteps: 1_000, minLr: 1e-5f);</c></example>
public static class LrSchedule
{
    public static ILrSchedule Constant(float lr) => new ConstantLr(lr);
    public static ILrSchedule LinearWarmup(float lr, int warmupSteps) => new LinearWarmupLr(lr, warmupSteps);
    public static ILrSchedule Cosine(float lr, int totalSteps, int warmupSteps = 0, float minLr = 0f) => new CosineLr(lr, totalSteps, warmupSteps, minLr);

    /// <summary>The warm-up factor (step + 1) / warmupSteps for step &lt; warmupSteps, else 1: the first step is not wasted at lr 0.</summary>
    internal static double Warmup(int step, int warmupSteps) => step < warmupSteps ? (step + 1.0) / warmupSteps : 1.0;

    internal static void CheckStep(int step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), $"LrSchedule: step must be non-negative, got {step}");
    }

    internal static void CheckLr(string op, float lr, string name = "lr")
    {
        if (!(lr >= 0f) || float.IsInfinity(lr)) throw new ArgumentOutOfRangeException(name, $"{op}: {name} must be finite and non-negative, got {lr}");
    }
}

/// <summary>The same learning rate at every step.</summary>
public sealed class ConstantLr : ILrSchedule
{
    public float Lr { get; }

    public ConstantLr(float lr) { LrSchedule.CheckLr("ConstantLr", lr); Lr = lr; }

    public float At(int step) { LrSchedule.CheckStep(step); return Lr; }
}

/// <summary>Rises linearly to <c>lr</c>: lr·(step + 1)/warmupSteps for the first warmupSteps steps, then lr.</summary>
public sealed class LinearWarmupLr : ILrSchedule
{
    public float Lr { get; }
    public int WarmupSteps { get; }

    public LinearWarmupLr(float lr, int warmupSteps)
    {
        LrSchedule.CheckLr("LinearWarmupLr", lr);
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), $"LinearWarmupLr: warm-up steps must be non-negative, got {warmupSteps}");
        (Lr, WarmupSteps) = (lr, warmupSteps);
    }

    public float At(int step)
    {
        LrSchedule.CheckStep(step);
        return (float)(Lr * LrSchedule.Warmup(step, WarmupSteps));
    }
}

/// <summary>
/// Linear warm-up to <c>lr</c> over <c>warmupSteps</c>, then a half cosine from lr down to <c>minLr</c> at
/// <c>totalSteps</c>, and minLr after that:
/// lr(s) = minLr + ½(lr − minLr)(1 + cos(π·(s − warmup)/(total − warmup))).
/// </summary>
public sealed class CosineLr : ILrSchedule
{
    public float Lr { get; }
    public int TotalSteps { get; }
    public int WarmupSteps { get; }
    public float MinLr { get; }

    public CosineLr(float lr, int totalSteps, int warmupSteps = 0, float minLr = 0f)
    {
        LrSchedule.CheckLr("CosineLr", lr);
        LrSchedule.CheckLr("CosineLr", minLr, nameof(minLr));
        if (minLr > lr) throw new ArgumentOutOfRangeException(nameof(minLr), $"CosineLr: min lr {minLr} is above lr {lr}");
        if (warmupSteps < 0 || totalSteps <= warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), $"CosineLr: need 0 ≤ warm-up steps < total steps, got warm-up {warmupSteps}, total {totalSteps}");
        (Lr, TotalSteps, WarmupSteps, MinLr) = (lr, totalSteps, warmupSteps, minLr);
    }

    public float At(int step)
    {
        LrSchedule.CheckStep(step);
        if (step < WarmupSteps) return (float)(Lr * LrSchedule.Warmup(step, WarmupSteps));
        if (step >= TotalSteps) return MinLr;
        double progress = (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps);
        return (float)(MinLr + 0.5 * (Lr - MinLr) * (1 + Math.Cos(Math.PI * progress)));
    }
}
