namespace Models.Evaluation;

/// <summary>The mean and covariance (in double) of a set of feature vectors: the Gaussian fit a Fréchet distance compares.</summary>
public sealed class FeatureStatistics
{
    public int Count { get; }
    public int Dims { get; }
    public double[] Mean { get; }
    /// <summary>Row-major Dims×Dims sample covariance (divided by Count − 1).</summary>
    public double[] Covariance { get; }

    public FeatureStatistics(int count, double[] mean, double[] covariance)
    {
        if (count < 2) throw new ArgumentException($"FeatureStatistics: need at least 2 vectors, got {count}");
        if (covariance.Length != mean.Length * mean.Length)
            throw new ArgumentException($"FeatureStatistics: covariance of {covariance.Length} entries does not match {mean.Length} dims");
        (Count, Dims, Mean, Covariance) = (count, mean.Length, mean, covariance);
    }

    /// <summary>Fits <paramref name="features"/>, <paramref name="count"/> rows of <paramref name="dims"/> floats each.</summary>
    public static FeatureStatistics Fit(ReadOnlySpan<float> features, int count, int dims)
    {
        if (features.Length != (long)count * dims)
            throw new ArgumentException($"FeatureStatistics: {features.Length} values are not {count} rows of {dims}");
        var mean = new double[dims];
        for (int i = 0; i < count; i++)
            for (int j = 0; j < dims; j++) mean[j] += features[i * dims + j];
        for (int j = 0; j < dims; j++) mean[j] /= count;
        var cov = new double[dims * dims];
        var centred = new double[dims];
        for (int i = 0; i < count; i++)
        {
            for (int j = 0; j < dims; j++)
            {
                double v = features[i * dims + j];
                if (!double.IsFinite(v)) throw new Engine.NonFiniteException($"FeatureStatistics: feature {j} of vector {i} is {v}");
                centred[j] = v - mean[j];
            }
            for (int a = 0; a < dims; a++)
            {
                double ca = centred[a];
                for (int b = a; b < dims; b++) cov[a * dims + b] += ca * centred[b];
            }
        }
        for (int a = 0; a < dims; a++)
            for (int b = a; b < dims; b++) cov[b * dims + a] = cov[a * dims + b] /= count - 1;
        return new FeatureStatistics(count, mean, cov);
    }
}

/// <summary>
/// The Fréchet distance between two Gaussians, d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½) — FID's formula,
/// here on a classifier's features. The trace of the square root is computed without a non-symmetric matrix
/// square root: with A = Σ₁^½ (symmetric), Σ₁Σ₂ is similar to A Σ₂ A, which is symmetric positive semi-definite,
/// so Tr (Σ₁Σ₂)^½ = Σ √λᵢ(A Σ₂ A). Both square roots come from a Jacobi eigen-decomposition in double.
/// </summary>
public static class FrechetDistance
{
    public static double Compute(FeatureStatistics a, FeatureStatistics b)
    {
        if (a.Dims != b.Dims) throw new ArgumentException($"FrechetDistance: {a.Dims}-dim and {b.Dims}-dim statistics");
        int n = a.Dims;
        double meanTerm = 0;
        for (int i = 0; i < n; i++) { double d = a.Mean[i] - b.Mean[i]; meanTerm += d * d; }

        var sqrtA = SymmetricEigen.Function(a.Covariance, n, Math.Sqrt);
        var m = Multiply(Multiply(sqrtA, b.Covariance, n), sqrtA, n);
        Symmetrise(m, n);
        var (values, _) = SymmetricEigen.Decompose(m, n);
        double traceSqrt = values.Sum(v => Math.Sqrt(Math.Max(0, v)));

        double trace = 0;
        for (int i = 0; i < n; i++) trace += a.Covariance[i * n + i] + b.Covariance[i * n + i];
        return Math.Max(0, meanTerm + trace - 2 * traceSqrt);
    }

    static double[] Multiply(double[] x, double[] y, int n)
    {
        var r = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
            {
                double xik = x[i * n + k];
                for (int j = 0; j < n; j++) r[i * n + j] += xik * y[k * n + j];
            }
        return r;
    }

    static void Symmetrise(double[] m, int n)
    {
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) m[i * n + j] = m[j * n + i] = 0.5 * (m[i * n + j] + m[j * n + i]);
    }
}

/// <summary>Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations (double precision; fine up to a few hundred dims).</summary>
public static class SymmetricEigen
{
    /// <summary>Eigenvalues and row-major eigenvectors (column j is the vector of value j) of the symmetric n×n <paramref name="matrix"/>.</summary>
    public static (double[] Values, double[] Vectors) Decompose(double[] matrix, int n, int maxSweeps = 100)
    {
        if (matrix.Length != n * n) throw new ArgumentException($"SymmetricEigen: {matrix.Length} entries are not {n}×{n}");
        var a = (double[])matrix.Clone();
        var v = new double[n * n];
        for (int i = 0; i < n; i++) v[i * n + i] = 1;
        for (int sweep = 0; sweep < maxSweeps; sweep++)
        {
            double off = 0, diag = 0;
            for (int i = 0; i < n; i++)
            {
                diag += a[i * n + i] * a[i * n + i];
                for (int j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
            }
            if (off <= 1e-30 * Math.Max(diag, 1e-300)) break;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = a[p * n + q];
                    if (apq == 0) continue;
                    // The rotation that zeroes a[p, q] (Golub & Van Loan, Algorithm 8.4.1).
                    double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k * n + p], akq = a[k * n + q];
                        a[k * n + p] = c * akp - s * akq;
                        a[k * n + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p * n + k], aqk = a[q * n + k];
                        a[p * n + k] = c * apk - s * aqk;
                        a[q * n + k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k * n + p], vkq = v[k * n + q];
                        v[k * n + p] = c * vkp - s * vkq;
                        v[k * n + q] = s * vkp + c * vkq;
                    }
                }
        }
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = a[i * n + i];
        return (values, v);
    }

    /// <summary>f(M) = V diag(f(λ)) Vᵀ for symmetric M; eigenvalues below zero (round-off) are clamped to 0 first.</summary>
    public static double[] Function(double[] matrix, int n, Func<double, double> f)
    {
        var (values, v) = Decompose(matrix, n);
        var r = new double[n * n];
        for (int k = 0; k < n; k++)
        {
            double fk = f(Math.Max(0, values[k]));
            for (int i = 0; i < n; i++)
            {
                double vik = v[i * n + k] * fk;
                if (vik == 0) continue;
                for (int j = 0; j < n; j++) r[i * n + j] += vik * v[j * n + k];
            }
        }
        return r;
    }
}
