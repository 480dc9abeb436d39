using ILGPU;
using ILGPU.Runtime;
using Kernels.Cpu;
using Kernels.Gpu;
using static Engine.Tests.GpuTestDevice;

namespace Engine.Tests;

/// <summary>
/// The GPU GEMM's launch plans: the choice of tile and K split as a pure function of the shape and the device's
/// multiprocessor count, and every plan (both tiles, split or not, forced on the CPU accelerator) against the CPU
/// reference on odd sizes, transposes, α/β and batches.
/// </summary>
public sealed class GpuGemmTests
{
    const int H100 = 132;

    static GpuKernels Kernels => Variants.Kernels;

    static int Tiles(int m, int n, int tile) => (m + tile - 1) / tile * ((n + tile - 1) / tile);

    static void AssertCovers(GemmPlan p, int k, string what)
    {
        Assert.That(p.Slices, Is.GreaterThanOrEqualTo(1), what);
        Assert.That((long)p.Slices * p.SliceK, Is.GreaterThanOrEqualTo(k), $"{what}: slices cover K");
        Assert.That((long)(p.Slices - 1) * p.SliceK, Is.LessThan(k), $"{what}: no empty slice");
        if (p.Slices > 1)
        {
            Assert.That(p.SliceK % 16, Is.EqualTo(0), $"{what}: slice a multiple of the K step");
            Assert.That(p.SliceK, Is.GreaterThanOrEqualTo(GpuKernels.MinSliceK), $"{what}: slice long enough");
        }
    }

    [Test]
    public void Plan_splits_k_for_few_tiles_and_picks_the_large_tile_for_big_products()
    {
        // The W1 conv weight gradient: M = 32 out channels, N = 288 patch, K = 64·28² positions: 5 tiles.
        var w1 = GpuKernels.PlanGemm(32, 288, 50_176, 1, H100);
        AssertCovers(w1, 50_176, "W1 weight grad");
        Assert.That(w1.Tile, Is.EqualTo(GemmTile.Small));
        Assert.That(5L * w1.Slices, Is.GreaterThanOrEqualTo(2 * H100), "split fills the device");

        var n2048 = GpuKernels.PlanGemm(2048, 2048, 2048, 1, H100);
        Assert.That(n2048, Is.EqualTo(new GemmPlan(GemmTile.Large, 1, 2048)));
        var n1024 = GpuKernels.PlanGemm(1024, 1024, 1024, 1, H100);
        Assert.That(n1024.Tile, Is.EqualTo(GemmTile.Large));
        Assert.That(n1024.Slices, Is.EqualTo(4));
        AssertCovers(n1024, 1024, "n=1024");
        Assert.That(GpuKernels.PlanGemm(256, 256, 256, 1, H100), Is.EqualTo(new GemmPlan(GemmTile.Small, 1, 256)), "K too short to split");
        Assert.That(GpuKernels.PlanGemm(256, 256, 256, 64, H100).Slices, Is.EqualTo(1), "a batch fills the device");
        Assert.That(GpuKernels.PlanGemm(130, 2048, 64, 1, H100).Tile, Is.EqualTo(GemmTile.Small), "the large tile would pad too much");

        // The split boundary: tiles = 2·SMs - 1 splits, 2·SMs does not (64×64 tiles: M = 64, N = 64·tiles).
        var below = GpuKernels.PlanGemm(64, 64 * (2 * H100 - 1), 4096, 1, H100);
        var at = GpuKernels.PlanGemm(64, 64 * 2 * H100, 4096, 1, H100);
        Assert.That(below.Slices, Is.EqualTo(2));
        Assert.That(at.Slices, Is.EqualTo(1));
        // K boundary: two minimum slices split, one short of it does not.
        Assert.That(GpuKernels.PlanGemm(64, 64, 2 * GpuKernels.MinSliceK, 1, H100).Slices, Is.EqualTo(2));
        Assert.That(GpuKernels.PlanGemm(64, 64, 2 * GpuKernels.MinSliceK - 1, 1, H100).Slices, Is.EqualTo(1));
        // Grid z holds batch·slices ≤ 65535.
        Assert.That(GpuKernels.PlanGemm(1, 1, 1 << 24, 1, 100_000).Slices, Is.LessThanOrEqualTo(65_535));
        Assert.That(GpuKernels.PlanGemm(1, 1, 1 << 24, 1000, 100_000).Slices * 1000L, Is.LessThanOrEqualTo(65_535));
    }

