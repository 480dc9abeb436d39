using System.Diagnostics;

namespace Models.Training;

/// <summary>A run folder that already holds a checkpoint, started without <c>--resume</c> or <c>--force</c>.</summary>
public sealed class RunExistsException(string path, int step)
    : IOException($"{path} holds a checkpoint{(step >= 0 ? $" at step {step}" : "")}; continue it with --resume, or start over with --force")
{
    public string FilePath { get; } = path;
}

/// <summary>How <see cref="TrainingLoop"/> runs: the step to reach, where files go, how often to save and draw.</summary>
public sealed record TrainingLoopOptions
{
    /// <summary>Train until the run's step reaches this (a resumed run continues to it).</summary>
    public required int TotalSteps { get; init; }

    /// <summary>The run folder: checkpoint, <c>loss.csv</c>, <c>loss.png</c>, pictures.</summary>
    public required string OutDir { get; init; }

    /// <summary>The checkpoint's file name in <see cref="OutDir"/>, e.g. <c>ddpm.safetensors</c>.</summary>
    public required string CheckpointName { get; init; }

    /// <summary>Save every N steps (0: only at the end and on interruption).</summary>
    public int SaveEvery { get; init; }

    /// <summary>Draw the run's pictures every N steps when it can (0: only what the family draws at the end).</summary>
    public int SampleEvery { get; init; }

    /// <summary>The command line, stored in the checkpoint.</summary>
    public string CommandLine { get; init; } = "";

    /// <summary>Shown when the loop starts and used as the plot's title.</summary>
    public string Title { get; init; } = "training";

    /// <summary>Training time of the sessions before this one (from the checkpoint when resuming).</summary>
    public double PreviousSeconds { get; init; }

    public ITrainingProgress Progress { get; init; } = ITrainingProgress.Silent;

    /// <summary>Draws <c>loss.png</c> from the history (given its path); the loop stays free of plotting libraries.</summary>
    public Action<string, IReadOnlyList<LossRow>>? PlotLosses { get; init; }

    /// <summary>Called after every step with the step reached (tests cancel from here).</summary>
    public Action<int>? AfterStep { get; init; }

    public string CheckpointPath => Path.Combine(OutDir, CheckpointName);
}

/// <summary>How a loop ended: whether it reached the total, the step it stopped at, the whole loss history and this session's time.</summary>
public sealed record TrainingResult(bool Finished, int Step, IReadOnlyList<LossRow> History, TimeSpan Elapsed, double TotalSeconds, string CheckpointPath)
{
    /// <summary>The mean loss of the last <paramref name="n"/> steps (NaN without any).</summary>
    public double RecentLoss(int n = 100) => History.Count == 0 ? double.NaN : History.TakeLast(n).Average(r => (double)r.Loss);
}

/// <summary>
/// The one training loop every family runs through: steps until the total or a cancellation (Ctrl+C), a progress
/// report per step (step, mean loss, samples/s, time left), <c>loss.csv</c> (step numbers in every row) and
/// <c>loss.png</c>, a checkpoint every <see cref="TrainingLoopOptions.SaveEvery"/> steps, at the end and when
/// cancelled, and pictures every <see cref="TrainingLoopOptions.SampleEvery"/> steps. The loss history is written before the
/// checkpoint, so it is never behind it, and rows past the checkpoint's step are dropped on resume.
/// </summary>
/// <example><code>
/// TrainingLoop.PrepareFolder("runs/ddpm", "ddpm.safetensors", resume: false, force: false);
/// var result = TrainingLoop.Run(new DdpmRun(config, data), new() { TotalSteps = 1000, OutDir = "runs/ddpm", CheckpointName = "ddpm.safetensors" }, token);
/// </code></example>
public static class TrainingLoop
{
    /// <summary>Exit code of a run stopped by Ctrl+C after saving (128 + SIGINT, as shells report it).</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>
    /// Makes the run folder ready: creates it, removes temporary files a killed save left behind, and refuses to start
    /// a new run over an existing checkpoint (<see cref="RunExistsException"/>) unless <paramref name="force"/>; with
    /// <paramref name="resume"/> the checkpoint must exist (<see cref="FileNotFoundException"/>).
    /// </summary>
    public static void PrepareFolder(string outDir, string checkpointName, bool resume, bool force)
    {
        Directory.CreateDirectory(outDir);
        foreach (var stale in Directory.EnumerateFiles(outDir, ".*.tmp")) File.Delete(stale);
        string checkpoint = Path.Combine(outDir, checkpointName);
        bool exists = File.Exists(checkpoint);
        if (resume && !exists) throw new FileNotFoundException($"--resume: no checkpoint at {checkpoint}", checkpoint);
        if (!resume && exists && !force)
        {
            int step;
            try { step = RunCheckpoint.Peek(checkpoint).Step; }
            catch (IOException) { step = -1; }
            throw new RunExistsException(checkpoint, step);
        }
        if (!resume && exists) File.Delete(Path.Combine(outDir, LossHistory.FileName));
    }

