using Engine;
using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Dit;
using Models.Dit.Captioned;
using Models.Dit.Text;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train mmdit [--data shapes|fashion] [--steps N] [--batch B] [--lr LR] [--width D] [--depth L] [--patch P]
/// [--seed S] [--out DIR] [--resume] [--sample-steps N] [--guidance S] [--shift S] [--score N]</c>: trains the
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
        int steps = args.Int("steps", 3000, 1, 10_000_000), batch = args.Int("batch", 32, 1, 4096);
        int width = args.Int("width", 128, 8, 4096), depth = args.Int("depth", 4, 1, 64), patch = args.Int("patch", 4, 1, 32);
        float lr = args.Float("lr", 5e-4f);
        string outDir = args.String("out", Path.Combine("runs", "mmdit"));
        ulong seed = (ulong)args.Int("seed", 0, 0);
        bool resume = args.Flag("resume");
        int sampleSteps = args.Int("sample-steps", 20, 1, 1000), scoreCount = args.Int("score", 200, 0, 100_000);
        float guidance = args.Float("guidance", 4f), shift = args.Float("shift", 2f);
        string? dataDir = args.String("data-dir");
        args.RejectUnknown();

        string checkpoint = Path.Combine(outDir, "mmdit.safetensors");
        if (resume && !File.Exists(checkpoint)) throw new UsageException($"--resume: no checkpoint at {checkpoint}");
        var loaded = resume ? MmDitTrainer.Load(checkpoint) : null;
        var data = Open(loaded?.Config.Data ?? dataName, dataDir);
        var trainer = loaded ?? new MmDitTrainer(new MmDitTrainConfig(
            new MmDitConfig(new WordTokenizer(data.Words, data.MaxWords).Vocabulary.ToArray(), ImageSize: data.ImageSize, Channels: data.Channels,
                Patch: patch, Width: width, Depth: depth, MaxTokens: data.MaxWords),
            dataName, LearningRate: lr, Seed: seed));
        var c = trainer.Config;
        AnsiConsole.MarkupLine($"[bold]train mmdit[/]: {c.Model.Depth} joint blocks of width {c.Model.Width}, patch {c.Model.Patch}, text encoder {c.Model.TextDepth}×{c.Model.TextWidth}, " +
            $"{trainer.Model.ParameterCount():N0} parameters, rectified flow (logit-normal t), data '{data.Name}' ({c.Model.Vocabulary.Length} words)");

        var batches = new Generator(c.Seed + 7) { Offset = (ulong)trainer.Step << 20 };
        var losses = TrainingLoop.Run("mmdit", trainer.Step, steps, batch, () =>
        {
            var (x, captions) = data.Batch(batch, batches);
            return trainer.TrainStep(x, captions);
        });

        Directory.CreateDirectory(outDir);
        trainer.Save(checkpoint);
        LossPlot.Save(Path.Combine(outDir, "loss.png"), losses, $"MM-DiT on {data.Name}, rectified flow, steps {trainer.Step - losses.Count}–{trainer.Step}");
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
        string prompt = args.String("prompt") ?? throw new UsageException("--prompt \"...\" is required");
        string outPath = args.String("out") ?? throw new UsageException("--out F.png is required");
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
