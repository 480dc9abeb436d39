using ILGPU;

namespace Kernels.Gpu;

/// <summary>
/// Sums across one group of <see cref="GpuKernels.GroupSize"/> threads through shared memory: a fixed tree, so the
/// result does not depend on timing (the same inputs give the same bits on every run).
/// </summary>
static class GroupReduce
{
    const int Threads = GpuKernels.GroupSize;

    /// <summary>Σ over the group of each thread's <paramref name="v"/>; every thread gets the total. All threads must call it.</summary>
    public static float Sum(ArrayView<float> partial, int t, float v)
    {
        partial[t] = v;
        Group.Barrier();
        for (int half = Threads / 2; half > 0; half >>= 1)
        {
            if (t < half) partial[t] += partial[t + half];
            Group.Barrier();
        }
        float s = partial[0];
        Group.Barrier();
        return s;
    }

    /// <summary>Maximum over the group of each thread's <paramref name="v"/> (NaN wins, as on the CPU); every thread gets it.</summary>
    public static float Max(ArrayView<float> partial, int t, float v)
    {
        partial[t] = v;
        Group.Barrier();
        for (int half = Threads / 2; half > 0; half >>= 1)
        {
            if (t < half)
            {
                float a = partial[t], b = partial[t + half];
                if (b > a || (float.IsNaN(b) && !float.IsNaN(a))) partial[t] = b;
            }
            Group.Barrier();
        }
        float m = partial[0];
        Group.Barrier();
        return m;
    }
}
