using Engine.Data;
using Engine.Random;
using Models.Diffusion;
using Models.Training;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train ddpm [--data DIR] [--steps N] [--batch B] [--lr LR] [--seed S] [--out DIR] [--resume]
/// [--width CH] [--blocks N] [--schedule linear|cosine] [--timesteps T] [--prediction eps|v] [--min-snr G] [--warmup N] [--ema D]
/// [--save-every N] [--preview K] [--sample-every N] [--force]</c>: trains a class-conditional DDPM on Fashion-MNIST (the full set when found or
/// given, else the embedded part) and writes DIR/ddpm.safetensors (+ .json), loss.csv, loss.png and a preview grid
/// (K guided DDIM samples per class), and at the end DIR/ddpm-ema.safetensors (the EMA weights alone, with the command
/// and training time, for <c>engine sample ddpm</c> and <c>engine eval ddpm</c>). <c>--resume</c> continues DIR's checkpoint exactly, up to --steps in total.
/// </summary>
public static class TrainDdpmCommand
{
    public const string CheckpointName = "ddpm.safetensors";

    /// <summary>The EMA-only checkpoint written when a run finishes.</summary>
    public const string EmaCheckpointName = "ddpm-ema.safetensors";

    /// <summary>The trained checkpoint the repository ships: the default of <c>engine sample ddpm</c> and <c>engine eval ddpm</c>.</summary>
    public static string ShippedCheckpoint => Path.Combine("checkpoints", "fmnist-ddpm.safetensors");

    public static string CheckpointPath(string outDir) => Path.Combine(outDir, CheckpointName);

    /// <summary>The loop's options for a DDPM run in <paramref name="outDir"/>.</summary>
    public static TrainingLoopOptions LoopOptions(DiffusionConfig c, int steps, string outDir, int saveEvery, string commandLine, double previousSeconds = 0,
        Action<int>? afterStep = null, int sampleEvery = 0) => new()
    {
        TotalSteps = steps, OutDir = outDir, CheckpointName = CheckpointName, SaveEvery = saveEvery, SampleEvery = sampleEvery, CommandLine = commandLine, PreviousSeconds = previousSeconds,
        Title = $"DDPM (UNet width {c.BaseChannels}, {c.ResBlocks} blocks/level, batch {c.BatchSize}) on Fashion-MNIST", AfterStep = afterStep,
    };

    public static int Run(Args args) => Run(args, CancellationToken.None);

