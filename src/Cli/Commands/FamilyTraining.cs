using Models.Training;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// What the train commands share around <see cref="TrainingLoop"/>: the run checkpoint's name in the run folder, the rule
/// that a resumed run keeps its saved settings, the loop's options, and small output helpers.
/// </summary>
static class FamilyTraining
{
    /// <summary>The run checkpoint of the families whose sampling file is written separately at the end.</summary>
    public const string CheckpointName = "run.safetensors";

    /// <summary>With <paramref name="resume"/>, any of <paramref name="runOptions"/> given is a usage error: the run continues with the settings in its checkpoint.</summary>
    public static void RefuseChangedOptions(Args args, bool resume, params string[] runOptions)
    {
        if (!resume) return;
        var given = runOptions.Where(args.Has).Select(o => "--" + o).ToList();
        if (given.Count > 0) throw new UsageException($"--resume continues the saved run with its own settings; drop {string.Join(", ", given)}");
    }

    /// <summary>
    /// <c>--threads N</c> (CPU threads, applied when given) and <c>--device</c> (training runs on the CPU: cpu is the value
    /// it accepts; the GPU serves <c>bench</c> and <c>kernels</c>), read by every train command.
    /// </summary>
    public static void ReadMachine(Args args)
    {
        int threads = args.Int("threads", Environment.ProcessorCount, 1, 1024, shown: "all logical cores");
        string device = args.String("device", "cpu");
        if (args.IsProbe) return;
        if (device != "cpu") throw new UsageException($"--device: '{device}' is not accepted here; training runs on the CPU (cpu)");
        if (args.Has("threads")) Kernels.Cpu.Parallelism.MaxThreads = threads;
    }

    /// <summary>Runs the loop with the console's progress and Ctrl+C handling; returns null when it was interrupted (saved).</summary>
    public static TrainingResult? Train(ITrainingRun run, string outDir, int totalSteps, string commandLine, string title, double previousSeconds,
        int saveEvery = 0, int sampleEvery = 0, string checkpointName = CheckpointName)
    {
        var result = TrainingSession.Run(run, new TrainingLoopOptions
        {
            TotalSteps = totalSteps, OutDir = outDir, CheckpointName = checkpointName, SaveEvery = saveEvery, SampleEvery = sampleEvery,
            CommandLine = commandLine, Title = title, PreviousSeconds = previousSeconds,
        }, CancellationToken.None);
        if (result.Finished) AnsiConsole.MarkupLine($"{Markup.Escape(title)}: step {result.Step} in {result.Elapsed.TotalSeconds:F0} s, loss (mean of last 50) {result.RecentLoss(50):F4}");
        return result.Finished ? result : null;
    }

    /// <summary>Labels for a grid with one row per class: <paramref name="perClass"/> of class 0, then of class 1, …</summary>
    public static int[] ClassRows(int classes, int perClass) =>
        Enumerable.Range(0, Math.Max(1, classes) * perClass).Select(i => classes == 0 ? 0 : i / perClass).ToArray();

    public static string PrepareOut(string dir)
    {
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void Wrote(params string[] paths) =>
        AnsiConsole.MarkupLine("wrote " + string.Join(", ", paths.Select(p => $"[link]{Markup.Escape(p)}[/]")));
}

/// <summary>A run whose pictures the command draws (the family's sampler lives in the CLI): the loop calls <paramref name="draw"/> every --sample-every steps.</summary>
sealed class PicturedRun(ITrainingRun run, Func<string, int, string> draw) : ITrainingRun, IPictureRun
{
    public string Family => run.Family;
    public string ConfigJson => run.ConfigJson;
    public int Step => run.Step;
    public int BatchSize => run.BatchSize;
    public StepLosses TrainStep() => run.TrainStep();
    public RunState SaveState() => run.SaveState();
    public void LoadState(RunState state) => run.LoadState(state);

    /// <summary>Writes <c>samples_STEP.png</c> (<paramref name="final"/> pictures are the command's own).</summary>
    public IReadOnlyList<string> WritePictures(string dir, bool final) => final ? [] : [draw(Path.Combine(dir, $"samples_{Step:D6}.png"), Step)];
}