    [Test]
    public void Plan_always_covers_k()
    {
        var rng = new System.Random(5);
        for (int i = 0; i < 2000; i++)
        {
            int m = rng.Next(1, 3000), n = rng.Next(1, 3000), k = rng.Next(1, 200_000), batch = rng.Next(1, 70), sms = rng.Next(1, 200);
            var p = GpuKernels.PlanGemm(m, n, k, batch, sms);
            string what = $"{m}×{n}×{k} batch {batch} on {sms}";
            AssertCovers(p, k, what);
            Assert.That((long)p.Slices * batch, Is.LessThanOrEqualTo(65_535), what);
            if (p.Tile == GemmTile.Large) Assert.That(m >= 128 && n >= 128, what);
            if (p.Slices > 1)
                Assert.That((long)Tiles(m, n, p.TileSize) * batch * 2, Is.LessThan((p.Tile == GemmTile.Large ? 2L : 4L) * sms), $"{what}: split only when few tiles");
        }
    }

    /// <summary>Runs the GPU GEMM with <paramref name="plan"/> on device copies and returns C.</summary>
    static float[] RunGpu(GemmPlan? plan, bool ta, bool tb, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb,
        float beta, float[] c, int ldc, int batch = 1, int sa = 0, int sb = 0, int sc = 0)
    {
        var acc = Kernels.Accelerator;
        using var da = acc.Allocate1D(a);
        using var db = acc.Allocate1D(b);
        using var dc = acc.Allocate1D(c);
        Kernels.Gemm(ta, tb, m, n, k, alpha, da.View, lda, db.View, ldb, beta, dc.View, ldc, batch, sa, sb, sc, plan);
        return dc.GetAsArray1D();
    }

    /// <summary>The CPU reference over a batch (each entry a separate call on the strided sub-spans).</summary>
    static void Reference(bool ta, bool tb, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb,
        float beta, float[] c, int ldc, int batch, int sa, int sb, int sc)
    {
        for (int i = 0; i < batch; i++)
            Gemm.Reference(ta, tb, m, n, k, alpha, a.AsSpan(i * sa), lda, b.AsSpan(i * sb), ldb, beta, c.AsSpan(i * sc), ldc);
    }

