using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Kernels.Gpu;

/// <summary>
/// The ILGPU kernels of one accelerator (CUDA, OpenCL or ILGPU's CPU accelerator), each compiled on first use and
/// then kept: <see cref="For"/> hands out one instance per accelerator, so a kernel is compiled once per device and
/// launched many times. The launchers take <see cref="ArrayView{T}"/>s and plain sizes; they enqueue work on the
/// accelerator's default stream and return without waiting (reading a result back is what synchronises).
/// The kernels themselves are static methods in the sibling files (GemmGpu, ElementwiseGpu, …), one family a file,
/// each beside the launchers of its family (partials of this class).
/// </summary>
/// <example><c>var k = GpuKernels.For(accelerator); k.Gemm(false, false, m, n, kk, 1f, a, kk, b, n, 0f, c, n);</c></example>
public sealed partial class GpuKernels
{
    static readonly ConditionalWeakTable<Accelerator, GpuKernels> Cache = new();

    /// <summary>Largest group the kernels launch: 256 threads (16×16 for the GEMM tile). Every CUDA/OpenCL device allows it.</summary>
    public const int GroupSize = 256;

    public Accelerator Accelerator { get; }

    GpuKernels(Accelerator accelerator)
    {
        if (accelerator.MaxNumThreadsPerGroup < GroupSize)
            throw new NotSupportedException($"GPU kernels: accelerator '{accelerator.Name}' allows {accelerator.MaxNumThreadsPerGroup} threads per group; the kernels need {GroupSize}");
        Accelerator = accelerator;
    }

    /// <summary>The kernels of <paramref name="accelerator"/>, created (and later compiled) once.</summary>
    public static GpuKernels For(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        lock (Cache) return Cache.GetValue(accelerator, a => new GpuKernels(a));
    }

    /// <summary>Waits for every kernel enqueued so far (needed only for timing; copies back to the host wait by themselves).</summary>
    public void Synchronize() => Accelerator.Synchronize();

    /// <summary>Number of groups of <paramref name="size"/> threads that cover <paramref name="n"/> items.</summary>
    internal static int Groups(long n, int size) => (int)Math.Max(1, (n + size - 1) / size);

    /// <summary>A launch config of one dimension: <paramref name="n"/> threads rounded up to whole groups of 256.</summary>
    internal static KernelConfig Linear(long n) => new(Groups(n, GroupSize), GroupSize);
}

/// <summary>Up to eight integers passed by value to a kernel (a shape or strides); unused entries are 0.</summary>
public struct Int8
{
    public int V0, V1, V2, V3, V4, V5, V6, V7;

    public readonly int this[int i] => i switch { 0 => V0, 1 => V1, 2 => V2, 3 => V3, 4 => V4, 5 => V5, 6 => V6, _ => V7 };

    /// <summary>The most entries a value holds (tensor rank the strided kernels support).</summary>
    public const int Capacity = 8;

    public static Int8 From(ReadOnlySpan<int> values)
    {
        if (values.Length > Capacity) throw new ArgumentException($"GPU kernels support rank ≤ {Capacity}, got {values.Length}");
        var r = new Int8();
        for (int i = 0; i < values.Length; i++)
            switch (i)
            {
                case 0: r.V0 = values[i]; break;
                case 1: r.V1 = values[i]; break;
                case 2: r.V2 = values[i]; break;
                case 3: r.V3 = values[i]; break;
                case 4: r.V4 = values[i]; break;
                case 5: r.V5 = values[i]; break;
                case 6: r.V6 = values[i]; break;
                default: r.V7 = values[i]; break;
            }
        return r;
    }
}