    /// <summary>Trains <paramref name="run"/> to <see cref="TrainingLoopOptions.TotalSteps"/> or until <paramref name="cancel"/> fires, saving as it goes.</summary>
    public static TrainingResult Run(ITrainingRun run, TrainingLoopOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(options);
        Directory.CreateDirectory(options.OutDir);
        string[] names = [];
        var history = run.Step > 0 ? LossHistory.Read(options.OutDir, run.Step, out names) : [];
        IReadOnlyList<string> partNames = names;
        int first = run.Step, total = options.TotalSteps;
        var progress = options.Progress;
        var clock = Stopwatch.StartNew();
        var recent = new Queue<StepLosses>();
        progress.Start(options.Title, first, total);
        try
        {
            while (run.Step < total && !cancel.IsCancellationRequested)
            {
                var losses = run.TrainStep();
                var parts = losses.Parts ?? [];
                if (partNames.Count != parts.Count) partNames = parts.Select(p => p.Name).ToArray();
                history.Add(new LossRow(run.Step, losses.Loss, parts.Select(p => p.Value).ToArray()));
                recent.Enqueue(losses);
                if (recent.Count > 50) recent.Dequeue();
                int done = run.Step - first;
                double seconds = clock.Elapsed.TotalSeconds;
                var mean = Enumerable.Range(0, parts.Count).Select(i => (parts[i].Name, recent.Average(l => (double)(l.Parts is { } p && p.Count > i ? p[i].Value : float.NaN)))).ToList();
                progress.Report(new TrainingStatus(run.Step, total, recent.Average(l => (double)l.Loss), mean, done * (double)run.BatchSize / Math.Max(seconds, 1e-9),
                    TimeSpan.FromSeconds(seconds / done * (total - run.Step))));
                if (options.SaveEvery > 0 && run.Step % options.SaveEvery == 0 && run.Step < total) Save(run, options, history, partNames, clock);
                if (options.SampleEvery > 0 && run.Step % options.SampleEvery == 0 && run.Step < total && run is IPictureRun pictures)
                    pictures.WritePictures(options.OutDir, final: false);
                options.AfterStep?.Invoke(run.Step);
            }
        }
        finally { progress.Finish(); }
        Save(run, options, history, partNames, clock);
        bool finished = run.Step >= total;
        if (!finished) progress.Message($"interrupted at step {run.Step}: saved {options.CheckpointPath}; continue with --resume");
        return new TrainingResult(finished, run.Step, history, clock.Elapsed, options.PreviousSeconds + clock.Elapsed.TotalSeconds, options.CheckpointPath);
    }

    /// <summary>Loss history first, then the checkpoint, then the plot: the history is never behind the weights.</summary>
    static void Save(ITrainingRun run, TrainingLoopOptions options, IReadOnlyList<LossRow> history, IReadOnlyList<string> partNames, Stopwatch clock)
    {
        LossHistory.Write(options.OutDir, history, partNames);
        var info = new RunInfo(run.Family, run.ConfigJson, run.Step, options.CommandLine, RunCheckpoint.EngineVersion, options.PreviousSeconds + clock.Elapsed.TotalSeconds);
        RunCheckpoint.Save(options.CheckpointPath, info, run.SaveState());
        options.PlotLosses?.Invoke(Path.Combine(options.OutDir, "loss.png"), history);
    }
}
