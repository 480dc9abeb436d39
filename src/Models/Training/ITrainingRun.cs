namespace Models.Training;

/// <summary>The losses of one step: the headline loss (plotted, averaged in the progress line) and named parts.</summary>
public readonly record struct StepLosses(float Loss, IReadOnlyList<(string Name, float Value)>? Parts = null)
{
    public static implicit operator StepLosses(float loss) => new(loss);
}

/// <summary>
/// One family's training as <see cref="TrainingLoop"/> drives it. A run draws its own batch for step
/// <see cref="Step"/> (chosen by the step number, so a resumed run sees the data an uninterrupted one would), and
/// saves and restores everything that step depends on. Families provide this and their pictures, nothing else.
/// </summary>
public interface ITrainingRun
{
    /// <summary>The registered family name, stored in checkpoints (<c>ddpm</c>, <c>gan</c>, …).</summary>
    string Family { get; }

    /// <summary>The run's config as JSON: what <see cref="RunCheckpoint"/> stores and a resumed run is rebuilt from.</summary>
    string ConfigJson { get; }

    /// <summary>Completed steps.</summary>
    int Step { get; }

    /// <summary>Samples per step, for the progress line's rate.</summary>
    int BatchSize { get; }

    /// <summary>Trains step <see cref="Step"/> and advances it.</summary>
    StepLosses TrainStep();

    /// <summary>Weights, averages, optimizer state, random-stream positions: enough to continue bit for bit.</summary>
    RunState SaveState();

    /// <summary>Restores what <see cref="SaveState"/> wrote (into a run built from the same config).</summary>
    void LoadState(RunState state);
}

/// <summary>A run that can draw pictures of its progress (samples every N steps and at the end).</summary>
public interface IPictureRun
{
    /// <summary>Writes the family's pictures for the current step into <paramref name="dir"/>; returns the paths written.</summary>
    IReadOnlyList<string> WritePictures(string dir, bool final);
}

/// <summary>Where the loop reports: a live bar on a terminal, plain lines in logs; tests pass <see cref="Silent"/>.</summary>
public interface ITrainingProgress
{
    void Start(string title, int fromStep, int totalSteps);
    void Report(TrainingStatus status);
    void Message(string line);
    void Finish();

    /// <summary>Reports nothing.</summary>
    public static ITrainingProgress Silent { get; } = new SilentProgress();

    sealed class SilentProgress : ITrainingProgress
    {
        public void Start(string title, int fromStep, int totalSteps) { }
        public void Report(TrainingStatus status) { }
        public void Message(string line) { }
        public void Finish() { }
    }
}

/// <summary>The loop's state after a step: step, recent mean loss and parts, samples per second, time left.</summary>
public sealed record TrainingStatus(int Step, int TotalSteps, double Loss, IReadOnlyList<(string Name, double Value)> Parts, double SamplesPerSecond, TimeSpan Remaining);
