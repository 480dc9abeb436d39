using Engine;
using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Dit;
using Models.Dit.Captioned;
using Models.Dit.Text;
using Models.Training;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train mmdit [--data shapes|fashion] [--steps N] [--batch B] [--lr LR] [--width D] [--depth L] [--patch P]
/// [--seed S] [--out DIR] [--resume] [--force] [--save-every N] [--sample-steps N] [--guidance S] [--shift S] [--score N]</c>: trains the
/// text-conditioned MM-DiT with rectified flow on captioned images (the procedural shapes set, or Fashion-MNIST with
/// class-name captions) and writes to the output folder (default runs/mmdit): <c>mmdit.safetensors</c>,
/// <c>samples.png</c> (one row per prompt) and <c>loss.png</c>; on the shapes set it also prints the
/// prompt-following score of N samples for random prompts.
/// <c>engine sample mmdit --checkpoint F --prompt "..." [--n K] --out F.png</c> draws K images for a prompt.
/// </summary>
public static class MmDitCommands
{
    public static int Train(Args args, string commandLine)
    {
        string dataName = args.String("data", "shapes");
        int steps = args.Int("steps", 3000, 1, 10_000_000);
        string? batchGiven = args.String("batch"), lrGiven = args.String("lr");
        int batch = args.Int("batch", 32, 1, 4096);
        int width = args.Int("width", 128, 8, 4096), depth = args.Int("depth", 4, 1, 64), patch = args.Int("patch", 4, 1, 32);
        float lr = args.Float("lr", 5e-4f);
        string outDir = args.String("out", Path.Combine("runs", "mmdit"));
        ulong seed = (ulong)args.Int("seed", 0, 0);
        bool resume = args.Flag("resume"), force = args.Flag("force");
        int saveEvery = args.Int("save-every", 500, 0);
        int sampleSteps = args.Int("sample-steps", 20, 1, 1000), scoreCount = args.Int("score", 200, 0, 100_000);
        float guidance = args.Float("guidance", 4f), shift = args.Float("shift", 2f);
        string? dataDir = args.String("data-dir");
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();

        const string name = "mmdit.safetensors";
        string checkpoint = Path.Combine(outDir, name);
        TrainingLoop.PrepareFolder(outDir, name, resume, force);
        RunInfo? info = null;
        var loaded = resume ? MmDitTrainer.Load(checkpoint, out info) : null;
        if (loaded is not null)
        {
            var c0 = loaded.Config;
            var changed = new List<string>();
            if (batchGiven is not null && batch != c0.BatchSize) changed.Add($"--batch {batch} (saved {c0.BatchSize})");
            if (lrGiven is not null && lr != c0.LearningRate) changed.Add($"--lr {lr} (saved {c0.LearningRate})");
            if (changed.Count > 0) throw new UsageException($"--resume continues the saved run with its own settings; drop {string.Join(", ", changed)}");
        }
        var data = Open(loaded?.Config.Data ?? dataName, dataDir);
        var trainer = loaded ?? new MmDitTrainer(new MmDitTrainConfig(
            new MmDitConfig(new WordTokenizer(data.Words, data.MaxWords).Vocabulary.ToArray(), ImageSize: data.ImageSize, Channels: data.Channels,
                Patch: patch, Width: width, Depth: depth, MaxTokens: data.MaxWords),
            dataName, LearningRate: lr, Seed: seed, BatchSize: batch));
        var c = trainer.Config;
        AnsiConsole.MarkupLine($"[bold]train mmdit[/]: {c.Model.Depth} joint blocks of width {c.Model.Width}, patch {c.Model.Patch}, text encoder {c.Model.TextDepth}×{c.Model.TextWidth}, " +
            $"{trainer.Model.ParameterCount():N0} parameters, rectified flow (logit-normal t), data '{data.Name}' ({c.Model.Vocabulary.Length} words)");

        var result = TrainingSession.Run(new MmDitRun(trainer, data), new TrainingLoopOptions
        {
            TotalSteps = steps, OutDir = outDir, CheckpointName = name, SaveEvery = saveEvery, CommandLine = commandLine, PreviousSeconds = info?.TrainSeconds ?? 0,
            Title = $"MM-DiT on {data.Name}, rectified flow",
        }, CancellationToken.None);
        if (!result.Finished) return TrainingLoop.InterruptedExitCode;
        var ema = trainer.EmaModel();
        var prompts = ShowcasePrompts(data);
        string grid = Path.Combine(outDir, "samples.png");
        var images = Draw(ema, prompts.SelectMany(p => Enumerable.Repeat(p, 8)).ToArray(), sampleSteps, guidance, shift, new Generator(c.Seed + 99));
        ImageGrid.Write(grid, images, columns: 8, padding: 2, padValue: 1f);
        AnsiConsole.MarkupLine($"wrote [link]{checkpoint}[/] (step {trainer.Step}), [link]{Path.Combine(outDir, "loss.png")}[/], [link]{grid}[/]; rows: {Markup.Escape(string.Join(" | ", prompts))}");
        if (data is ShapeScenes && scoreCount > 0)
        {
            var g = new Generator(c.Seed + 1234);
            var specs = Enumerable.Range(0, scoreCount).Select(_ => ShapeScenes.RandomSpec(g)).ToList();
            var samples = Draw(ema, specs.Select(ShapeScenes.Caption).ToArray(), sampleSteps, guidance, shift, g);
            AnsiConsole.MarkupLine($"prompt following, random prompts, {sampleSteps} Euler steps, guidance {guidance}, shift {shift}: [bold]{PromptFollowing.Score(specs, samples)}[/]");
        }
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(commandLine)}[/]");
        return 0;
    }

    public static int Sample(Args args)
    {
        string checkpoint = args.String("checkpoint") ?? Path.Combine("runs", "mmdit", "mmdit.safetensors");
        string prompt = args.Required("prompt");
        string outPath = args.Required("out");
        int n = args.Int("n", 16, 1, 1024), steps = args.Int("steps", 20, 1, 1000);
        float guidance = args.Float("guidance", 4f), shift = args.Float("shift", 2f);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        args.RejectUnknown();
        if (!File.Exists(checkpoint)) throw new UsageException($"--checkpoint: no file at {checkpoint}");
        var trainer = MmDitTrainer.Load(checkpoint);
        var tok = trainer.Model.Tokenizer;
        var unknown = WordTokenizer.Split(prompt).Where(w => !tok.Knows(w)).ToList();
        if (unknown.Count > 0) AnsiConsole.MarkupLine($"[yellow]words not in the model's vocabulary (read as unknown): {Markup.Escape(string.Join(", ", unknown))}[/]");
        var images = Draw(trainer.EmaModel(), Enumerable.Repeat(prompt, n).ToArray(), steps, guidance, shift, new Generator(seed));
        ImageGrid.Write(outPath, images, columns: Math.Min(n, 8), padding: 2, padValue: 1f);
        AnsiConsole.MarkupLine($"wrote [link]{outPath}[/]: {n} images for \"{Markup.Escape(prompt)}\" ({steps} Euler steps, guidance {guidance}, shift {shift})");
        if (trainer.Config.Data == "shapes" && ShapeScenes.Parse(prompt) is SceneSpec spec)
            AnsiConsole.MarkupLine($"prompt following: {PromptFollowing.Score(Enumerable.Repeat(spec, n).ToList(), images)}");
        return 0;
    }

    /// <summary>
    /// <c>engine eval mmdit [--checkpoint F] [--prompts N] [--steps N] [--guidance S] [--shift S] [--seed S]</c>. On the
    /// shapes set: the prompt-following score of N samples for random prompts, beside the same checks on real renderings
    /// of those prompts (what the checker itself gets right) and on samples for prompts shuffled among the images (what
    /// ignoring the text would score). On Fashion-MNIST captions: FCD and conditional accuracy for "a photo of a …".
    /// </summary>
    public static IReadOnlyList<EvalCommand.Metric> Eval(Args args, EvalCommand.EvalContext c)
    {
        string checkpoint = args.String("checkpoint") ?? Path.Combine("runs", "mmdit", "mmdit.safetensors");
        int prompts = args.Int("prompts", 500, 1, 100_000), steps = args.Int("steps", 20, 1, 1000);
        float guidance = args.Float("guidance", 4f), shift = args.Float("shift", 2f);
        ulong seed = (ulong)args.Int("seed", 5, 0);
        args.RejectUnknown();
        if (!File.Exists(checkpoint)) throw new UsageException($"--checkpoint: no file at {checkpoint}");
        var trainer = MmDitTrainer.Load(checkpoint);
        var model = trainer.EmaModel();
        var g = new Generator(seed);
        AnsiConsole.MarkupLine($"[bold]eval mmdit[/]: {Markup.Escape(checkpoint)} (step {trainer.Step}, data '{trainer.Config.Data}'), {steps} Euler steps, guidance {guidance}, shift {shift}");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (trainer.Config.Data == "shapes")
        {
            var scenes = new ShapeScenes(model.Config.ImageSize);
            var specs = Enumerable.Range(0, prompts).Select(_ => ShapeScenes.RandomSpec(g)).ToList();
            var samples = Draw(model, specs.Select(ShapeScenes.Caption).ToArray(), steps, guidance, shift, g);
            double seconds = clock.Elapsed.TotalSeconds;
            int per = 3 * scenes.ImageSize * scenes.ImageSize;
            var real = Tensor.Zeros([prompts, 3, scenes.ImageSize, scenes.ImageSize]);
            for (int i = 0; i < prompts; i++) ShapeScenes.Render(scenes.Layout(specs[i], g), real.Span.Slice(i * per, per), scenes.ImageSize);
            var shuffled = specs.OrderBy(_ => g.NextInt(int.MaxValue)).ToList();
            var score = PromptFollowing.Score(specs, samples);
            var ceiling = PromptFollowing.Score(specs, real);
            var chance = PromptFollowing.Score(shuffled, samples);
            AnsiConsole.MarkupLine($"samples: {score}\nreal renderings: {ceiling}\nsamples against shuffled prompts: {chance}");
            return
            [
                new("prompt_following", score.All, $"fraction of {prompts} samples matching colour, count, shape and position of random prompts"),
                new("prompt_following_colour", score.Colors, ""),
                new("prompt_following_count", score.Count, ""),
                new("prompt_following_shape", score.Shapes, ""),
                new("prompt_following_position", score.Position, ""),
                new("prompt_following_real", ceiling.All, "the same checks on real renderings of the prompts"),
                new("prompt_following_shuffled", chance.All, "the samples checked against prompts shuffled among them"),
                new("sampling_seconds_per_1000", seconds * 1000 / prompts, $"{Environment.ProcessorCount} CPU threads"),
                new("network_evaluations_per_image", steps * (guidance == 1f ? 1 : 2), $"Euler, shift {shift}"),
                new("training_steps", trainer.Step, ""),
            ];
        }
        var captions = new FashionCaptions(c.Test);
        var asked = Enumerable.Range(0, c.Samples).Select(i => i % c.Test.ClassNames.Count).ToArray();
        var images = Draw(model, asked.Select(k => captions.Caption(k)).ToArray(), steps, guidance, shift, g);
        double s = clock.Elapsed.TotalSeconds;
        return
        [
            new("fcd", c.Metrics.Fcd(c.TestStatistics, images), $"{c.Samples} samples for \"a photo of a <class>\" vs {c.TestStatistics.Count} test images"),
            new("conditional_accuracy", c.Metrics.ConditionalAccuracy(images, asked), "fraction classified as the class the caption names"),
            new("sampling_seconds_per_1000", s * 1000 / c.Samples, $"{Environment.ProcessorCount} CPU threads"),
            new("network_evaluations_per_image", steps * (guidance == 1f ? 1 : 2), $"Euler, shift {shift}"),
            new("training_steps", trainer.Step, ""),
        ];
    }

    static ICaptionedData Open(string name, string? dataDir) => name switch
    {
        "shapes" => new ShapeScenes(),
        "fashion" => new FashionCaptions(FashionMnist.Load(dataDir, DataSplit.Train)),
        _ => throw new UsageException($"--data: '{name}' is not shapes or fashion"),
    };

    static string[] ShowcasePrompts(ICaptionedData data) => data is FashionCaptions f
        ? Enumerable.Range(0, 10).Select(i => f.Caption(i)).ToArray()
        : ["a red circle", "a blue square on the left", "a yellow triangle at the top", "two green circles", "three purple squares",
           "a red square above a blue circle", "a green triangle left of a yellow square", "a blue circle below a purple triangle"];

    /// <summary>Samples in batches of 64 prompts with a status line.</summary>
    static Tensor Draw(MmDit model, string[] prompts, int steps, float guidance, float shift, Generator g)
    {
        var parts = new List<Tensor>();
        AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn()).Start(ctx =>
        {
            var task = ctx.AddTask($"sampling {prompts.Length} images", maxValue: prompts.Length);
            for (int i = 0; i < prompts.Length; i += 64)
            {
                parts.Add(MmDitTrainer.Sample(model, prompts[i..Math.Min(prompts.Length, i + 64)], steps, guidance, g, shift));
                task.Increment(Math.Min(64, prompts.Length - i));
            }
        });
        return Tensor.Cat(parts.ToArray(), 0);
    }
}
