using Engine.Autograd;

namespace Engine;

/// <summary>A square matrix handed to an op that needs it invertible (inverse, log-determinant) is singular.</summary>
public sealed class SingularMatrixException(string message) : ArithmeticException(message);

/// <summary>
/// Dense linear algebra on small square matrices in double precision: LU factorisation with partial pivoting,
/// the building block of <see cref="Tensor.Inverse"/> and <see cref="Tensor.LogAbsDet"/>. Plain loops, readable
/// and exact enough for the N ≤ a few hundred matrices that flows use (1×1 convolutions, Jacobians in tests).
/// </summary>
public static class LinearAlgebra
{
    /// <summary>
    /// Factorises the row-major n×n matrix <paramref name="a"/> in place as P·A = L·U (L unit lower, U upper,
    /// both stored in <paramref name="a"/>); <paramref name="perm"/>[i] is the row of A that ended in row i.
    /// Returns the sign of the permutation (±1), or 0 when a pivot is exactly zero (the matrix is singular).
    /// </summary>
    public static int LuDecompose(double[] a, int n, int[] perm)
    {
        if (a.Length != n * n || perm.Length != n) throw new ArgumentException($"LuDecompose: {a.Length} values and {perm.Length} pivots for n = {n}");
        for (int i = 0; i < n; i++) perm[i] = i;
        int sign = 1;
        for (int k = 0; k < n; k++)
        {
            int p = k;
            double best = Math.Abs(a[k * n + k]);
            for (int i = k + 1; i < n; i++)
                if (Math.Abs(a[i * n + k]) > best) { best = Math.Abs(a[i * n + k]); p = i; }
            if (best == 0) return 0;
            if (p != k)
            {
                for (int j = 0; j < n; j++) (a[k * n + j], a[p * n + j]) = (a[p * n + j], a[k * n + j]);
                (perm[k], perm[p]) = (perm[p], perm[k]);
                sign = -sign;
            }
            double pivot = a[k * n + k];
            for (int i = k + 1; i < n; i++)
            {
                double f = a[i * n + k] /= pivot;
                if (f == 0) continue;
                for (int j = k + 1; j < n; j++) a[i * n + j] -= f * a[k * n + j];
            }
        }
        return sign;
    }

    /// <summary>log|det A| and the sign of det A from an LU factorisation (see <see cref="LuDecompose"/>).</summary>
    public static (double LogAbsDet, int Sign) LogAbsDetFromLu(double[] lu, int n, int permSign)
    {
        double s = 0; int sign = permSign;
        for (int i = 0; i < n; i++)
        {
            double d = lu[i * n + i];
            s += Math.Log(Math.Abs(d));
            if (d < 0) sign = -sign;
        }
        return (s, sign);
    }

    /// <summary>The inverse of a row-major n×n matrix, or null when it is singular.</summary>
    public static double[]? Invert(ReadOnlySpan<double> matrix, int n)
    {
        var lu = matrix.ToArray();
        var perm = new int[n];
        if (LuDecompose(lu, n, perm) == 0) return null;
        var inv = new double[n * n];
        var col = new double[n];
        for (int c = 0; c < n; c++)
        {
            // Solve A x = e_c: L y = P e_c, then U x = y.
            for (int i = 0; i < n; i++)
            {
                double s = perm[i] == c ? 1 : 0;
                for (int j = 0; j < i; j++) s -= lu[i * n + j] * col[j];
                col[i] = s;
            }
            for (int i = n - 1; i >= 0; i--)
            {
                double s = col[i];
                for (int j = i + 1; j < n; j++) s -= lu[i * n + j] * col[j];
                col[i] = s / lu[i * n + i];
            }
            for (int i = 0; i < n; i++) inv[i * n + c] = col[i];
        }
        return inv;
    }
}

