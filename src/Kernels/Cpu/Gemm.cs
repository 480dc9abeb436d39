using System.Runtime.CompilerServices;

namespace Kernels.Cpu;

/// <summary>
/// C = α·op(A)·op(B) + β·C, row-major, where op(X) is X or Xᵀ. The one signature every GEMM variant has.
/// A is m×k after op, B is k×n after op; lda/ldb/ldc are the row lengths of the stored matrices.
/// </summary>
public delegate void GemmKernel(bool transA, bool transB, int m, int n, int k, float alpha,
    ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc);

/// <summary>Single-precision matrix multiply: a plain reference and a simple register-tiled version (the fast one is <see cref="GemmBlocked"/>).</summary>
public static class Gemm
{
    /// <summary>Triple loop, accumulating in double. Readable and slow: the ground truth for tests.</summary>
    public static void Reference(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        CheckSizes(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = (float)(alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]));
            }
    }

    /// <summary>
    /// Packs op(A) and op(B) row-major, then runs a 4-row × 4-vector register tile (4×64 in 16 zmm accumulators with
    /// AVX-512) over the rows of C, split across cores when the product is large enough to pay for it. Runs at the
    /// widest width accelerated here.
    /// </summary>
    public static void Simd(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (Vec512.IsAccelerated) Simd<Vec512>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else if (Vec256.IsAccelerated) Simd<Vec256>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else Simd<VecT>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    static void Simd<V>(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) where V : unmanaged, IVec<V>
    {
        CheckSizes(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;

        float[] ap = Pack(a, lda, transA, m, k, alpha);
        float[] bp = Pack(b, ldb, transB, k, n, 1f);
        unsafe
        {
            fixed (float* cPtr = c)
            {
                var cp = (nint)cPtr;
                int blocks = (m + 3) / 4;
                Parallelism.For(blocks, 4L * n * k, bi => RowBlock<V>(ap, bp, (float*)cp, ldc, bi * 4, Math.Min(4, m - bi * 4), n, k, beta));
            }
        }
    }

    internal static void CheckSizes(bool transA, bool transB, int m, int n, int k, int aLen, int lda, int bLen, int ldb, int cLen, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"Gemm: sizes must be non-negative, got m={m}, n={n}, k={k}");
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        if (lda < aCols || (aRows > 0 && aLen < (long)(aRows - 1) * lda + aCols)) throw new ArgumentException($"Gemm: A ({aRows}×{aCols}, lda {lda}) does not fit in {aLen} floats");
        if (ldb < bCols || (bRows > 0 && bLen < (long)(bRows - 1) * ldb + bCols)) throw new ArgumentException($"Gemm: B ({bRows}×{bCols}, ldb {ldb}) does not fit in {bLen} floats");
        if (ldc < n || (m > 0 && cLen < (long)(m - 1) * ldc + n)) throw new ArgumentException($"Gemm: C ({m}×{n}, ldc {ldc}) does not fit in {cLen} floats");
    }

    /// <summary>op(X)·scale as a dense rows×cols row-major array.</summary>
    static float[] Pack(ReadOnlySpan<float> x, int ld, bool trans, int rows, int cols, float scale)
    {
        var p = new float[rows * cols];
        if (!trans)
            for (int r = 0; r < rows; r++)
            {
                var src = x.Slice(r * ld, cols);
                var dst = p.AsSpan(r * cols, cols);
                if (scale == 1f) src.CopyTo(dst); else for (int j = 0; j < cols; j++) dst[j] = src[j] * scale;
            }
        else
            for (int cIdx = 0; cIdx < cols; cIdx++)
            {
                var src = x.Slice(cIdx * ld, rows);
                for (int r = 0; r < rows; r++) p[r * cols + cIdx] = src[r] * scale;
            }
        return p;
    }

    static unsafe void RowBlock<V>(float[] ap, float[] bp, float* c, int ldc, int i0, int rows, int n, int k, float beta) where V : unmanaged, IVec<V>
    {
        int w = V.Count;
        fixed (float* a = ap, b = bp)
        {
            int j = 0;
            if (rows == 4)
                for (; j <= n - 4 * w; j += 4 * w) Tile4x4<V>(a + i0 * k, b + j, c + i0 * ldc + j, k, n, ldc, beta);
            for (int r = 0; r < rows; r++)
            {
                float* arow = a + (i0 + r) * k;
                float* crow = c + (i0 + r) * ldc;
                int jj = j;
                for (; jj <= n - w; jj += w)
                {
                    var acc = V.Zero;
                    for (int p = 0; p < k; p++)
                        acc = V.Fma(V.Create(arow[p]), V.Load(b + p * n + jj), acc);
                    var old = beta == 0 ? V.Zero : V.Load(crow + jj) * V.Create(beta);
                    V.Store(acc + old, crow + jj);
                }
                for (; jj < n; jj++)
                {
                    float s = 0;
                    for (int p = 0; p < k; p++) s += arow[p] * b[p * n + jj];
                    crow[jj] = s + (beta == 0 ? 0 : beta * crow[jj]);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Tile4x4<V>(float* a, float* b, float* c, int k, int n, int ldc, float beta) where V : unmanaged, IVec<V>
    {
        int w = V.Count;
        V c00 = default, c01 = default, c02 = default, c03 = default;
        V c10 = default, c11 = default, c12 = default, c13 = default;
        V c20 = default, c21 = default, c22 = default, c23 = default;
        V c30 = default, c31 = default, c32 = default, c33 = default;
        for (int p = 0; p < k; p++)
        {
            float* bRow = b + p * n;
            var b0 = V.Load(bRow); var b1 = V.Load(bRow + w);
            var b2 = V.Load(bRow + 2 * w); var b3 = V.Load(bRow + 3 * w);
            var a0 = V.Create(a[p]);
            c00 = V.Fma(a0, b0, c00); c01 = V.Fma(a0, b1, c01); c02 = V.Fma(a0, b2, c02); c03 = V.Fma(a0, b3, c03);
            var a1 = V.Create(a[k + p]);
            c10 = V.Fma(a1, b0, c10); c11 = V.Fma(a1, b1, c11); c12 = V.Fma(a1, b2, c12); c13 = V.Fma(a1, b3, c13);
            var a2 = V.Create(a[2 * k + p]);
            c20 = V.Fma(a2, b0, c20); c21 = V.Fma(a2, b1, c21); c22 = V.Fma(a2, b2, c22); c23 = V.Fma(a2, b3, c23);
            var a3 = V.Create(a[3 * k + p]);
            c30 = V.Fma(a3, b0, c30); c31 = V.Fma(a3, b1, c31); c32 = V.Fma(a3, b2, c32); c33 = V.Fma(a3, b3, c33);
        }
        Store(c, beta, c00, c01, c02, c03);
        Store(c + ldc, beta, c10, c11, c12, c13);
        Store(c + 2 * ldc, beta, c20, c21, c22, c23);
        Store(c + 3 * ldc, beta, c30, c31, c32, c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Store<V>(float* c, float beta, V v0, V v1, V v2, V v3) where V : unmanaged, IVec<V>
    {
        int w = V.Count;
        if (beta != 0)
        {
            var bv = V.Create(beta);
            v0 = V.Fma(bv, V.Load(c), v0); v1 = V.Fma(bv, V.Load(c + w), v1);
            v2 = V.Fma(bv, V.Load(c + 2 * w), v2); v3 = V.Fma(bv, V.Load(c + 3 * w), v3);
        }
        V.Store(v0, c); V.Store(v1, c + w); V.Store(v2, c + 2 * w); V.Store(v3, c + 3 * w);
    }
}
