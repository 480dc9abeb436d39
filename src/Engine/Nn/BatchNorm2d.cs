namespace Engine.Nn;

/// <summary>
/// PyTorch's <c>nn.BatchNorm2d</c>: weight (C) = 1, bias (C) = 0, and buffers <c>running_mean</c> (0),
/// <c>running_var</c> (1) and <c>num_batches_tracked</c>. In training mode it normalises by batch statistics and
/// updates the running ones with <see cref="Momentum"/>; after <see cref="Module.Eval"/> it uses the running ones.
/// </summary>
/// <example><c>var bn = new BatchNorm2d(64); bn.Eval();</c></example>
public sealed class BatchNorm2d : Layer
{
    public float Eps { get; }
    public float Momentum { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor? RunningMean { get; }
    public Tensor? RunningVar { get; }
    /// <summary>Training batches seen (a float scalar; PyTorch stores an int64).</summary>
    public Tensor? NumBatchesTracked { get; }

    public BatchNorm2d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
    {
        if (numFeatures < 1) throw new ShapeMismatchException($"BatchNorm2d: feature count must be ≥ 1, got {numFeatures}");
        Eps = eps; Momentum = momentum;
        if (affine)
        {
            Weight = Parameter("weight", Tensor.Ones([numFeatures]));
            Bias = Parameter("bias", Tensor.Zeros([numFeatures]));
        }
        if (trackRunningStats)
        {
            RunningMean = Buffer("running_mean", Tensor.Zeros([numFeatures]));
            RunningVar = Buffer("running_var", Tensor.Ones([numFeatures]));
            NumBatchesTracked = Buffer("num_batches_tracked", Tensor.Zeros([]));
        }
    }

    /// <summary>(N, C, H, W) → same shape. Without running statistics it always uses the batch's.</summary>
    public override Tensor Forward(Tensor x)
    {
        bool useBatch = Training || RunningMean is null;
        if (Training && NumBatchesTracked is not null)
            using (Autograd.GradMode.NoGrad()) NumBatchesTracked.CopyFrom(NumBatchesTracked + 1f);
        return Tensor.BatchNorm2d(x, RunningMean, RunningVar, Weight, Bias, useBatch, Momentum, Eps);
    }
}
