using System.Diagnostics;
using Engine;
using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Dit;
using Models.Training;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train dit [--objective diffusion|rf] [--steps N] [--batch B] [--lr LR] [--width D] [--depth L] [--heads H]
/// [--patch P] [--data DIR] [--seed S] [--out DIR] [--resume] [--force] [--save-every N] [--sample-steps N] [--guidance S]</c>: trains a
/// class-conditional DiT on Fashion-MNIST with a live progress bar and writes to the output folder (default
/// runs/dit): <c>dit.safetensors</c> (resumable checkpoint), <c>samples.png</c> (guided samples, one row per class)
/// and <c>loss.png</c>. Ctrl+C stops after the current step and saves. <c>engine sample dit --checkpoint F</c> draws a grid.
/// </summary>
public static class DitCommands
{
    public static int Train(Args args, string commandLine)
    {
        var objective = args.String("objective", "diffusion") switch
        {
            "diffusion" or "ddpm" => DitObjective.Diffusion,
            "rf" or "rectified" or "rectified-flow" => DitObjective.RectifiedFlow,
            var o => throw new UsageException($"--objective: '{o}' is not diffusion or rf"),
        };
        int steps = args.Int("steps", 2000, 1, 10_000_000);
        string? batchGiven = args.String("batch"), lrGiven = args.String("lr"), seedGiven = args.String("seed");
        int batch = args.Int("batch", 64, 1, 4096);
        int width = args.Int("width", 256, 8, 4096), depth = args.Int("depth", 6, 1, 64), heads = args.Int("heads", 4, 1, 64), patch = args.Int("patch", 2, 1, 28);
        float lr = args.Float("lr", 3e-4f);
        string? dataDir = args.String("data");
        string outDir = args.String("out", Path.Combine("runs", "dit"));
        ulong seed = (ulong)args.Int("seed", 0, 0);
        bool resume = args.Flag("resume"), force = args.Flag("force");
        int saveEvery = args.Int("save-every", 500, 0), sampleEvery = args.Int("sample-every", 0, 0);
        int sampleSteps = args.Int("sample-steps", objective == DitObjective.Diffusion ? 50 : 20, 1, 1000);
        float guidance = args.Float("guidance", 3f);
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();

        const string name = "dit.safetensors";
        string checkpoint = Path.Combine(outDir, name);
        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        TrainingLoop.PrepareFolder(outDir, name, resume, force);
        DitTrainer trainer;
        double previous = 0;
        if (resume)
        {
            trainer = DitTrainer.Load(checkpoint, out var info);
            previous = info.TrainSeconds;
            var c0 = trainer.Config;
            var changed = new List<string>();
            if (batchGiven is not null && batch != c0.BatchSize) changed.Add($"--batch {batch} (saved {c0.BatchSize})");
            if (lrGiven is not null && lr != c0.LearningRate) changed.Add($"--lr {lr} (saved {c0.LearningRate})");
            if (seedGiven is not null && seed != c0.Seed) changed.Add($"--seed {seed} (saved {c0.Seed})");
            if (changed.Count > 0) throw new UsageException($"--resume continues the saved run with its own settings; drop {string.Join(", ", changed)}");
        }
        else
        {
            var model = new DitConfig(ImageSize: train.Height, Channels: train.Channels, Patch: patch, Width: width, Depth: depth, Heads: heads, Classes: train.ClassNames.Count);
            trainer = new DitTrainer(new DitTrainConfig(model, objective, LearningRate: lr, Seed: seed, BatchSize: batch));
        }
        var c = trainer.Config;
        AnsiConsole.MarkupLine($"[bold]train dit[/]: {c.Model.Depth} blocks of width {c.Model.Width}, patch {c.Model.Patch}, {trainer.Model.ParameterCount():N0} parameters, " +
            $"{(c.Objective == DitObjective.Diffusion ? "diffusion (ε-prediction)" : "rectified flow")}, on {train.Count:N0} images from {Markup.Escape(train.Source)}");

        var pictured = new PicturedRun(new DitRun(trainer, train), (path, _) =>
        {
            var labels = Enumerable.Range(0, c.Model.Classes * 8).Select(i => i / 8).ToArray();     // no status line: the progress bar is live
            ImageGrid.Write(path, DitTrainer.Sample(trainer.EmaModel(), c, labels, sampleSteps, guidance, new Generator(c.Seed + 99)), columns: 8, padding: 2, padValue: 1f);
            return path;
        });
        var result = TrainingSession.Run(pictured, new TrainingLoopOptions
        {
            TotalSteps = steps, OutDir = outDir, CheckpointName = name, SaveEvery = saveEvery, SampleEvery = sampleEvery, CommandLine = commandLine, PreviousSeconds = previous,
            Title = $"DiT on Fashion-MNIST ({c.Objective})",
        }, CancellationToken.None);
        if (!result.Finished) return TrainingLoop.InterruptedExitCode;

        string grid = Path.Combine(outDir, "samples.png");
        WriteClassGrid(trainer.EmaModel(), c, grid, perClass: 8, sampleSteps, guidance, new Generator(c.Seed + 99));
        AnsiConsole.MarkupLine($"wrote [link]{checkpoint}[/] (step {trainer.Step}), [link]{Path.Combine(outDir, "loss.png")}[/], [link]{grid}[/] (one row per class: {string.Join(", ", train.ClassNames)})");
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(commandLine)}[/]");
        return 0;
    }

    /// <summary><c>engine sample dit --checkpoint F [--steps N] [--guidance S] [--shift S] [--n K] [--seed S] --out F.png</c>: K samples of every class, one row per class.</summary>
    public static int Sample(Args args)
    {
        string checkpoint = args.Required("checkpoint");
        string outPath = args.Required("out");
        int n = args.Int("n", 8, 1, 256);
        float guidance = args.Float("guidance", 3f), shift = args.Float("shift", 1f);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        int? stepsOpt = args.String("steps") is null ? null : args.Int("steps", 50, 1, 1000);
        args.RejectUnknown();
        if (!File.Exists(checkpoint)) throw new UsageException($"--checkpoint: no file at {checkpoint}");
        var trainer = DitTrainer.Load(checkpoint);
        int steps = stepsOpt ?? (trainer.Config.Objective == DitObjective.Diffusion ? 50 : 20);
        WriteClassGrid(trainer.EmaModel(), trainer.Config, outPath, n, steps, guidance, new Generator(seed), shift);
        AnsiConsole.MarkupLine($"wrote [link]{outPath}[/]: {n} samples per class, {steps} steps, guidance {guidance}");
        return 0;
    }

    /// <summary>
    /// <c>engine eval dit --checkpoint F [--steps N] [--guidance S] [--shift S] [--batch B] [--seed S]</c>: FCD and
    /// conditional accuracy of guided samples (classes cycling), wall time per 1,000 images and network evaluations per image.
    /// </summary>
    public static IReadOnlyList<EvalCommand.Metric> Eval(Args args, EvalCommand.EvalContext c)
    {
        string checkpoint = args.Required("checkpoint");
        float guidance = args.Float("guidance", 3f), shift = args.Float("shift", 1f);
        int? stepsOpt = args.String("steps") is null ? null : args.Int("steps", 50, 1, 1000);
        int batch = args.Int("batch", 100, 1, 10_000);
        ulong seed = (ulong)args.Int("seed", 5, 0);
        args.RejectUnknown();
        if (!File.Exists(checkpoint)) throw new UsageException($"--checkpoint: no file at {checkpoint}");
        var trainer = DitTrainer.Load(checkpoint);
        var config = trainer.Config;
        int steps = stepsOpt ?? (config.Objective == DitObjective.Diffusion ? 50 : 20);
        var model = trainer.EmaModel();
        int classes = model.Config.Classes;
        var asked = Enumerable.Range(0, c.Samples).Select(i => i % classes).ToArray();
        var g = new Generator(seed);
        var parts = new List<Tensor>();
        AnsiConsole.MarkupLine($"[bold]eval dit[/]: {Markup.Escape(checkpoint)} (step {trainer.Step}, {config.Objective}), {steps} steps, guidance {guidance}, {c.Samples:N0} samples");
        var clock = Stopwatch.StartNew();
        EvalCommand.Progress($"sampling {c.Samples:N0} images", c.Samples, report =>
        {
            for (int i = 0; i < c.Samples; i += batch)
            {
                int b = Math.Min(batch, c.Samples - i);
                parts.Add(DitTrainer.Sample(model, config, asked[i..(i + b)], steps, guidance, g, shift));
                report(i + b);
            }
        });
        double seconds = clock.Elapsed.TotalSeconds;
        var images = Tensor.Cat([.. parts], 0);
        return
        [
            new("fcd", c.Metrics.Fcd(c.TestStatistics, images), $"{c.Samples} samples (classes cycling) vs {c.TestStatistics.Count} test images"),
            new("conditional_accuracy", c.Metrics.ConditionalAccuracy(images, asked), "fraction classified as the class asked for"),
            new("sampling_seconds_per_1000", seconds * 1000 / c.Samples, $"{Environment.ProcessorCount} CPU threads, batches of {batch}"),
            new("network_evaluations_per_image", steps * (guidance == 1f ? 1 : 2), config.Objective == DitObjective.Diffusion ? "DDIM" : $"Euler, shift {shift}"),
            new("training_steps", trainer.Step, ""),
        ];
    }

    static void WriteClassGrid(DiT model, DitTrainConfig config, string path, int perClass, int steps, float guidance, Generator g, float shift = 1f)
    {
        int classes = model.Config.Classes;
        var labels = Enumerable.Range(0, classes * perClass).Select(i => i / perClass).ToArray();
        Tensor images = null!;
        AnsiConsole.Status().Start($"sampling {labels.Length} images ({steps} steps, guidance {guidance})", _ =>
            images = DitTrainer.Sample(model, config, labels, steps, guidance, g, shift));
        ImageGrid.Write(path, images, columns: perClass, padding: 2, padValue: 1f);
    }
}