// Matrix functions over the last two axes: identity, triangular masks, inverse, log|det|.
public sealed partial class Tensor
{
    /// <summary>The n×n identity matrix, on <paramref name="device"/> (the CPU when null).</summary>
    public static Tensor Eye(int n, Device? device = null)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"Eye: size must be positive, got {n}");
        var t = Zeros([n, n]);
        for (int i = 0; i < n; i++) t.Storage.Data[i * n + i] = 1f;
        return device is null ? t : t.To(device);
    }

    /// <summary>The lower triangle (entries with column − row ≤ <paramref name="diagonal"/>) of the last two axes; the rest is zero.</summary>
    public Tensor Tril(int diagonal = 0) => TriangleMask("Tril", diagonal, lower: true);

    /// <summary>The upper triangle (entries with column − row ≥ <paramref name="diagonal"/>) of the last two axes; the rest is zero.</summary>
    public Tensor Triu(int diagonal = 0) => TriangleMask("Triu", diagonal, lower: false);

    Tensor TriangleMask(string op, int diagonal, bool lower)
    {
        if (Rank < 2) throw new ShapeMismatchException($"{op}: expected a matrix (…, R, C), got {Shapes.Format(Shape)}");
        int r = Shape[^2], c = Shape[^1];
        var mask = Zeros([r, c]);
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++)
                if (lower ? j - i <= diagonal : j - i >= diagonal) mask.Storage.Data[i * c + j] = 1f;
        return this * mask.To(Device);
    }

    /// <summary>
    /// The inverse of each square matrix in the last two axes, (…, N, N) → (…, N, N), computed in double.
    /// Gradient: dA = −A⁻ᵀ · G · A⁻ᵀ. A singular matrix is a <see cref="SingularMatrixException"/>.
    /// </summary>
    public Tensor Inverse()
    {
        int n = CheckSquare("Inverse");
        Device.Common("Inverse", this);
        var a = Contiguous();
        var host = Zeros(Shape);
        int count = Numel / (n * n);
        ReadOnlySpan<float> src = HostValues(a); var dst = host.Span;
        var m = new double[n * n];
        for (int b = 0; b < count; b++)
        {
            for (int i = 0; i < n * n; i++) m[i] = src[b * n * n + i];
            var inv = LinearAlgebra.Invert(m, n)
                ?? throw new SingularMatrixException($"Inverse: matrix {b} of {Shapes.Format(Shape)} is singular");
            for (int i = 0; i < n * n; i++) dst[b * n * n + i] = (float)inv[i];
        }
        var y = host.To(Device);
        return Backprop.Record("Inverse", y, [a], g =>
        {
            var yt = y.Transpose(-2, -1);
            Backprop.Accumulate(a, -MatMul(MatMul(yt, g), yt));
        }, $"n={n}");
    }

    /// <summary>
    /// log|det A| of each square matrix in the last two axes, (…, N, N) → (…), computed in double by LU.
    /// Gradient: G · A⁻ᵀ. A singular matrix is a <see cref="SingularMatrixException"/>.
    /// </summary>
    /// <example><c>var ld = Tensor.FromArray([2f, 0f, 0f, 3f], 2, 2).LogAbsDet(); // log 6</c></example>
    public Tensor LogAbsDet()
    {
        int n = CheckSquare("LogAbsDet");
        Device.Common("LogAbsDet", this);
        var a = Contiguous();
        int count = Numel / (n * n);
        var host = Zeros(Shape[..^2]);
        ReadOnlySpan<float> src = HostValues(a); var dst = host.Span;
        var m = new double[n * n];
        var perm = new int[n];
        for (int b = 0; b < count; b++)
        {
            for (int i = 0; i < n * n; i++) m[i] = src[b * n * n + i];
            int sign = LinearAlgebra.LuDecompose(m, n, perm);
            if (sign == 0) throw new SingularMatrixException($"LogAbsDet: matrix {b} of {Shapes.Format(Shape)} is singular");
            dst[b] = (float)LinearAlgebra.LogAbsDetFromLu(m, n, sign).LogAbsDet;
        }
        var y = host.To(Device);
        return Backprop.Record("LogAbsDet", y, [a], g =>
        {
            Tensor invT;
            using (GradMode.NoGrad()) invT = a.Inverse().Transpose(-2, -1);
            Backprop.Accumulate(a, invT * g.Unsqueeze(-1).Unsqueeze(-1));
        }, $"n={n}");
    }

    /// <summary>
    /// A copy of the values of a contiguous tensor in host memory: the factorisations run in double precision on the
    /// host on every device (the matrices are small: a flow's channel mixing), and the result goes back to the tensor's device.
    /// </summary>
    static ReadOnlySpan<float> HostValues(Tensor contiguous) => contiguous.ToArray();

    int CheckSquare(string op)
    {
        if (Rank < 2 || Shape[^1] != Shape[^2] || Shape[^1] == 0)
            throw new ShapeMismatchException($"{op}: expected square matrices (…, N, N) with N > 0, got {Shapes.Format(Shape)}");
        return Shape[^1];
    }
}
