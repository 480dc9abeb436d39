using System.Diagnostics;
using Engine.Data;
using Engine.Random;
using Models.Diffusion;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine demo [--steps N] [--batch B] [--width CH] [--samples K] [--sampling-steps N] [--data DIR] [--out DIR] [--seed S]</c>: the main job in a few
/// minutes on a CPU. Trains a small class-conditional DDPM (UNet-S at reduced width, ε-prediction, linear
/// schedule, CFG label dropout) on Fashion-MNIST with a live progress bar, then writes to runs/demo/: guided DDIM
/// samples with one row per class (<c>samples.png</c>), the denoising trajectory of a few images
/// (<c>trajectory.png</c>), the loss curve (<c>loss.png</c>) and the checkpoint (<c>ddpm.safetensors</c>, which
/// <c>engine sample ddpm</c> reads). Ctrl+C saves the checkpoint and stops.
/// </summary>
public static class DemoCommand
{
    /// <summary>The demo's run: sized so that samples show recognisable garments after a few minutes on two cores.</summary>
    public static DiffusionConfig DefaultConfig(int width, int batch, ulong seed) => new(
        BaseChannels: width, ResBlocks: 1, MinSnrGamma: 5f, LearningRate: 1e-3f, WarmupSteps: 100, EmaDecay: 0.995f, BatchSize: batch, Seed: seed);

    public const int DefaultSteps = 1000, DefaultWidth = 16, DefaultBatch = 32;

    /// <summary>Guided DDIM (50 steps by default, η 0, guidance 3) for the pictures.</summary>
    public static SamplerOptions Pictures(int steps) => new(SamplerKind.Ddim, steps, 0f, 3f);

    public static int Run(Args args) => Run(args, CancellationToken.None);

    public static int Run(Args args, CancellationToken cancel)
    {
        int steps = args.Int("steps", DefaultSteps, 1, 10_000_000);
        int batch = args.Int("batch", DefaultBatch, 1, 4096);
        int width = args.Int("width", DefaultWidth, 8, 256);
        int perClass = args.Int("samples", 10, 1, 32);
        var pictures = Pictures(args.Int("sampling-steps", 50, 1, 1000));
        string? dataDir = args.String("data");
        string outDir = args.String("out", Path.Combine("runs", "demo"));
        ulong seed = (ulong)args.Int("seed", 0, 0);
        args.RejectUnknown();
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected argument '{args.Positionals[0]}'");
        if (width % 8 != 0) throw new UsageException($"--width: {width} is not a multiple of 8");

        var clock = Stopwatch.StartNew();
        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        if (train.Count < batch) throw new UsageException($"--batch {batch} is larger than the {train.Count} training images");
        var trainer = new DiffusionTrainer(DefaultConfig(width, batch, seed));
        var c = trainer.Config;
        AnsiConsole.MarkupLine($"[bold]demo[/]: a class-conditional DDPM on Fashion-MNIST — UNet width {c.BaseChannels} ({trainer.Model.ParameterCount():N0} parameters), " +
            $"{steps} AdamW steps of {batch} images from {Markup.Escape(train.Source)} ({train.Count:N0} images), then {DdpmPictures.Describe(pictures)}");

        Models.Training.TrainingLoop.PrepareFolder(outDir, TrainDdpmCommand.CheckpointName, resume: false, force: true);
        var result = TrainingSession.Run(new DdpmRun(trainer, train), TrainDdpmCommand.LoopOptions(c, steps, outDir, 0, "engine demo"), cancel);
        if (!result.Finished) return Models.Training.TrainingLoop.InterruptedExitCode;
        var losses = result.History.Select(r => r.Loss).ToList();
        double trainSeconds = clock.Elapsed.TotalSeconds;

        var model = trainer.EmaModel();
        var sampler = trainer.Sampler();
        var classes = Enumerable.Range(0, c.Classes).ToArray();
        var samples = DdpmPictures.SampleRows(model, sampler, classes, perClass, pictures, new Generator(seed + 100), c.ImageShape);
        string samplesPath = Path.Combine(outDir, "samples.png"), trajectoryPath = Path.Combine(outDir, "trajectory.png");
        DdpmPictures.WriteGrid(samplesPath, samples, perClass);
        int[] shown = [0, 1, 3, 5, 7, 8, 9];                                        // top, trouser, dress, sandal, sneaker, bag, boot
        var (strip, columns) = DdpmPictures.Trajectory(model, sampler, shown, 11, pictures, new Generator(seed + 200), c.ImageShape);
        DdpmPictures.WriteGrid(trajectoryPath, strip, columns);

        AnsiConsole.MarkupLine($"trained {steps} steps in {trainSeconds:F0} s (final loss {losses.TakeLast(100).Average():F4}); total {clock.Elapsed.TotalSeconds:F0} s");
        AnsiConsole.MarkupLine($"wrote [link]{Markup.Escape(samplesPath)}[/] (one row per class: {Markup.Escape(string.Join(", ", classes.Select(DdpmPictures.ClassName)))}),");
        AnsiConsole.MarkupLine($"      [link]{Markup.Escape(trajectoryPath)}[/] (x_t from pure noise to the sample, left to right, for {Markup.Escape(string.Join(", ", shown.Select(DdpmPictures.ClassName)))}),");
        AnsiConsole.MarkupLine($"      [link]{Markup.Escape(Path.Combine(outDir, "loss.png"))}[/] and [link]{Markup.Escape(TrainDdpmCommand.CheckpointPath(outDir))}[/]");
        AnsiConsole.MarkupLine($"more samples: [grey]engine sample ddpm --checkpoint {Markup.Escape(TrainDdpmCommand.CheckpointPath(outDir))} --out grid.png[/]");
        return 0;
    }
}
