using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>GEMM variants beyond the declared cases (<see cref="KernelCaseTests"/>): NaN in the row padding, cache-block edges, threaded splits, bad sizes.</summary>
public sealed class GemmKernelTests
{
    public static IEnumerable<TestCaseData> Variants() =>
        KernelRegistry.Gemm.Where(v => !v.IsReference).SelectMany(v =>
            from ta in new[] { false, true }
            from tb in new[] { false, true }
            select new TestCaseData(v.Name, ta, tb).SetName($"{v.Name} transA={ta} transB={tb}"));

    static GemmKernel Kernel(string name) => KernelRegistry.Gemm.Single(v => v.Name == name).Run;

    [TestCaseSource(nameof(Variants))]
    public void Alpha_beta_and_padded_leading_dimensions(string variant, bool transA, bool transB)
    {
        foreach (var (m, n, k) in new[] { (7, 33, 65), (65, 31, 129), (40, 70, 20), (1, 17, 3) })
        {
            Check(Kernel(variant), transA, transB, m, n, k, alpha: 0.75f, beta: -1.5f, pad: 5, seed: 3);
            Check(Kernel(variant), transA, transB, m, n, k, alpha: -2f, beta: 1f, pad: 1, seed: 4);
            Check(Kernel(variant), transA, transB, m, n, k, alpha: 1.25f, beta: 0f, pad: 3, seed: 5);
        }
    }

    [TestCaseSource(nameof(Variants))]
    public void Small_cache_blocks_cover_every_block_edge(string variant, bool transA, bool transB)
    {
        // Tiny blocks make a small product cross many Mc/Kc/Nc boundaries, with B packed and read in place
        // (and change nothing for unblocked variants).
        var saved = GemmBlocked.Blocking;
        try
        {
            foreach (int inPlaceRows in new[] { 0, 1000 })
            {
                GemmBlocked.Blocking = new GemmBlocking(Mc: 28, Kc: 19, Nc: 64, InPlaceBRows: inPlaceRows);
                Check(Kernel(variant), transA, transB, 71, 150, 61, alpha: 0.5f, beta: 2f, pad: 2, seed: 6);
                Check(Kernel(variant), transA, transB, 100, 97, 40, alpha: 1f, beta: 0f, pad: 0, seed: 7);
            }
        }
        finally { GemmBlocked.Blocking = saved; }
    }

    [Test]
    public void Parallel_split_matches_reference_on_rows_and_columns()
    {
        var saved = GemmBlocked.ParallelThreshold;
        try
        {
            GemmBlocked.ParallelThreshold = 0;
            foreach (var (m, n, k) in new[] { (150, 40, 30), (30, 170, 30), (14, 32, 5) })
                for (int t = 0; t < 4; t++)
                    Check(GemmBlocked.Run, (t & 1) != 0, (t & 2) != 0, m, n, k, alpha: 1f, beta: 0.5f, pad: 1, seed: t);
        }
        finally { GemmBlocked.ParallelThreshold = saved; }
    }

    [TestCaseSource(nameof(Variants))]
    public void Bad_sizes_throw_argument_exception(string variant, bool transA, bool transB)
    {
        var kernel = Kernel(variant);
        float[] a = new float[12], b = new float[12], c = new float[16];
        // A 3×4 (stored 4×3 when transposed), B 4×3 (3×4), C 3×3.
        int lda = transA ? 3 : 4, ldb = transB ? 4 : 3;
        Assert.Throws<ArgumentException>(() => kernel(transA, transB, 3, 3, 4, 1f, a, lda - 1, b, ldb, 0f, c, 3), "lda too small");
        Assert.Throws<ArgumentException>(() => kernel(transA, transB, 3, 3, 4, 1f, a, lda, b, ldb - 1, 0f, c, 3), "ldb too small");
        Assert.Throws<ArgumentException>(() => kernel(transA, transB, 3, 3, 4, 1f, a, lda, b, ldb, 0f, c, 2), "ldc too small");
        Assert.Throws<ArgumentException>(() => kernel(transA, transB, 3, 3, 4, 1f, a.AsSpan(0, 11), lda, b, ldb, 0f, c, 3), "A too short");
        Assert.Throws<ArgumentException>(() => kernel(transA, transB, 3, 3, 4, 1f, a, lda, b.AsSpan(0, 11), ldb, 0f, c, 3), "B too short");
        Assert.Throws<ArgumentException>(() => kernel(transA, transB, 3, 3, 4, 1f, a, lda, b, ldb, 0f, c.AsSpan(0, 8), 3), "C too short");
        Assert.Throws<ArgumentException>(() => kernel(transA, transB, -1, 3, 4, 1f, a, lda, b, ldb, 0f, c, 3), "negative m");
    }

    /// <summary>
    /// Runs one variant and the reference on the same random operands; the padding of every stored row holds NaN,
    /// so reading it would show. With β = 0, C starts as NaN and must come out finite.
    /// </summary>
    static void Check(GemmKernel kernel, bool transA, bool transB, int m, int n, int k, float alpha, float beta, int pad, int seed)
    {
        var rng = new System.Random(seed);
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        int lda = aCols + pad, ldb = bCols + pad, ldc = n + pad;
        var a = Matrix(rng, aRows, aCols, lda);
        var b = Matrix(rng, bRows, bCols, ldb);
        var c = Matrix(rng, m, n, ldc);
        if (beta == 0) Array.Fill(c, float.NaN);
        var expected = (float[])c.Clone();
        Gemm.Reference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, expected, ldc);
        kernel(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        double tol = 1e-5 * (k + 1) * (Math.Abs(alpha) + Math.Abs(beta) + 1);
        string where = $"{m}×{n}×{k} transA={transA} transB={transB} α={alpha} β={beta} pad={pad}";
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float got = c[i * ldc + j], want = expected[i * ldc + j];
                if (!(Math.Abs(got - want) <= tol)) Assert.Fail($"{where}: C[{i},{j}] = {got}, reference {want}");
            }
            for (int j = n; j < ldc && i * ldc + j < c.Length; j++)
                if (BitConverter.SingleToInt32Bits(c[i * ldc + j]) != BitConverter.SingleToInt32Bits(expected[i * ldc + j]))
                    Assert.Fail($"{where}: padding C[{i},{j}] was written");
        }
    }

    /// <summary>rows×cols uniform(−1, 1) values with row length ld; the ld − cols padding floats are NaN.</summary>
    static float[] Matrix(System.Random rng, int rows, int cols, int ld)
    {
        var x = new float[Math.Max(0, (rows - 1) * ld + cols)];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < ld && i * ld + j < x.Length; j++)
                x[i * ld + j] = j < cols ? (float)(rng.NextDouble() * 2 - 1) : float.NaN;
        return x;
    }
}
