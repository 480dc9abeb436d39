using Engine.Random;
using Kernels.Cpu;

namespace Cli.Workloads;

/// <summary>W5: C = A·B for square n×n, n ∈ {256, 512, 1024, 2048}, and the transposed forms backward uses.</summary>
public static class W5Gemm
{
    public static readonly int[] Sizes = [256, 512, 1024, 2048];

    public static IReadOnlyList<BenchCase> Cases()
    {
        var fast = KernelRegistry.Gemm.First(v => v.Run == KernelRegistry.FastGemm);
        var list = new List<BenchCase>();
        foreach (var n in Sizes)
            foreach (var (ta, tb, label) in Forms)
                list.Add(Case(fast, n, ta, tb, label));
        return list;
    }

    public static readonly (bool TransA, bool TransB, string Label)[] Forms = [(false, false, "A·B"), (true, false, "Aᵀ·B"), (false, true, "A·Bᵀ")];

    public static BenchCase Case(Variant<GemmKernel> variant, int n, bool ta, bool tb, string label)
    {
        var g = new Generator((ulong)n);
        var a = new float[n * n]; var b = new float[n * n]; var c = new float[n * n];
        g.FillNormal(a); g.FillNormal(b);
        return new BenchCase("W5", $"n={n} {label}", variant.Name, () => variant.Run(ta, tb, n, n, n, 1f, a, n, b, n, 0f, c, n), 2.0 * n * n * n);
    }
}
