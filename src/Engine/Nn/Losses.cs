namespace Engine.Nn;

/// <summary>How a loss turns per-element values into its result.</summary>
public enum Reduction
{
    /// <summary>The per-element values, unreduced.</summary>
    None,
    /// <summary>The mean over all elements.</summary>
    Mean,
    /// <summary>The sum over all elements.</summary>
    Sum,
}

/// <summary>
/// Losses and log-likelihoods built from differentiable primitives, each in its numerically stable form.
/// Shapes are checked up front: a mismatch is a <see cref="ShapeMismatchException"/> naming the loss and
/// both shapes. Log-likelihoods and the KL divergence default to <see cref="Reduction.Sum"/> (a total over
/// the data), the losses to <see cref="Reduction.Mean"/> as in PyTorch.
/// </summary>
/// <example><c>var loss = Losses.CrossEntropy(model.Forward(x), labels); loss.Backward();</c></example>
public static class Losses
{
    /// <summary>Squared error (pred − target)², reduced. The shapes must be equal.</summary>
    public static Tensor MseLoss(Tensor pred, Tensor target, Reduction reduction = Reduction.Mean)
    {
        SameShape("MseLoss", pred, target);
        return Reduce((pred - target).Square(), reduction);
    }

    /// <summary>
    /// Softmax cross-entropy of <paramref name="logits"/> (N, C) or (N, C, d1, …) against integer
    /// <paramref name="labels"/> (N·d1·… of them, row-major), computed as logsumexp(z) − z[label], which stays
    /// finite for any finite logits. With <paramref name="labelSmoothing"/> ε the target is (1−ε)·onehot + ε/C,
    /// as in PyTorch. A label outside [0, C) is an <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, int[] labels, float labelSmoothing = 0f, Reduction reduction = Reduction.Mean)
    {
        if (logits.Rank < 2)
            throw new ShapeMismatchException($"CrossEntropy: logits must be (N, C) or (N, C, d1, …), got {Shapes.Format(logits.Shape)}");
        int classes = logits.Shape[1];
        int positions = logits.Numel / Math.Max(classes, 1);
        if (classes == 0 || labels.Length != positions)
            throw new ShapeMismatchException($"CrossEntropy: logits {Shapes.Format(logits.Shape)} need {positions} labels (one per position outside the class axis), got {labels.Length}");
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), $"CrossEntropy: label smoothing must be in [0, 1], got {labelSmoothing}");
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), $"CrossEntropy: label {labels[i]} at position {i} is outside [0, {classes}) for logits {Shapes.Format(logits.Shape)}");

        var lse = logits.LogSumExp(1, keepDim: true);   // (N, 1, d…)
        var picked = logits.Gather(1, labels);          // (N, 1, d…)
        var loss = lse - picked;
        if (labelSmoothing > 0f)
        {
            // −Σ q_c log p_c with q = (1−ε)·onehot + ε/C: the uniform part is lse − mean_c z_c.
            var uniform = lse - logits.Mean(1, keepDim: true);
            loss = (1f - labelSmoothing) * loss + labelSmoothing * uniform;
        }
        return Reduce(loss.Squeeze(1), reduction);
    }

    /// <summary>
    /// Binary cross-entropy on logits x against targets t in [0, 1]: max(x, 0) − x·t + log(1 + e^−|x|), i.e.
    /// softplus(x) − x·t, finite for any finite x. The shapes must be equal.
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor targets, Reduction reduction = Reduction.Mean)
    {
        SameShape("BinaryCrossEntropyWithLogits", logits, targets);
        return Reduce(logits.Softplus() - logits * targets, reduction);
    }

    /// <summary>
    /// log N(x; mean, exp(logVar)) = −½(log 2π + logVar + (x − mean)² / exp(logVar)), per element or reduced.
    /// <paramref name="mean"/> and <paramref name="logVar"/> may broadcast to the shape of x (a learned scalar
    /// variance, say).
    /// </summary>
    public static Tensor GaussianLogLikelihood(Tensor x, Tensor mean, Tensor logVar, Reduction reduction = Reduction.Sum)
    {
        BroadcastsTo("GaussianLogLikelihood", "mean", mean, x);
        BroadcastsTo("GaussianLogLikelihood", "logVar", logVar, x);
        var d = x - mean;
        var perElement = -0.5f * (logVar + d.Square() * (-logVar).Exp() + MathF.Log(2f * MathF.PI));
        return Reduce(perElement, reduction);
    }

    /// <summary>
    /// log Bernoulli(x; σ(logits)) = x·l − softplus(l) for x in [0, 1] (the negative of
    /// <see cref="BinaryCrossEntropyWithLogits"/>), per element or reduced. The shapes must be equal.
    /// </summary>
    public static Tensor BernoulliLogLikelihood(Tensor logits, Tensor x, Reduction reduction = Reduction.Sum)
    {
        SameShape("BernoulliLogLikelihood", logits, x);
        return Reduce(x * logits - logits.Softplus(), reduction);
    }

    /// <summary>
    /// KL(N(mu1, e^logVar1) ‖ N(mu2, e^logVar2)) for diagonal Gaussians, per element or reduced:
    /// ½(logVar2 − logVar1 + (e^logVar1 + (mu1 − mu2)²) / e^logVar2 − 1). A missing <paramref name="mu2"/> is 0
    /// and a missing <paramref name="logVar2"/> is 0, so the default prior is the standard normal.
    /// </summary>
    /// <example><c>var kl = Losses.KlDiagonalGaussians(mu, logVar); // VAE KL term against N(0, I)</c></example>
    public static Tensor KlDiagonalGaussians(Tensor mu1, Tensor logVar1, Tensor? mu2 = null, Tensor? logVar2 = null, Reduction reduction = Reduction.Sum)
    {
        const string op = "KlDiagonalGaussians";
        SameShape(op, mu1, logVar1);
        if (mu2 is not null) BroadcastsTo(op, "mu2", mu2, mu1);
        if (logVar2 is not null) BroadcastsTo(op, "logVar2", logVar2, mu1);
        var diff = mu2 is null ? mu1 : mu1 - mu2;
        Tensor perElement = logVar2 is null
            ? 0.5f * (logVar1.Exp() + diff.Square() - 1f - logVar1)
            : 0.5f * (logVar2 - logVar1 + (logVar1.Exp() + diff.Square()) * (-logVar2).Exp() - 1f);
        return Reduce(perElement, reduction);
    }

    /// <summary>Applies <paramref name="reduction"/> to per-element values.</summary>
    public static Tensor Reduce(Tensor perElement, Reduction reduction) => reduction switch
    {
        Reduction.None => perElement,
        Reduction.Sum => perElement.Sum(),
        Reduction.Mean => perElement.Numel == 0
            ? throw new ShapeMismatchException($"Losses: the mean of an empty tensor {Shapes.Format(perElement.Shape)} is undefined")
            : perElement.Mean(),
        _ => throw new ArgumentOutOfRangeException(nameof(reduction), $"Losses: unknown reduction {reduction}"),
    };

    static void SameShape(string op, Tensor a, Tensor b)
    {
        if (!Shapes.SameShape(a.Shape, b.Shape))
            throw new ShapeMismatchException($"{op}: shapes {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)} differ; they must be equal");
    }

    static void BroadcastsTo(string op, string name, Tensor t, Tensor x)
    {
        bool ok = t.Rank <= x.Rank;
        for (int i = 0; ok && i < t.Rank; i++)
        {
            int d = t.Shape[t.Rank - 1 - i];
            ok = d == 1 || d == x.Shape[x.Rank - 1 - i];
        }
        if (!ok)
            throw new ShapeMismatchException($"{op}: {name} of shape {Shapes.Format(t.Shape)} does not broadcast to {Shapes.Format(x.Shape)}");
    }
}
