using System.Diagnostics;

namespace Cli.Commands;

/// <summary>Wall-clock timing for the bench and kernels commands: one warm-up run, then the median of repeated runs.</summary>
public static class Timing
{
    /// <summary>Median milliseconds of <paramref name="run"/> over at least <paramref name="minRuns"/> runs and about <paramref name="minSeconds"/> seconds.</summary>
    public static double MedianMs(Action run, int minRuns = 3, double minSeconds = 0.5, int maxRuns = 50)
    {
        run();
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
