using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Bench;

/// <summary>
/// A column of work per second: <paramref name="work"/> gives the FLOPs (or bytes) of one call of a case from its
/// parameters, divided by the mean time in nanoseconds that is GFLOP/s (or GB/s).
/// </summary>
public sealed class ThroughputColumn(string name, string legend, Func<BenchmarkCase, double> work) : IColumn
{
    public string Id => nameof(ThroughputColumn) + name;
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => legend;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        return stats is null ? "-" : (work(benchmarkCase) / stats.Mean).ToString("F1");
    }

    /// <summary>The value of parameter <paramref name="name"/> of a case.</summary>
    public static string Param(BenchmarkCase c, string name) => c.Parameters[name] as string ?? throw new ArgumentException($"no string parameter '{name}'");

}
