namespace Models.Evaluation;

/// <summary>
/// The quantities the model families are compared by, on plain probability vectors and Gaussians, in nats
/// (divide by ln 2 for bits). Inputs are checked: a vector that is not a distribution is an <see cref="ArgumentException"/>.
/// </summary>
public static class InformationTheory
{
    /// <summary>H(p) = −Σ p log p (0 log 0 = 0).</summary>
    public static double Entropy(ReadOnlySpan<double> p)
    {
        CheckDistribution(nameof(Entropy), p);
        double h = 0;
        foreach (var pi in p) if (pi > 0) h -= pi * Math.Log(pi);
        return h;
    }

    /// <summary>KL(p ‖ q) = Σ p log(p/q); +∞ where q = 0 &lt; p.</summary>
    public static double KlDivergence(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        CheckPair(nameof(KlDivergence), p, q);
        double kl = 0;
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] == 0) continue;
            if (q[i] == 0) return double.PositiveInfinity;
            kl += p[i] * Math.Log(p[i] / q[i]);
        }
        return Math.Max(0, kl);
    }

    /// <summary>JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m) with m = ½(p + q); symmetric, between 0 and ln 2.</summary>
    public static double JensenShannon(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        CheckPair(nameof(JensenShannon), p, q);
        var m = new double[p.Length];
        for (int i = 0; i < m.Length; i++) m[i] = 0.5 * (p[i] + q[i]);
        return 0.5 * KlDivergence(p, m) + 0.5 * KlDivergence(q, m);
    }

    /// <summary>KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) for diagonal Gaussians, summed over dimensions.</summary>
    public static double KlGaussians(ReadOnlySpan<double> mu1, ReadOnlySpan<double> var1, ReadOnlySpan<double> mu2, ReadOnlySpan<double> var2)
    {
        if (mu1.Length != var1.Length || mu1.Length != mu2.Length || mu1.Length != var2.Length)
            throw new ArgumentException($"KlGaussians: means and variances must have one length, got {mu1.Length}, {var1.Length}, {mu2.Length}, {var2.Length}");
        double kl = 0;
        for (int i = 0; i < mu1.Length; i++)
        {
            if (!(var1[i] > 0) || !(var2[i] > 0)) throw new ArgumentException($"KlGaussians: variances must be positive, got {var1[i]} and {var2[i]} at {i}");
            double d = mu1[i] - mu2[i];
            kl += 0.5 * (Math.Log(var2[i] / var1[i]) + (var1[i] + d * d) / var2[i] - 1);
        }
        return kl;
    }

    /// <summary>
    /// The evidence lower bound from samples z ~ q(z|x): mean over samples of log p(x|z) + log p(z) − log q(z|x).
    /// It is ≤ log p(x) for every q (Jensen), with equality when q is the true posterior.
    /// </summary>
    public static double Elbo(ReadOnlySpan<double> logLikelihood, ReadOnlySpan<double> logPrior, ReadOnlySpan<double> logPosterior)
    {
        if (logLikelihood.Length == 0 || logLikelihood.Length != logPrior.Length || logLikelihood.Length != logPosterior.Length)
            throw new ArgumentException($"Elbo: expected one non-empty length, got {logLikelihood.Length}, {logPrior.Length}, {logPosterior.Length}");
        double sum = 0;
        for (int i = 0; i < logLikelihood.Length; i++) sum += logLikelihood[i] + logPrior[i] - logPosterior[i];
        return sum / logLikelihood.Length;
    }

    /// <summary>
    /// The importance-weighted bound (IWAE) from k log-weights log w = log p(x, z) − log q(z|x): log (1/k) Σ w.
    /// With k = 1 it is one ELBO sample; it grows with k towards log p(x).
    /// </summary>
    public static double ImportanceWeightedBound(ReadOnlySpan<double> logWeights)
    {
        if (logWeights.Length == 0) throw new ArgumentException("ImportanceWeightedBound: no weights");
        double max = double.NegativeInfinity;
        foreach (var w in logWeights) max = Math.Max(max, w);
        if (double.IsNegativeInfinity(max)) return max;
        double sum = 0;
        foreach (var w in logWeights) sum += Math.Exp(w - max);
        return max + Math.Log(sum / logWeights.Length);
    }

    static void CheckPair(string op, ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        if (p.Length != q.Length) throw new ArgumentException($"{op}: distributions of different lengths {p.Length} and {q.Length}");
        CheckDistribution(op, p);
        CheckDistribution(op, q);
    }

    static void CheckDistribution(string op, ReadOnlySpan<double> p)
    {
        if (p.Length == 0) throw new ArgumentException($"{op}: empty distribution");
        double sum = 0;
        foreach (var pi in p)
        {
            if (!(pi >= 0) || double.IsInfinity(pi)) throw new ArgumentException($"{op}: probabilities must be finite and non-negative, got {pi}");
            sum += pi;
        }
        if (Math.Abs(sum - 1) > 1e-6) throw new ArgumentException($"{op}: probabilities must sum to 1, got {sum}");
    }
}
