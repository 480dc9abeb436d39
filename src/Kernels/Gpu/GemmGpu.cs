using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// Sizes, transposes, scalars and batch strides of one (batched) GEMM launch:
/// C[b] = α·op(A[b])·op(B[b]) + β·C[b], with X[b] starting at X's offset + b·BatchStrideX (0 broadcasts one matrix).
/// </summary>
public struct GemmArgs
{
    public int M, N, K, Lda, Ldb, Ldc, TransA, TransB;
    public int OffsetA, OffsetB, OffsetC, BatchStrideA, BatchStrideB, BatchStrideC;
    public float Alpha, Beta;
}

/// <summary>
/// Tiled SGEMM: each group of 16×16 threads computes a 64×64 tile of C, walking K in steps of 16. Both operand
/// tiles are staged in shared memory (A stored k-major so a thread reads its 4 rows with unit stride across the
/// group), and each thread keeps a 4×4 block of accumulators in registers: rows ty + 16i, columns tx + 16j, so
/// neighbouring threads touch neighbouring columns of C (coalesced stores) and distinct shared-memory banks.
/// Transposed operands only change the addresses of the tile loads. Grid: (⌈N/64⌉, ⌈M/64⌉, batch).
/// </summary>
static class GemmGpu
{
    public const int Tile = 64, Depth = 16, Threads = 16;

    public static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs p)
    {
        var As = SharedMemory.Allocate<float>(Depth * Tile);   // As[k·64 + row]
        var Bs = SharedMemory.Allocate<float>(Depth * Tile);   // Bs[k·64 + col]
        int tx = Group.IdxX, ty = Group.IdxY, tid = ty * Threads + tx;
        int row0 = Grid.IdxY * Tile, col0 = Grid.IdxX * Tile, batch = Grid.IdxZ;
        int offA = p.OffsetA + batch * p.BatchStrideA, offB = p.OffsetB + batch * p.BatchStrideB, offC = p.OffsetC + batch * p.BatchStrideC;

        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;

        for (int k0 = 0; k0 < p.K; k0 += Depth)
        {
            // 1024 elements per tile, 4 per thread. Element e: (k = e / 64, r = e % 64) for both tiles.
            for (int e = tid; e < Depth * Tile; e += Threads * Threads)
            {
                int kk = e / Tile, rr = e % Tile;
                int gk = k0 + kk, gr = row0 + rr, gc = col0 + rr;
                As[e] = gk < p.K && gr < p.M ? a[offA + (p.TransA != 0 ? gk * p.Lda + gr : gr * p.Lda + gk)] : 0f;
                Bs[e] = gk < p.K && gc < p.N ? b[offB + (p.TransB != 0 ? gc * p.Ldb + gk : gk * p.Ldb + gc)] : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < Depth; kk++)
            {
                int ka = kk * Tile;
                float a0 = As[ka + ty], a1 = As[ka + ty + 16], a2 = As[ka + ty + 32], a3 = As[ka + ty + 48];
                float b0 = Bs[ka + tx], b1 = Bs[ka + tx + 16], b2 = Bs[ka + tx + 32], b3 = Bs[ka + tx + 48];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }

        Store(c, p, offC, row0 + ty, col0 + tx, c00, c01, c02, c03);
        Store(c, p, offC, row0 + ty + 16, col0 + tx, c10, c11, c12, c13);
        Store(c, p, offC, row0 + ty + 32, col0 + tx, c20, c21, c22, c23);
        Store(c, p, offC, row0 + ty + 48, col0 + tx, c30, c31, c32, c33);
    }

    static void Store(ArrayView<float> c, GemmArgs p, int offC, int r, int col, float v0, float v1, float v2, float v3)
    {
        if (r >= p.M) return;
        int o = offC + r * p.Ldc;
        Store1(c, p, o, col, v0);
        Store1(c, p, o, col + 16, v1);
        Store1(c, p, o, col + 32, v2);
        Store1(c, p, o, col + 48, v3);
    }

    static void Store1(ArrayView<float> c, GemmArgs p, int rowOffset, int col, float v)
    {
        if (col >= p.N) return;
        int i = rowOffset + col;
        c[i] = p.Beta == 0f ? p.Alpha * v : p.Alpha * v + p.Beta * c[i];
    }
}

public sealed partial class GpuKernels
{
    Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>? gemm;

    /// <summary>
    /// C = α·op(A)·op(B) + β·C for row-major matrices with leading dimensions lda, ldb, ldc (the CPU GEMM's contract),
    /// repeated over <paramref name="batch"/> matrices spaced by the batch strides. β = 0 never reads C.
    /// </summary>
    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ArrayView<float> a, int lda,
        ArrayView<float> b, int ldb, float beta, ArrayView<float> c, int ldc,
        int batch = 1, int batchStrideA = 0, int batchStrideB = 0, int batchStrideC = 0)
    {
        if (m == 0 || n == 0 || batch == 0) return;
        if (k == 0)
        {
            // No products: C = β·C.
            for (int i = 0; i < batch; i++)
                for (int r = 0; r < m; r++)
                {
                    var row = c.SubView((long)i * batchStrideC + (long)r * ldc, n);
                    if (beta == 0f) Fill(row, 0f); else Binary(BinaryCode.Mul, [n], row, StridedOperand.Of([1], 0), row, StridedOperand.Scalar(beta), row);
                }
            return;
        }
        gemm ??= Accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmGpu.Kernel);
        var args = new GemmArgs
        {
            M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc, TransA = transA ? 1 : 0, TransB = transB ? 1 : 0,
            BatchStrideA = batchStrideA, BatchStrideB = batchStrideB, BatchStrideC = batchStrideC, Alpha = alpha, Beta = beta,
        };
        var grid = new Index3D(Groups(n, GemmGpu.Tile), Groups(m, GemmGpu.Tile), batch);
        gemm(Stream, new KernelConfig(grid, new Index3D(GemmGpu.Threads, GemmGpu.Threads, 1)), a, b, c, args);
    }
}