    static void Check(GemmPlan? plan, bool ta, bool tb, int m, int n, int k, float alpha, float beta, int batch = 1, bool broadcastA = false)
    {
        int pad = 3, lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        int sizeA = (ta ? k : m) * lda, sizeB = (tb ? n : k) * ldb, sizeC = m * ldc;
        int sa = broadcastA ? 0 : sizeA + 5, sb = sizeB + 2, sc = sizeC + 1;
        var a = Values(sa * (batch - 1) + sizeA, (ulong)(m + 1)); var b = Values(sb * (batch - 1) + sizeB, (ulong)(n + 2));
        var c0 = Values(sc * (batch - 1) + sizeC, 3);
        // β = 0 never reads C: start the device's C as NaN where a read would show.
        var c1 = beta == 0f ? Enumerable.Repeat(float.NaN, c0.Length).ToArray() : (float[])c0.Clone();
        if (beta == 0f)
            for (int i = 0; i < c0.Length; i++)
            {
                int inMatrix = i % sc; // positions outside any C block keep their values on both sides
                bool written = i / sc < batch && inMatrix < sizeC && inMatrix % ldc < n;
                if (!written) c1[i] = c0[i];
            }
        Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc, batch, sa, sb, sc);
        var got = RunGpu(plan, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, ldc, batch, sa, sb, sc);
        AssertClose(c0, got, $"gemm {m}×{n}×{k} ta={ta} tb={tb} α={alpha} β={beta} batch {batch} plan {plan?.ToString() ?? "default"}");
    }

    [Test]
    public void Split_k_matches_reference_on_slice_boundaries([Values] GemmTile tile)
    {
        // K an exact multiple of the slice, one past it, a short last slice; M and N not multiples of either tile.
        foreach (var (k, sliceK, slices) in new[] { (32, 16, 2), (33, 16, 3), (37, 16, 3), (50, 8, 7), (40, 40, 1), (40, 39, 2) })
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    var plan = new GemmPlan(tile, slices, sliceK);
                    Check(plan, ta, tb, 70, 20, k, 0.75f, -1.5f);
                    Check(plan, ta, tb, 5, 130, k, 1f, 0f);
                }
    }

    [Test]
    public void Split_k_batched_and_broadcast_operands([Values] GemmTile tile)
    {
        var plan = new GemmPlan(tile, 3, 16);
        Check(plan, false, false, 9, 20, 41, 0.5f, 2f, batch: 3);
        Check(plan, true, true, 17, 5, 45, -1f, 0f, batch: 2);
        Check(plan, false, true, 33, 18, 40, 1f, 0f, batch: 3, broadcastA: true);
        Check(new GemmPlan(tile, 1, 41), true, false, 9, 20, 41, 0.5f, 2f, batch: 3);
    }

    [Test]
    public void Large_tile_on_odd_sizes_transposes_and_alpha_beta()
    {
        var plan = new GemmPlan(GemmTile.Large, 1, 19);
        foreach (var (m, n) in new[] { (1, 1), (129, 130), (131, 7), (3, 200) })
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    Check(plan, ta, tb, m, n, 19, 0.75f, -1.5f);
                    Check(plan, ta, tb, m, n, 19, 1.25f, 0f);
                }
    }

    [Test]
    public void Default_plans_on_the_test_device_split_and_use_the_large_tile()
    {
        // The CPU accelerator reports its own multiprocessors; these shapes take the split and the large-tile paths there.
        var split = Kernels.GemmPlanFor(20, 30, 600);
        Assert.That(split.Slices, Is.GreaterThan(1), $"plan {split} on {Kernels.Accelerator.NumMultiprocessors} multiprocessors");
        var large = Kernels.GemmPlanFor(200, 250, 19);
        Assert.That(large.Tile, Is.EqualTo(GemmTile.Large));
        foreach (bool ta in new[] { false, true })
        {
            Check(null, ta, !ta, 20, 30, 600, 0.75f, -1.5f);
            Check(null, ta, ta, 200, 250, 19, 1f, 0f);
        }
        // Through the span-signature variant (as engine kernels runs it).
        int m = 20, n = 30, k = 600;
        var a = Values(m * k, 1); var b = Values(k * n, 2); var c0 = Values(m * n, 3); var c1 = (float[])c0.Clone();
        Gemm.Reference(false, false, m, n, k, 1f, a, k, b, n, 0.5f, c0, n);
        Variants.Gemm.Run(false, false, m, n, k, 1f, a, k, b, n, 0.5f, c1, n);
        AssertClose(c0, c1, "gemm variant with split K");
    }

    [Test]
    public void Split_k_is_deterministic()
    {
        int m = 20, n = 30, k = 600;
        var a = Values(m * k, 1); var b = Values(k * n, 2); var c = new float[m * n];
        var plan = new GemmPlan(GemmTile.Small, 5, 128);
        var first = RunGpu(plan, false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
        for (int i = 0; i < 3; i++)
            Assert.That(RunGpu(plan, false, false, m, n, k, 1f, a, k, b, n, 0f, c, n), Is.EqualTo(first));
    }

    [Test]
    public void Plans_that_do_not_cover_k_are_refused()
    {
        var c = new float[4];
        Assert.Throws<ArgumentException>(() => RunGpu(new GemmPlan(GemmTile.Small, 2, 16), false, false, 2, 2, 40, 1f, new float[80], 40, new float[80], 2, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => RunGpu(new GemmPlan(GemmTile.Small, 0, 64), false, false, 2, 2, 40, 1f, new float[80], 40, new float[80], 2, 0f, c, 2));
    }
}
