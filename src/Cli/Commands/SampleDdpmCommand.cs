using Engine.Random;
using Models.Diffusion;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine sample ddpm [--checkpoint F] [--sampler ddpm|ddim] [--steps N] [--eta E] [--guidance S] [--class K] [--n N]
/// [--seed S] --out grid.png</c>: generates images with the EMA weights of a DDPM checkpoint
/// (a training checkpoint or an EMA-only one; by default the one the repository ships). Without --class, one
/// row of N images per class; with it, N images of class K.
/// </summary>
public static class SampleDdpmCommand
{
    public static int Run(Args args)
    {
        string checkpoint = args.String("checkpoint", TrainDdpmCommand.ShippedCheckpoint);
        string outPath = args.Required("out");
        var kind = SamplerKindOption(args);
        int steps = args.Int("steps", 50, 1, 100_000);
        float eta = args.Float("eta", 0f);
        float guidance = args.Float("guidance", 3f);
        int? label = args.String("class") is null ? null : args.Int("class", 0, 0, 1_000_000);
        int n = args.Int("n", 8, 1, 1024);
        ulong seed = (ulong)args.Int("seed", 0, 0);
        args.RejectUnknown();
        if (args.Positionals.Count > 1) throw new UsageException($"unexpected argument '{args.Positionals[1]}'");
        if (eta < 0) throw new UsageException($"--eta: {eta} is negative");
        if (!outPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new UsageException($"--out: '{outPath}' is not a .png file");

        var trained = DiffusionCheckpoint.LoadSampling(checkpoint);
        var c = trained.Config;
        if (kind == SamplerKind.Ddim && steps > c.Timesteps) throw new UsageException($"--steps: {steps} is more than the model's {c.Timesteps} timesteps");
        if (label is int k && k >= c.Classes) throw new UsageException($"--class: {k} is outside the model's classes 0..{c.Classes - 1}");
        var options = new SamplerOptions(kind, steps, eta, guidance);
        int[] rows = label is int only ? [only] : Enumerable.Range(0, c.Classes).ToArray();
        AnsiConsole.MarkupLine($"[bold]sample ddpm[/]: {Markup.Escape(checkpoint)} (step {trained.Step}, EMA weights), {DdpmPictures.Describe(options)}, " +
            (label is int l ? $"{n} × class {l} ({Markup.Escape(DdpmPictures.ClassName(l))})" : $"{n} per class"));

        var images = DdpmPictures.SampleRows(trained.Model, trained.Sampler(), rows, n, options, new Generator(seed), c.ImageShape);
        DdpmPictures.WriteGrid(outPath, images, label is null ? n : Math.Min(n, 16));
        AnsiConsole.MarkupLine($"wrote [link]{Markup.Escape(outPath)}[/]" + (label is null ? $" (rows in class order: {Markup.Escape(string.Join(", ", Enumerable.Range(0, c.Classes).Select(DdpmPictures.ClassName)))})" : ""));
        return 0;
    }

    /// <summary><c>--sampler ddim|ddpm</c> (default ddim), shared with <c>engine eval ddpm</c>.</summary>
    public static SamplerKind SamplerKindOption(Args args) => args.String("sampler", "ddim") switch
    {
        "ddim" => SamplerKind.Ddim, "ddpm" => SamplerKind.Ddpm,
        var s => throw new UsageException($"--sampler: '{s}' is not ddim or ddpm"),
    };
}
