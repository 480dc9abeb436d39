using System.Globalization;
using Models.Training;
using Spectre.Console;

namespace Cli;

/// <summary>
/// Runs a <see cref="TrainingLoop"/> for a command: Ctrl+C becomes a cancellation (save, then exit 130), progress goes to a
/// live bar on a terminal or to plain lines at a modest interval when stdout is redirected or <c>CI</c> is set, and
/// <c>loss.png</c> is drawn with <see cref="LossPlot"/>.
/// </summary>
public static class TrainingSession
{
    /// <summary>Whether progress is written as plain lines (no ANSI codes, no live redraws).</summary>
    public static bool PlainOutput => Console.IsOutputRedirected || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));

    public static TrainingResult Run(ITrainingRun run, TrainingLoopOptions options, CancellationToken cancel)
    {
        using var ctrlC = new CtrlC(cancel);
        var withPlot = options.PlotLosses is not null ? options : options with
        {
            PlotLosses = (path, rows) => LossPlot.Save(path, rows.Select(r => r.Loss).ToList(), options.Title),
        };
        TrainingResult result;
        if (PlainOutput)
            result = TrainingLoop.Run(run, withPlot with { Progress = new PlainProgress() }, ctrlC.Token);
        else
        {
            TrainingResult? r = null;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: Math.Max(1, options.TotalSteps));
                    task.Value = run.Step;
                    r = TrainingLoop.Run(run, withPlot with { Progress = new LiveProgress(task) }, ctrlC.Token);
                });
            result = r!;
        }
        if (!result.Finished)
            AnsiConsole.MarkupLine($"[yellow]interrupted[/] at step {result.Step}: saved [link]{Markup.Escape(result.CheckpointPath)}[/]; continue with --resume");
        return result;
    }

    static string Line(TrainingStatus s)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"step {s.Step}/{s.TotalSteps}  loss {s.Loss:F4}");
        foreach (var (name, value) in s.Parts) sb.Append(CultureInfo.InvariantCulture, $"  {name} {value:F3}");
        sb.Append(CultureInfo.InvariantCulture, $"  {s.SamplesPerSecond:F0} img/s");
        return sb.ToString();
    }

    sealed class LiveProgress(ProgressTask task) : ITrainingProgress
    {
        public void Start(string title, int fromStep, int totalSteps) => task.Value = fromStep;
        public void Report(TrainingStatus status)
        {
            task.Description = Markup.Escape(Line(status));
            task.Value = status.Step;
        }
        public void Message(string line) { }
        public void Finish() { }
    }

    /// <summary>About twenty lines a run, and at least one every ten seconds of a slow run.</summary>
    sealed class PlainProgress : ITrainingProgress
    {
        int every = 1;
        DateTime last = DateTime.UtcNow;

        public void Start(string title, int fromStep, int totalSteps)
        {
            every = Math.Max(1, (totalSteps - fromStep) / 20);
            Console.WriteLine($"{title}: steps {fromStep + 1}–{totalSteps}");
        }

        public void Report(TrainingStatus s)
        {
            if (s.Step % every != 0 && s.Step != s.TotalSteps && (DateTime.UtcNow - last).TotalSeconds < 10) return;
            last = DateTime.UtcNow;
            Console.WriteLine(Line(s) + string.Create(CultureInfo.InvariantCulture, $"  eta {s.Remaining:hh\\:mm\\:ss}"));
        }

        public void Message(string line) => Console.WriteLine(line);
        public void Finish() { }
    }

    /// <summary>Turns Ctrl+C into a cancellation (instead of killing the process) for as long as it lives.</summary>
    sealed class CtrlC : IDisposable
    {
        readonly CancellationTokenSource source;
        public CancellationToken Token => source.Token;

        public CtrlC(CancellationToken outer)
        {
            source = CancellationTokenSource.CreateLinkedTokenSource(outer);
            Console.CancelKeyPress += OnCancel;
        }

        void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            if (source.IsCancellationRequested) return;   // a second Ctrl+C ends the process at once
            e.Cancel = true;                              // the first lets the current step finish and the checkpoint be saved
            source.Cancel();
        }

        public void Dispose()
        {
            Console.CancelKeyPress -= OnCancel;
            source.Dispose();
        }
    }
}
