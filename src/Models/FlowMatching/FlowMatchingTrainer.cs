using Engine;
using Engine.Autograd;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;

namespace Models.FlowMatching;

/// <summary>
/// Trains a vector field by conditional flow matching with AdamW and a cosine schedule. With pairs given
/// (<see cref="Step(Tensor, int[], Tensor)"/>'s x0) it trains on fixed couplings: the reflow of rectified flow.
/// Given the field's module, it also keeps an exponential moving average of the weights (<see cref="Ema"/>), the
/// weights to sample with.
/// </summary>
public sealed class FlowMatchingTrainer
{
    readonly AdamW optimizer;

    public IVelocityField Field { get; }

    /// <summary>The optimizer, for run checkpoints.</summary>
    public AdamW Optimizer => optimizer;
    public Generator Rng { get; }
    public float LabelDrop { get; }
    public int StepCount => optimizer.StepCount;

    /// <summary>The average of the weights when the trainer was given a module and a decay, else null.</summary>
    public Ema? Ema { get; }

    readonly Module? averaged;

    public FlowMatchingTrainer(IVelocityField field, float lr, int totalSteps, ulong seed, float labelDrop = 0f, float weightDecay = 0f,
        Module? emaOf = null, float emaDecay = 0.999f)
    {
        if (emaOf is not null)
        {
            averaged = emaOf;
            Ema = new Ema(emaOf, emaDecay);
        }
        Field = field;
        Rng = new Generator(seed);
        LabelDrop = labelDrop;
        optimizer = new AdamW(field.Parameters(), lr: lr, weightDecay: weightDecay)
        {
            Schedule = LrSchedule.Cosine(lr, Math.Max(1, totalSteps), warmupSteps: Math.Min(100, totalSteps / 10), minLr: lr * 0.05f),
        };
    }

    /// <summary>One update on data <paramref name="x1"/> (and optionally fixed noise partners <paramref name="x0"/>); returns the loss.</summary>
    public float Step(Tensor x1, int[]? labels = null, Tensor? x0 = null)
    {
        using var scope = new DeviceScope();                                      // the step's tensors are recycled for the next step
        var loss = ConditionalFlowMatching.SampledLoss(Field, x1, labels, Rng, LabelDrop, x0);
        float value = loss.Item();
        if (!float.IsFinite(value)) throw new NonFiniteException($"FlowMatchingTrainer: loss is {value} at step {StepCount}");
        optimizer.ZeroGrad();
        loss.Backward();
        GradClip.ClipGradNorm(Field.Parameters(), 1.0);
        optimizer.Step();
        if (averaged is not null) Ema!.Update(averaged, Ema.WarmedUp(Ema.Decay, StepCount));
        return value;
    }
}

/// <summary>Rectified flow's reflow: couplings (x₀, x₁ = ODE(x₀)) drawn from a trained flow, to train the next, straighter one on.</summary>
public static class Reflow
{
    /// <summary><paramref name="n"/> pairs (noise, generated sample) of per-sample shape <paramref name="shape"/>, solved in batches.</summary>
    public static (Tensor X0, Tensor X1, int[]? Labels) Pairs(IVelocityField field, int n, int[] shape, OdeOptions options, Generator g,
        int batch = 1000, int classes = 0, float guidance = 1f)
    {
        var x0 = Tensor.Randn([n, .. shape], g);
        int[]? labels = classes > 0 ? Enumerable.Range(0, n).Select(_ => g.NextInt(classes)).ToArray() : null;
        var parts = new List<Tensor>();
        using var _ = GradMode.NoGrad();
        for (int i = 0; i < n; i += batch)
        {
            int b = Math.Min(batch, n - i);
            var lab = labels?.AsSpan(i, b).ToArray();
            parts.Add(ConditionalFlowMatching.Sample(field, x0.Narrow(0, i, b).Contiguous(), options, lab, guidance).X);
        }
        return (x0, Tensor.Cat([.. parts], 0), labels);
    }
}
