using System.Diagnostics;

namespace Cli.Commands;

/// <summary>
/// Wall-clock timing for the bench and kernels commands: warm-up runs (at least two and about half a second: the JIT
/// tiers hot code up and the heap grows to its working size in the first calls), then the median of repeated runs.
/// The PyTorch peer (bench/peers/torch_bench.py) times the same way.
/// </summary>
public static class Timing
{
    /// <summary>Median milliseconds of <paramref name="run"/> over at least <paramref name="minRuns"/> runs and about <paramref name="minSeconds"/> seconds.</summary>
    public static double MedianMs(Action run, int minRuns = 3, double minSeconds = 0.5, int maxRuns = 50)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 2 || warm.Elapsed.TotalSeconds < 0.5 && i < maxRuns; i++) run();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < minRuns || (total.Elapsed.TotalSeconds < minSeconds && times.Count < maxRuns))
        {
            var sw = Stopwatch.StartNew();
            run();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
