namespace Models.Diffusion;

/// <summary>
/// The scalar pieces of the diffusion bound, in double precision: the KL divergence of two 1-D Gaussians,
/// the normal tail function through an accurate erfc, and the discretised Gaussian decoder of the DDPM paper
/// (the probability that N(μ, σ²) falls in the bin of an 8-bit value scaled to [−1, 1]).
/// </summary>
public static class GaussianTerms
{
    /// <summary>KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) in nats.</summary>
    public static double NormalKl(double mean1, double var1, double mean2, double var2)
    {
        if (!(var1 > 0) || !(var2 > 0)) throw new ArgumentOutOfRangeException(nameof(var1), $"NormalKl: variances must be positive, got {var1} and {var2}");
        double d = mean1 - mean2;
        return 0.5 * (Math.Log(var2 / var1) + (var1 + d * d) / var2 - 1);
    }

    /// <summary>Half-width of an 8-bit bin on [−1, 1]: the 256 values sit 2/255 apart.</summary>
    public const double HalfBin = 1.0 / 255.0;

    /// <summary>
    /// log P(x | μ, σ) for x one of the 256 values −1 + 2k/255: the mass of N(μ, σ²) on [x − 1/255, x + 1/255],
    /// with the outer bins reaching to −∞ (x = −1) and +∞ (x = 1), so the 256 masses sum to one.
    /// Computed from log-tails, so it stays finite far out in the tails.
    /// </summary>
    public static double DiscretizedLogLikelihood(double x, double mean, double std)
    {
        if (!(std > 0) || double.IsInfinity(std)) throw new ArgumentOutOfRangeException(nameof(std), $"DiscretizedLogLikelihood: std must be positive and finite, got {std}");
        if (!(x >= -1 - 1e-6 && x <= 1 + 1e-6)) throw new ArgumentOutOfRangeException(nameof(x), $"DiscretizedLogLikelihood: x = {x} is outside [−1, 1]");
        double lo = x <= -1 + 1e-6 ? double.NegativeInfinity : (x - HalfBin - mean) / std;
        double hi = x >= 1 - 1e-6 ? double.PositiveInfinity : (x + HalfBin - mean) / std;
        return LogNormalMass(lo, hi);
    }

    /// <summary>log P(a &lt; Z &lt; b) for Z ~ N(0, 1), a &lt; b (either may be infinite), without cancellation in the tails.</summary>
    public static double LogNormalMass(double a, double b)
    {
        if (!(a < b)) throw new ArgumentOutOfRangeException(nameof(a), $"LogNormalMass: needs a < b, got [{a}, {b}]");
        if (a >= 0) return LogDiff(LogUpperTail(a), LogUpperTail(b));         // Q(a) − Q(b)
        if (b <= 0) return LogDiff(LogUpperTail(-b), LogUpperTail(-a));       // Φ(b) − Φ(a) = Q(−b) − Q(−a)
        return Log1p(-Math.Exp(LogUpperTail(-a)) - Math.Exp(LogUpperTail(b)));  // 1 − Φ(a) − Q(b)
    }

    /// <summary>log Q(z) = log P(Z &gt; z) for z ≥ 0 (and −∞ at +∞).</summary>
    public static double LogUpperTail(double z)
    {
        if (double.IsPositiveInfinity(z)) return double.NegativeInfinity;
        return Math.Log(0.5) + LogErfc(z / Math.Sqrt(2));
    }

    /// <summary>Φ(z), the standard normal distribution function.</summary>
    public static double NormalCdf(double z) => z >= 0 ? 1 - Math.Exp(LogUpperTail(z)) : Math.Exp(LogUpperTail(-z));

    /// <summary>erf(x) to double precision: the all-positive series e^{−x²}·Σ 2ⁿx^{2n+1}/(1·3···(2n+1)) for |x| ≤ 3, 1 − erfc beyond.</summary>
    public static double Erf(double x)
    {
        if (x < 0) return -Erf(-x);
        if (x > 3) return 1 - Math.Exp(LogErfc(x));
        double term = x, sum = x, x2 = x * x;
        for (int n = 1; n < 200 && term > 1e-17 * sum; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
        }
        return 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
    }

    /// <summary>log erfc(x) for x ≥ 0: 1 − erf for x ≤ 3, the continued fraction (modified Lentz) beyond, so it never underflows.</summary>
    public static double LogErfc(double x)
    {
        if (x < 0) throw new ArgumentOutOfRangeException(nameof(x), $"LogErfc: defined here for x ≥ 0, got {x}");
        if (x <= 3) return Math.Log(1 - Erf(x));
        // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
        const double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int n = 1; n < 500; n++)
        {
            double a = n / 2.0;
            d = x + a * d; d = Math.Abs(d) < tiny ? tiny : d; d = 1 / d;
            c = x + a / c; c = Math.Abs(c) < tiny ? tiny : c;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return -x * x - 0.5 * Math.Log(Math.PI) - Math.Log(f);
    }

    /// <summary>log(eᵃ − eᵇ) for a ≥ b.</summary>
    static double LogDiff(double a, double b) => double.IsNegativeInfinity(b) ? a : a + Math.Log(-Expm1(b - a));

    /// <summary>log(1 + x), accurate for tiny x (Goldberg's correction: the rounding of 1 + x is divided out).</summary>
    static double Log1p(double x)
    {
        double u = 1 + x;
        return u == 1 ? x : Math.Log(u) * x / (u - 1);
    }

    /// <summary>eˣ − 1, accurate for tiny x (Kahan's correction).</summary>
    static double Expm1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1) return x;
        if (u - 1 == -1) return -1;
        return (u - 1) * x / Math.Log(u);
    }
}
