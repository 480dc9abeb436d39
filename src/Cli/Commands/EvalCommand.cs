using System.Globalization;
using System.Text.Json;
using Engine;
using Engine.Data;
using Models.Classifier;
using Models.Evaluation;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine eval &lt;model&gt; [--checkpoint F] [--classifier F] [--samples N] [--data DIR] [--json]</c>: the metrics of the
/// results table. <c>data</c> measures the floor: the FCD of real training images against the test set.
/// </summary>
public static class EvalCommand
{
    /// <summary>One measured quantity, printed as a table row or a JSON field.</summary>
    public sealed record Metric(string Name, double Value, string Unit);

    /// <summary>What every evaluation shares: the fixed classifier, the test set and its feature statistics.</summary>
    public sealed class EvalContext(ClassifierMetrics metrics, ImageDataset test, string? dataDir, int samples)
    {
        public ClassifierMetrics Metrics { get; } = metrics;
        public ImageDataset Test { get; } = test;
        public string? DataDir { get; } = dataDir;
        /// <summary>How many images FCD compares (fixed, and stated in every table).</summary>
        public int Samples { get; } = samples;
        FeatureStatistics? testStats;
        public FeatureStatistics TestStatistics => testStats ??= Metrics.Statistics(Test.Images.Narrow(0, 0, Math.Min(Samples, Test.Count)));
    }

    /// <summary>Reads the options every evaluation shares, builds the context and runs the family's <paramref name="eval"/>.</summary>
    public static int Run(Args args, Func<Args, EvalContext, IReadOnlyList<Metric>> eval)
    {
        string classifierPath = args.String("classifier", ClassifierCheckpoint.DefaultPath);
        int samples = args.Int("samples", 10_000, 2, 1_000_000);
        string? dataDir = args.String("data");
        bool json = args.Flag("json");
        if (args.IsProbe) eval(args, null!);                                       // a probe stops at the family's RejectUnknown

        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        var context = new EvalContext(new ClassifierMetrics(ClassifierCheckpoint.Load(classifierPath)), test, dataDir, samples);
        var metrics = eval(args, context);

        if (json)
            Console.WriteLine(JsonSerializer.Serialize(metrics.ToDictionary(m => m.Name, m => Math.Round(m.Value, 6))));
        else
        {
            var table = new Table().AddColumns("metric", "value", "unit");
            foreach (var m in metrics) table.AddRow(Markup.Escape(m.Name), m.Value.ToString("G6", CultureInfo.InvariantCulture), Markup.Escape(m.Unit));
            AnsiConsole.Write(table);
        }
        return 0;
    }

    /// <summary>The floor of the table: real training images against the test set, same sample count.</summary>
    public static IReadOnlyList<Metric> EvalData(Args args, EvalContext c)
    {
        args.RejectUnknown();
        var train = FashionMnist.Load(c.DataDir, DataSplit.Train);
        int n = Math.Min(c.Samples, train.Count);
        var images = train.Images.Narrow(0, 0, n);
        return
        [
            new("fcd", c.Metrics.Fcd(c.TestStatistics, images), $"train vs test, {n} vs {c.TestStatistics.Count} images"),
            new("conditional_accuracy", c.Metrics.ConditionalAccuracy(images, train.Labels[..n]), "fraction (classifier on training images)"),
            new("classifier_test_accuracy", c.Metrics.ConditionalAccuracy(c.Test.Images, c.Test.Labels), "fraction"),
        ];
    }

    /// <summary>Runs <paramref name="work"/> under a progress bar of <paramref name="total"/> units; work reports units done.</summary>
    public static void Progress(string description, int total, Action<Action<int>> work) =>
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(description, maxValue: total);
                work(done => task.Value = done);
            });
}
