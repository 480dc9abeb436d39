namespace Kernels.Cpu;

/// <summary>
/// How many threads the CPU kernels may use (default: all cores). Kernels split work with
/// <see cref="For"/>, which stays on the calling thread when the work is below a grain size, so small tensors
/// do not pay for thread hand-offs.
/// </summary>
public static class Parallelism
{
    static int maxThreads = Environment.ProcessorCount;

    public static int MaxThreads
    {
        get => maxThreads;
        set => maxThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), $"MaxThreads must be at least 1, got {value}");
    }

    /// <summary>Runs body(i) for i in [0, count), on several threads only when count·costPerItem ≥ <paramref name="grain"/>.</summary>
    public static void For(int count, long costPerItem, Action<int> body, long grain = 1 << 18)
    {
        if (count <= 0) return;
        if (maxThreads == 1 || count == 1 || count * costPerItem < grain)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = maxThreads }, body);
    }
}
