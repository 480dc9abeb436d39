using Engine.Autograd;

namespace Engine;

// Batch normalisation over (N, C, H, W): one mean and variance per channel, over the batch and the plane.
// Training uses the batch statistics (and updates the running buffers); evaluation uses the running ones.
// The loops are the backend's batch-norm primitives.
public sealed partial class Tensor
{
    /// <summary>
    /// PyTorch's <c>batch_norm</c> for (N, C, H, W) input. With <paramref name="training"/> it normalises by the
    /// batch mean and biased variance and, when buffers are given, updates them in place:
    /// running = (1 − momentum)·running + momentum·batch (the variance unbiased). Otherwise it normalises by the
    /// running buffers, which must then be given. <paramref name="weight"/> and <paramref name="bias"/> are (C) or null.
    /// </summary>
    public static Tensor BatchNorm2d(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, float momentum = 0.1f, float eps = 1e-5f)
    {
        const string op = "BatchNorm2d";
        if (x.Rank != 4) throw new ShapeMismatchException($"{op}: input must be (N, C, H, W), got {Shapes.Format(x.Shape)}");
        int n = x.Shape[0], c = x.Shape[1], s = x.Shape[2] * x.Shape[3];
        CheckAffine(op, x, weight, bias, c);
        CheckPerChannel(op, x, c, ("running mean", runningMean), ("running variance", runningVar));
        if ((runningMean is null) != (runningVar is null))
            throw new ArgumentException($"{op}: give both running mean and running variance, or neither");
        if (!training && runningMean is null)
            throw new ArgumentException($"{op}: evaluation mode needs the running mean and variance");
        int count = n * s;
        if (training && count <= 1)
            throw new ShapeMismatchException($"{op}: training needs more than one value per channel, input {Shapes.Format(x.Shape)} has {count}");
        Device.Common(op, [x, .. new[] { weight, bias, runningMean, runningVar }.OfType<Tensor>()]);

        var xc = x.Contiguous(); var wc = weight?.Contiguous(); var bc = bias?.Contiguous();
        var backend = x.Backend;
        var mean = Uninitialized([c], x.Device); var rstd = Uninitialized([c], x.Device);
        if (training) backend.BatchNormTrainStats(n, c, s, momentum, eps, xc, runningMean?.Contiguous(), runningVar?.Contiguous(), mean, rstd);
        else backend.BatchNormEvalStats(c, eps, runningMean!.Contiguous(), runningVar!.Contiguous(), mean, rstd);

        var y = Uninitialized(x.Shape, x.Device);                                    // the kernel writes every element
        backend.BatchNormForward(n, c, s, xc, mean, rstd, wc, bc, y);

        Tensor[] inputs = [xc, .. new[] { wc, bc }.OfType<Tensor>()];
        return Backprop.Record(op, y, inputs, g =>
        {
            // Training: dx = rstd·w·(g − mean(g) − x̂·mean(g·x̂)); evaluation: the statistics are constants.
            var dx = xc.RequiresGrad ? Zeros(xc.Shape, xc.Device) : null;
            var dw = wc is { RequiresGrad: true } ? Zeros(wc.Shape, wc.Device) : null;
            var db = bc is { RequiresGrad: true } ? Zeros(bc.Shape, bc.Device) : null;
            backend.BatchNormBackward(n, c, s, training, xc, mean, rstd, wc, g.Contiguous(), dx, dw, db);
            if (dx is not null) Backprop.AccumulateFresh(xc, dx);
            if (dw is not null) Backprop.AccumulateFresh(wc!, dw);
            if (db is not null) Backprop.AccumulateFresh(bc!, db);
        }, $"training={training}, momentum={momentum}, eps={eps}");
    }

    /// <summary>The composed twin of <see cref="BatchNorm2d"/>'s output (no buffer update), built from primitives (for tests).</summary>
    public static Tensor BatchNorm2dComposed(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, bool training, float eps = 1e-5f)
    {
        int c = x.Shape[1];
        Tensor mean, variance;
        if (training)
        {
            mean = x.Mean([0, 2, 3], keepDim: true);                         // (1, C, 1, 1)
            variance = (x - mean).Square().Mean([0, 2, 3], keepDim: true);
        }
        else
        {
            mean = runningMean!.Detach().Reshape(1, c, 1, 1);
            variance = runningVar!.Detach().Reshape(1, c, 1, 1);
        }
        var y = (x - mean) / (variance + eps).Sqrt();
        if (weight is not null) y = y * weight.Reshape(1, c, 1, 1);
        if (bias is not null) y = y + bias.Reshape(1, c, 1, 1);
        return y;
    }
}
