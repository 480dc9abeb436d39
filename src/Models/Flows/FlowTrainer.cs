using Engine;
using Engine.Optim;

namespace Models.Flows;

/// <summary>Maximum-likelihood training of a <see cref="NormalizingFlow"/>: minimises the mean NLL with AdamW, a cosine schedule and gradient clipping.</summary>
public sealed class FlowTrainer
{
    readonly AdamW optimizer;

    public NormalizingFlow Flow { get; }

    /// <summary>The optimizer, for run checkpoints.</summary>
    public AdamW Optimizer => optimizer;
    public int StepCount => optimizer.StepCount;

    public FlowTrainer(NormalizingFlow flow, float lr, int totalSteps, float weightDecay = 0f)
    {
        Flow = flow;
        optimizer = new AdamW(flow.Parameters(), lr: lr, weightDecay: weightDecay)
        {
            Schedule = LrSchedule.Cosine(lr, Math.Max(1, totalSteps), warmupSteps: Math.Min(100, totalSteps / 10), minLr: lr * 0.05f),
        };
    }

    /// <summary>One update on <paramref name="x"/>; returns the mean NLL in nats per sample.</summary>
    public float Step(Tensor x)
    {
        var loss = -Flow.LogProb(x).Mean();
        float value = loss.Item();
        if (!float.IsFinite(value)) throw new NonFiniteException($"FlowTrainer: NLL is {value} at step {StepCount}");
        optimizer.ZeroGrad();
        loss.Backward();
        GradClip.ClipGradNorm(Flow.Parameters(), 5.0);
        optimizer.Step();
        return value;
    }
}
