using System.Diagnostics;

namespace Cli.Commands;

/// <summary>
/// Wall-clock timing for the bench and kernels commands: warm-up runs (at least <see cref="WarmRuns"/> and about half a
/// second: the JIT tiers hot code up through its instrumented tier and the array pool fills in the first calls; a W1
/// training step takes about eight calls to settle), then the median of repeated runs. The PyTorch peer
/// (bench/peers/torch_bench.py) times the same way.
/// </summary>
public static class Timing
{
    /// <summary>Fewest warm-up runs before the timed ones.</summary>
    public const int WarmRuns = 8;

    /// <summary>Median milliseconds of <paramref name="run"/> over at least <paramref name="minRuns"/> runs and about <paramref name="minSeconds"/> seconds.</summary>
    public static double MedianMs(Action run, int minRuns = 5, double minSeconds = 0.5, int maxRuns = 50)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < WarmRuns || warm.Elapsed.TotalSeconds < 0.5 && i < maxRuns; i++) run();
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
