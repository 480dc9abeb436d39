using Engine;

namespace Models.Vae;

/// <summary>
/// The discretised logistic likelihood of 8-bit data (PixelCNN++, Salimans et al., 2017): pixel values scaled to
/// [−1, 1] fall in 256 bins of width 2/255; the probability of a bin is the logistic CDF's increase across it,
/// with the two end bins stretched to ±∞ so the 256 probabilities sum to one. It is a discrete likelihood, so its
/// negative log converts to bits/dim without a dequantisation term.
/// </summary>
public static class DiscretizedLogistic
{
    const float HalfBin = 1f / 255f;

    /// <summary>
    /// log P(x) per element for x on the grid {−1, −1 + 2/255, …, 1}, logistic mean <paramref name="mean"/> and
    /// log-scale <paramref name="logScale"/> (all the same shape). Differentiable in mean and logScale.
    /// </summary>
    public static Tensor LogProb(Tensor x, Tensor mean, Tensor logScale)
    {
        if (!Shapes.SameShape(x.Shape, mean.Shape) || !Shapes.SameShape(x.Shape, logScale.Shape))
            throw new ShapeMismatchException($"DiscretizedLogistic: x {Shapes.Format(x.Shape)}, mean {Shapes.Format(mean.Shape)} and log-scale {Shapes.Format(logScale.Shape)} must have one shape");
        var centered = x - mean;
        var inverseScale = (-logScale).Exp();
        var plusIn = inverseScale * (centered + HalfBin);
        var minIn = inverseScale * (centered - HalfBin);
        var logCdfPlus = plusIn - plusIn.Softplus();                 // log σ(plus): the lowest bin, (−∞, −1 + 1/255]
        var logOneMinusCdfMin = -minIn.Softplus();                   // log(1 − σ(min)): the highest bin, [1 − 1/255, ∞)
        var cdfDelta = plusIn.Sigmoid() - minIn.Sigmoid();
        var midIn = inverseScale * centered;
        var logPdfMid = midIn - logScale - 2f * midIn.Softplus();  // log density at the bin centre, for bins too thin to difference
        var inner = Tensor.Where(cdfDelta.Gt(1e-5f), cdfDelta.Clamp(min: 1e-12f).Log(), logPdfMid + MathF.Log(2f * HalfBin));
        return Tensor.Where(x.Lt(-1f + HalfBin), logCdfPlus, Tensor.Where(x.Gt(1f - HalfBin), logOneMinusCdfMin, inner));
    }
}
