using ILGPU;
using ILGPU.Runtime;
using Kernels.Gpu;

namespace Engine.Tests;

/// <summary>
/// Device buffers for the kernel tests that call <see cref="GpuKernels"/> launchers directly on the test accelerator:
/// upload host arrays, read results back. Every buffer holds at least one element so empty inputs still give a
/// valid view; <see cref="View"/> trims it to the real length.
/// </summary>
sealed class GpuBuffers : IDisposable
{
    readonly List<IDisposable> owned = [];

    public static GpuKernels K => GpuTestDevice.Variants.Kernels;
    static Accelerator Acc => K.Accelerator;

    public ArrayView<float> Up(float[] data)
    {
        var b = Acc.Allocate1D<float>(Math.Max(1, data.Length));
        owned.Add(b);
        if (data.Length > 0) b.View.SubView(0, data.Length).CopyFromCPU(Acc.DefaultStream, data);
        return b.View.SubView(0, data.Length);
    }

    public ArrayView<int> Up(int[] data)
    {
        var b = Acc.Allocate1D<int>(Math.Max(1, data.Length));
        owned.Add(b);
        if (data.Length > 0) b.View.SubView(0, data.Length).CopyFromCPU(Acc.DefaultStream, data);
        return b.View.SubView(0, data.Length);
    }

    /// <summary>A device view of <paramref name="n"/> floats filled with NaN, so a kernel that skips an element shows.</summary>
    public ArrayView<float> Out(int n) => Up(Enumerable.Repeat(float.NaN, n).ToArray());

    public ArrayView<int> OutInt(int n) => Up(Enumerable.Repeat(-7, n).ToArray());

    public static float[] Down(ArrayView<float> v)
    {
        var r = new float[v.Length];
        if (r.Length > 0) v.CopyToCPU(Acc.DefaultStream, r);
        Acc.DefaultStream.Synchronize();
        return r;
    }

    public static int[] Down(ArrayView<int> v)
    {
        var r = new int[v.Length];
        if (r.Length > 0) v.CopyToCPU(Acc.DefaultStream, r);
        Acc.DefaultStream.Synchronize();
        return r;
    }

    public void Dispose()
    {
        Acc.DefaultStream.Synchronize();
        foreach (var b in owned) b.Dispose();
    }
}
