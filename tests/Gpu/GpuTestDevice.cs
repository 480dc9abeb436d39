using Engine.Gpu;
using Kernels.Gpu;

namespace Engine.Tests;

/// <summary>
/// The GPU the tests run on: ILGPU's CPU accelerator, which executes the same kernels as CUDA and OpenCL (groups,
/// shared memory, barriers) on the host, so the GPU code path is covered on machines without a GPU. It is slow, so
/// these tests use small sizes.
/// </summary>
static class GpuTestDevice
{
    public static Device Device { get; } = Engine.Device.Gpu(Engine.Device.CpuAcceleratorName);

    /// <summary>The span-signature variants of the kernels on the same accelerator (what the registry lists on a real GPU).</summary>
    public static GpuVariants Variants { get; } = new(GpuRuntime.Get(Device).Accelerator);

    public static float[] Values(int n, ulong seed)
    {
        var a = new float[n];
        new Random.Generator(seed).FillNormal(a);
        return a;
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, float tol = 1e-4f)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i]))))
                Assert.Fail($"{what}: element {i} is {actual[i]}, reference {expected[i]}");
    }
}