    /// <summary>As <see cref="Run(Args)"/>; <paramref name="cancel"/> acts like Ctrl+C (tests use it).</summary>
    public static int Run(Args args, CancellationToken cancel, Action<int>? afterStep = null, string commandLine = "engine train ddpm")
    {
        int steps = args.Int("steps", 20_000, 1, 100_000_000);
        string outDir = args.String("out", Path.Combine("runs", "ddpm"));
        string? dataDir = args.String("data");
        bool resume = args.Flag("resume"), force = args.Flag("force");
        int saveEvery = args.Int("save-every", 1000, 0);
        int preview = args.Int("preview", 8, 0, 64);
        int sampleEvery = args.Int("sample-every", 0, 0);
        // Settings of the run itself: from the options for a new run, from the checkpoint when resuming.
        var given = new Dictionary<string, string?>
        {
            ["batch"] = args.String("batch"), ["lr"] = args.String("lr"), ["seed"] = args.String("seed"), ["width"] = args.String("width"),
            ["blocks"] = args.String("blocks"), ["schedule"] = args.String("schedule"), ["prediction"] = args.String("prediction"),
            ["min-snr"] = args.String("min-snr"), ["warmup"] = args.String("warmup"), ["ema"] = args.String("ema"), ["timesteps"] = args.String("timesteps"),
        };
        var config = new DiffusionConfig(
            BaseChannels: args.Int("width", 32, 8, 512),
            ResBlocks: args.Int("blocks", 2, 1, 8),
            Schedule: args.String("schedule", "linear") switch
            {
                "linear" => ScheduleKind.Linear, "cosine" => ScheduleKind.Cosine,
                var s => throw new UsageException($"--schedule: '{s}' is not linear or cosine"),
            },
            Prediction: args.String("prediction", "eps") switch
            {
                "eps" => Prediction.Epsilon, "v" => Prediction.Velocity,
                var s => throw new UsageException($"--prediction: '{s}' is not eps or v"),
            },
            Timesteps: args.Int("timesteps", 1000, 2, 100_000),
            MinSnrGamma: args.Float("min-snr", 0f),
            LearningRate: args.Float("lr", 2e-4f),
            WarmupSteps: args.Int("warmup", 200, 0),
            EmaDecay: args.Float("ema", 0.999f),
            BatchSize: args.Int("batch", 64, 1, 4096),
            Seed: (ulong)args.Int("seed", 0, 0));
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();
        if (args.Positionals.Count > 1) throw new UsageException($"unexpected argument '{args.Positionals[1]}'");
        if (config.BaseChannels % 8 != 0) throw new UsageException($"--width: {config.BaseChannels} is not a multiple of 8");
        try { config.Validate(); } catch (ArgumentException e) { throw new UsageException(e.Message); }

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        string checkpoint = CheckpointPath(outDir);
        if (resume)
        {
            var explicitOptions = given.Where(kv => kv.Value is not null).Select(kv => "--" + kv.Key).ToList();
            if (explicitOptions.Count > 0 && File.Exists(checkpoint))
                throw new UsageException($"--resume continues the saved run with its own settings; drop {string.Join(", ", explicitOptions)}");
        }
        TrainingLoop.PrepareFolder(outDir, CheckpointName, resume, force);
        DiffusionTrainer trainer;
        double previousSeconds = 0;
        if (resume)
        {
            trainer = DiffusionCheckpoint.Load(checkpoint, out var info);
            previousSeconds = info.TrainSeconds;
            AnsiConsole.MarkupLine($"[bold]train ddpm[/]: resuming {Markup.Escape(checkpoint)} at step {trainer.Step}");
        }
        else trainer = new DiffusionTrainer(config);

        var c = trainer.Config;
        ITrainingRun run = new DdpmRun(trainer, train);
        if (sampleEvery > 0 && preview > 0)
            run = new PicturedRun(run, (path, step) =>
            {
                var labels = Enumerable.Range(0, trainer.Config.Classes).SelectMany(k => Enumerable.Repeat(k, preview)).ToArray();   // no bar: the training bar is live
                var images = trainer.Sampler().Sample(trainer.EmaModel(), trainer.Config.ImageShape, labels, new SamplerOptions(SamplerKind.Ddim, Math.Min(50, trainer.Config.Timesteps), 0f, 3f),
                    new Generator(trainer.Config.Seed + 7));
                DdpmPictures.WriteGrid(path, images, preview);
                return path;
            });
        AnsiConsole.MarkupLine($"[bold]train ddpm[/]: UNet width {c.BaseChannels}, {c.ResBlocks} blocks/level ({trainer.Model.ParameterCount():N0} parameters), " +
            $"{c.Schedule} schedule, T = {c.Timesteps}, {(c.Prediction == Prediction.Epsilon ? "ε" : "v")}-prediction, batch {c.BatchSize}, lr {c.LearningRate:G3}, " +
            $"{train.Count:N0} images from {Markup.Escape(train.Source)}");

        int firstStep = trainer.Step;
        var result = TrainingSession.Run(run, LoopOptions(c, steps, outDir, saveEvery, commandLine, previousSeconds, afterStep, sampleEvery), cancel);
        if (!result.Finished) return TrainingLoop.InterruptedExitCode;
        var losses = result.History.Select(r => r.Loss).ToList();

        string ema = Path.Combine(outDir, EmaCheckpointName);
        DiffusionCheckpoint.SaveSampling(ema, trainer, new Dictionary<string, string>
        {
            ["command"] = commandLine,
            ["train_seconds"] = result.TotalSeconds.ToString("F0", System.Globalization.CultureInfo.InvariantCulture),
            ["trained_from_step"] = firstStep.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["data"] = $"{train.Count} images from {train.Source}",
            ["hardware"] = $"{Environment.ProcessorCount} CPU threads",
        });
        string written = $"[link]{Markup.Escape(checkpoint)}[/], [link]{Markup.Escape(ema)}[/] (EMA weights only, for sampling), [link]{Markup.Escape(Path.Combine(outDir, "loss.png"))}[/]";
        if (preview > 0)
        {
            var options = new SamplerOptions(SamplerKind.Ddim, Math.Min(50, trainer.Config.Timesteps), 0f, 3f);
            var images = DdpmPictures.SampleRows(trainer.EmaModel(), trainer.Sampler(), Enumerable.Range(0, c.Classes).ToArray(), preview, options,
                new Generator(c.Seed + 7), c.ImageShape);
            string grid = Path.Combine(outDir, "samples.png");
            DdpmPictures.WriteGrid(grid, images, preview);
            written += $", [link]{Markup.Escape(grid)}[/] (one row per class)";
        }
        AnsiConsole.MarkupLine($"trained to step {trainer.Step}, final loss {losses.TakeLast(100).DefaultIfEmpty(float.NaN).Average():F4}; wrote {written}");
        return 0;
    }
}
