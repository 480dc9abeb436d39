using Engine.Autograd;

namespace Engine;

// Batch normalisation over (N, C, H, W): one mean and variance per channel, over the batch and the plane.
// Training uses the batch statistics (and updates the running buffers); evaluation uses the running ones.
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
        var xs = xc.Span;
        var mean = new float[c]; var rstd = new float[c];
        for (int ch = 0; ch < c; ch++)
        {
            double m, v;
            if (training)
            {
                double sum = 0;
                for (int i = 0; i < n; i++) foreach (var e in xs.Slice((i * c + ch) * s, s)) sum += e;
                m = sum / count;
                double sq = 0;
                for (int i = 0; i < n; i++) foreach (var e in xs.Slice((i * c + ch) * s, s)) sq += (e - m) * (e - m);
                v = sq / count;
                if (runningMean is not null && runningVar is not null)
                {
                    var rm = runningMean.Span; var rv = runningVar.Span;
                    rm[ch] = (float)((1 - momentum) * rm[ch] + momentum * m);
                    rv[ch] = (float)((1 - momentum) * rv[ch] + momentum * v * count / (count - 1));
                }
            }
            else
            {
                m = runningMean!.Contiguous().Span[ch];
                v = runningVar!.Contiguous().Span[ch];
            }
            mean[ch] = (float)m;
            rstd[ch] = (float)(1.0 / Math.Sqrt(v + eps));
        }

        var y = Zeros(x.Shape);
        {
            var ys = y.Span;
            ReadOnlySpan<float> ws = wc is null ? default : wc.Span, bs = bc is null ? default : bc.Span;
            for (int i = 0; i < n; i++)
                for (int ch = 0; ch < c; ch++)
                {
                    int b = (i * c + ch) * s;
                    float scale = rstd[ch] * (ws.IsEmpty ? 1f : ws[ch]), shift = bs.IsEmpty ? 0f : bs[ch];
                    for (int j = 0; j < s; j++) ys[b + j] = (xs[b + j] - mean[ch]) * scale + shift;
                }
        }

        Tensor[] inputs = [xc, .. new[] { wc, bc }.OfType<Tensor>()];
        return Backprop.Record(op, y, inputs, g =>
        {
            var gs = g.Span; var xv = xc.Span;
            ReadOnlySpan<float> ws = wc is null ? default : wc.Span;
            var dx = xc.RequiresGrad ? Zeros(xc.Shape) : null;
            var dw = new double[c]; var db = new double[c];
            for (int ch = 0; ch < c; ch++)
            {
                float w = ws.IsEmpty ? 1f : ws[ch], mf = mean[ch], rs = rstd[ch];
                double sumG = 0, sumGX = 0;
                for (int i = 0; i < n; i++)
                    for (int j = 0, b = (i * c + ch) * s; j < s; j++)
                    {
                        float gj = gs[b + j];
                        sumG += gj; sumGX += (double)gj * (xv[b + j] - mf) * rs;
                    }
                dw[ch] = sumGX; db[ch] = sumG;
                if (dx is null) continue;
                // Training: dx = rstd·w·(g − mean(g) − x̂·mean(g·x̂)); evaluation: the statistics are constants.
                float meanG = training ? (float)(sumG / count) : 0f, meanGX = training ? (float)(sumGX / count) : 0f;
                var ds = dx.Span;
                for (int i = 0; i < n; i++)
                    for (int j = 0, b = (i * c + ch) * s; j < s; j++)
                    {
                        float xhat = (xv[b + j] - mf) * rs;
                        ds[b + j] = rs * w * (gs[b + j] - meanG - xhat * meanGX);
                    }
            }
            if (dx is not null) Backprop.Accumulate(xc, dx);
            if (wc is not null) Backprop.Accumulate(wc, FromDoubles(dw, wc.Shape));
            if (bc is not null) Backprop.Accumulate(bc, FromDoubles(db, bc.Shape));
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
