using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kernels.Cpu;

/// <summary>
/// C = α·op(A)·op(B) + β·C, row-major, where op(X) is X or Xᵀ. The one signature every GEMM variant has.
/// A is m×k after op, B is k×n after op; lda/ldb/ldc are the row lengths of the stored matrices.
/// </summary>
public delegate void GemmKernel(bool transA, bool transB, int m, int n, int k, float alpha,
    ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc);

/// <summary>Single-precision matrix multiply: a plain reference and a register-tiled AVX-512 version.</summary>
public static class Gemm
{
    /// <summary>Triple loop, accumulating in double. Readable and slow: the ground truth for tests.</summary>
    public static void Reference(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
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
    /// Packs op(A) and op(B) row-major, then runs a 4×64 register tile (16 zmm accumulators) over the rows of C,
    /// split across cores when the product is large enough to pay for it.
    /// </summary>
    public static void Simd(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m == 0 || n == 0) return;
        CheckSizes(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (!Vector512.IsHardwareAccelerated) { Reference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); return; }

        float[] ap = Pack(a, lda, transA, m, k, alpha);
        float[] bp = Pack(b, ldb, transB, k, n, 1f);
        unsafe
        {
            fixed (float* cPtr = c)
            {
                var cp = (nint)cPtr;
                int blocks = (m + 3) / 4;
                Parallelism.For(blocks, 4L * n * k, bi => RowBlock(ap, bp, (float*)cp, ldc, bi * 4, Math.Min(4, m - bi * 4), n, k, beta));
            }
        }
    }

    internal static void CheckSizes(bool transA, bool transB, int m, int n, int k, int aLen, int lda, int bLen, int ldb, int cLen, int ldc)
    {
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        if (lda < aCols || (aRows > 0 && aLen < (aRows - 1) * lda + aCols)) throw new ArgumentException($"Gemm: A ({aRows}×{aCols}, lda {lda}) does not fit in {aLen} floats");
        if (ldb < bCols || (bRows > 0 && bLen < (bRows - 1) * ldb + bCols)) throw new ArgumentException($"Gemm: B ({bRows}×{bCols}, ldb {ldb}) does not fit in {bLen} floats");
        if (ldc < n || cLen < (m - 1) * ldc + n) throw new ArgumentException($"Gemm: C ({m}×{n}, ldc {ldc}) does not fit in {cLen} floats");
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

    static unsafe void RowBlock(float[] ap, float[] bp, float* c, int ldc, int i0, int rows, int n, int k, float beta)
    {
        fixed (float* a = ap, b = bp)
        {
            int j = 0;
            if (rows == 4)
                for (; j <= n - 64; j += 64) Tile4x64(a + i0 * k, b + j, c + i0 * ldc + j, k, n, ldc, beta);
            for (int r = 0; r < rows; r++)
            {
                float* arow = a + (i0 + r) * k;
                float* crow = c + (i0 + r) * ldc;
                int jj = j;
                for (; jj <= n - 16; jj += 16)
                {
                    var acc = Vector512<float>.Zero;
                    for (int p = 0; p < k; p++)
                        acc = Vector512.FusedMultiplyAdd(Vector512.Create(arow[p]), Vector512.Load(b + p * n + jj), acc);
                    var old = beta == 0 ? Vector512<float>.Zero : Vector512.Load(crow + jj) * beta;
                    (acc + old).Store(crow + jj);
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
    static unsafe void Tile4x64(float* a, float* b, float* c, int k, int n, int ldc, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        for (int p = 0; p < k; p++)
        {
            float* bRow = b + p * n;
            var b0 = Vector512.Load(bRow); var b1 = Vector512.Load(bRow + 16);
            var b2 = Vector512.Load(bRow + 32); var b3 = Vector512.Load(bRow + 48);
            var a0 = Vector512.Create(a[p]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(a0, b2, c02); c03 = Vector512.FusedMultiplyAdd(a0, b3, c03);
            var a1 = Vector512.Create(a[k + p]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(a1, b2, c12); c13 = Vector512.FusedMultiplyAdd(a1, b3, c13);
            var a2 = Vector512.Create(a[2 * k + p]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(a2, b2, c22); c23 = Vector512.FusedMultiplyAdd(a2, b3, c23);
            var a3 = Vector512.Create(a[3 * k + p]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(a3, b2, c32); c33 = Vector512.FusedMultiplyAdd(a3, b3, c33);
        }
        Store(c, beta, c00, c01, c02, c03);
        Store(c + ldc, beta, c10, c11, c12, c13);
        Store(c + 2 * ldc, beta, c20, c21, c22, c23);
        Store(c + 3 * ldc, beta, c30, c31, c32, c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Store(float* c, float beta, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        if (beta != 0)
        {
            var bv = Vector512.Create(beta);
            v0 = Vector512.FusedMultiplyAdd(bv, Vector512.Load(c), v0); v1 = Vector512.FusedMultiplyAdd(bv, Vector512.Load(c + 16), v1);
            v2 = Vector512.FusedMultiplyAdd(bv, Vector512.Load(c + 32), v2); v3 = Vector512.FusedMultiplyAdd(bv, Vector512.Load(c + 48), v3);
        }
        v0.Store(c); v1.Store(c + 16); v2.Store(c + 32); v3.Store(c + 48);
    }
}
