using System.Diagnostics;
using System.Globalization;
using Engine.Data;
using Models.Diffusion;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// The DDPM training loop shared by <c>engine train ddpm</c> and <c>engine demo</c>: a live progress bar (step,
/// loss, images/s, ETA), a checkpoint every <c>saveEvery</c> steps and at the end, and Ctrl+C handled as
/// "save, then stop" (Console.CancelKeyPress → cancellation → checkpoint → exit code 130).
/// Files in the output folder: <see cref="CheckpointName"/> (+ .json), <c>loss.csv</c> and <c>loss.png</c>.
/// </summary>
public static class DdpmTraining
{
    public const string CheckpointName = "ddpm.safetensors";

    /// <summary>The EMA-only checkpoint written when a run finishes.</summary>
    public const string EmaCheckpointName = "ddpm-ema.safetensors";

    /// <summary>The trained checkpoint the repository ships: the default of <c>engine sample ddpm</c> and <c>engine eval ddpm</c>.</summary>
    public static string ShippedCheckpoint => Path.Combine("checkpoints", "fmnist-ddpm.safetensors");

    /// <summary>Exit code of a run stopped by Ctrl+C after saving (128 + SIGINT, as shells report it).</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>
    /// Trains until <see cref="DiffusionTrainer.Step"/> reaches <paramref name="totalSteps"/> or <paramref name="cancel"/>
    /// fires, saving as it goes. Returns whether it finished, and the loss of every step since step 0.
    /// </summary>
    public static (bool Finished, List<float> Losses) Run(DiffusionTrainer trainer, DataLoader loader, int totalSteps, string outDir,
        int saveEvery, List<float> history, CancellationToken cancel, Action<int>? afterStep = null)
    {
        Directory.CreateDirectory(outDir);
        var losses = history;
        int first = trainer.Step, batch = trainer.Config.BatchSize;
        var clock = Stopwatch.StartNew();
        bool finished = trainer.Step >= totalSteps;

        using var ctrlC = new CtrlC(cancel);
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: totalSteps);
                task.Value = trainer.Step;
                while (trainer.Step < totalSteps)
                {
                    if (ctrlC.Token.IsCancellationRequested) return;
                    losses.Add(trainer.TrainStep(loader));
                    int done = trainer.Step - first;
                    double imagesPerSecond = done * batch / clock.Elapsed.TotalSeconds;
                    task.Description = $"step {trainer.Step}/{totalSteps}  loss {losses.TakeLast(50).Average():F4}  {imagesPerSecond:F0} img/s";
                    task.Value = trainer.Step;
                    if (saveEvery > 0 && trainer.Step % saveEvery == 0 && trainer.Step < totalSteps) Save(trainer, outDir, losses);
                    afterStep?.Invoke(trainer.Step);
                }
                finished = true;
            });

        Save(trainer, outDir, losses);
        if (!finished)
            AnsiConsole.MarkupLine($"[yellow]interrupted[/] at step {trainer.Step}: saved [link]{Markup.Escape(CheckpointPath(outDir))}[/]; continue with --resume");
        return (finished, losses);
    }

    public static string CheckpointPath(string outDir) => Path.Combine(outDir, CheckpointName);

    /// <summary>Checkpoint, loss table and loss plot.</summary>
    public static void Save(DiffusionTrainer trainer, string outDir, IReadOnlyList<float> losses)
    {
        DiffusionCheckpoint.Save(CheckpointPath(outDir), trainer);
        var csv = "step,loss\n" + string.Concat(losses.Select((l, i) => $"{i + 1},{l.ToString("R", CultureInfo.InvariantCulture)}\n"));
        Engine.IO.AtomicFile.WriteAllText(Path.Combine(outDir, "loss.csv"), csv);
        var c = trainer.Config;
        LossPlot.Save(Path.Combine(outDir, "loss.png"), losses,
            $"DDPM (UNet width {c.BaseChannels}, {c.ResBlocks} blocks/level, batch {c.BatchSize}) on Fashion-MNIST");
    }

    /// <summary>The losses of steps 1..<paramref name="steps"/> from a previous run's loss.csv (fewer if it is shorter or missing).</summary>
    public static List<float> ReadLosses(string outDir, int steps)
    {
        var path = Path.Combine(outDir, "loss.csv");
        var losses = new List<float>();
        if (!File.Exists(path)) return losses;
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            if (losses.Count >= steps) break;
            var parts = line.Split(',');
            if (parts.Length != 2 || !float.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) break;
            losses.Add(v);
        }
        return losses;
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
