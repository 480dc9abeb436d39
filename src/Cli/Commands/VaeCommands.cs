using System.Diagnostics;
using System.Globalization;
using Engine;
using Engine.Autograd;
using Engine.Data;
using Engine.IO;
using Engine.Optim;
using Engine.Random;
using Models.Vae;
using Models.Training;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine train vae</c>, <c>engine sample vae</c> and <c>engine eval vae</c>: the convolutional VAE, its ELBO
/// (two terms) and importance-weighted bounds, and its pictures.
/// </summary>
public static class VaeCommands
{
    /// <summary>
    /// <c>engine train vae [--likelihood bernoulli|logistic] [--latent Z] [--width W] [--steps N] [--batch B] [--lr LR]
    /// [--iwae-images N] [--k 1,10,100,1000] [--data DIR] [--seed S] [--out DIR] [--resume] [--force] [--save-every N]</c>;
    /// the run checkpoint is DIR/run.safetensors, the model for sampling and evaluation DIR/vae.safetensors.
    /// </summary>
    public static int Train(Args args, string commandLine)
    {
        bool resume = args.Flag("resume"), force = args.Flag("force");
        FamilyTraining.RefuseChangedOptions(args, resume, "steps", "batch", "lr", "likelihood", "latent", "width", "seed");
        var likelihood = ParseLikelihood(args.String("likelihood", "bernoulli"));
        var model = new VaeConfig(args.Int("latent", 16, 1, 1024), args.Int("width", 32, 1, 1024), likelihood);
        int steps = args.Int("steps", 3000, 1, 10_000_000), batch = args.Int("batch", 64, 1, 4096);
        float lr = args.Float("lr", 1e-3f);
        int iwaeImages = args.Int("iwae-images", 100, 1, 100_000);
        var ks = args.IntList("k", [1, 10, 100, 1000], 1, 100_000);
        int saveEvery = args.Int("save-every", 1000, 0);
        string? dataDir = args.String("data");
        string outDir = args.String("out", Path.Combine("runs", "vae"));
        ulong seed = (ulong)args.Int("seed", 0, 0);
        FamilyTraining.ReadMachine(args);
        args.RejectUnknown();

        var train = FashionMnist.Load(dataDir, DataSplit.Train);
        var test = FashionMnist.Load(dataDir, DataSplit.Test);
        TrainingLoop.PrepareFolder(outDir, FamilyTraining.CheckpointName, resume, force);
        RunInfo? info = null;
        var run = resume ? VaeRun.Resume(Path.Combine(outDir, FamilyTraining.CheckpointName), train, out info)
            : new VaeRun(new VaeRunConfig(model, steps, lr, batch, seed), train);
        var vae = run.Model;
        var config = run.Config.Model;
        AnsiConsole.MarkupLine($"[bold]train vae[/]: {Markup.Escape(config.ToString())}, {vae.ParameterCount():N0} parameters, on {train.Count:N0} images from {Markup.Escape(train.Source)}");
        var result = FamilyTraining.Train(run, outDir, run.Config.TotalSteps, commandLine, $"VAE ({config.Likelihood}): −ELBO per image (nats)", info?.TrainSeconds ?? 0, saveEvery);
        if (result is null) return TrainingLoop.InterruptedExitCode;
        ulong s0 = run.Config.Seed;

        var report = Bounds(vae, test, iwaeImages, ks, s0 + 2);
        string ckpt = Path.Combine(outDir, "vae.safetensors");
        vae.Save(ckpt, new Dictionary<string, string>
        {
            ["command"] = commandLine, ["steps"] = result.Step.ToString(CultureInfo.InvariantCulture), ["batch"] = run.Config.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["train_seconds"] = result.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture), ["train_source"] = train.Source,
            ["test_elbo"] = report.Elbo.ToString("F3", CultureInfo.InvariantCulture),
            ["test_iwae"] = string.Join(",", report.Iwae.Select(p => $"{p.K}:{p.Bound.ToString("F3", CultureInfo.InvariantCulture)}")),
        });
        string curve = Path.Combine(outDir, "loss.png");
        var pictures = WritePictures(vae, test, outDir, s0 + 3);
        FamilyTraining.Wrote([ckpt, curve, .. pictures]);
        return 0;
    }

    /// <summary><c>engine sample vae --checkpoint F [--n N] [--seed S] [--out grid.png]</c>: decoder means of prior samples.</summary>
    public static int Sample(Args args)
    {
        string ckpt = args.Required("checkpoint");
        int n = args.Int("n", 100, 1, 10_000);
        ulong seed = (ulong)args.Int("seed", 1, 0);
        string outPath = args.String("out", Path.Combine("runs", "vae", "samples.png"));
        args.RejectUnknown();
        var (vae, _) = ConvVae.Load(ckpt);
        var clock = Stopwatch.StartNew();
        var images = PriorSamples(vae, n, new Generator(seed));
        AnsiConsole.MarkupLine($"sampled {n} images in {clock.Elapsed.TotalSeconds:F2} s: [bold]{n / clock.Elapsed.TotalSeconds:F0} images/s[/]");
        ImageGrid.Write(outPath, images, columns: 10);
        FamilyTraining.Wrote(outPath);
        return 0;
    }

    /// <summary>
    /// <c>engine eval vae --checkpoint F [--images N] [--k 1,10,100,1000,5000] [--seed S] [--pictures DIR]</c>: ELBO and
    /// IWAE bounds on the first N test images (nats/image; bits/dim for the logistic decoder), and the FCD of prior samples.
    /// </summary>
    public static IReadOnlyList<EvalCommand.Metric> Eval(Args args, EvalCommand.EvalContext c)
    {
        string ckpt = args.Required("checkpoint");
        int images = args.Int("images", 100, 1, 100_000);
        var ks = args.IntList("k", [1, 10, 100, 1000, 5000], 1, 100_000);
        string? pictures = args.String("pictures");
        ulong seed = (ulong)args.Int("seed", 2, 0);
        args.RejectUnknown();
        var (vae, meta) = ConvVae.Load(ckpt);
        var report = Bounds(vae, c.Test, images, ks, seed);
        if (pictures is not null) FamilyTraining.Wrote(WritePictures(vae, c.Test, FamilyTraining.PrepareOut(pictures), seed + 1));
        bool logistic = vae.Config.Likelihood == VaeLikelihood.Logistic;
        string data = logistic ? "8-bit test images" : "binarised test images";
        var metrics = new List<EvalCommand.Metric> { new("elbo", report.Elbo, $"nats/image, {report.Images} {data}") };
        metrics.AddRange(report.Iwae.Select(p => new EvalCommand.Metric($"iwae_k{p.K}", p.Bound, $"nats/image, {report.Images} {data}")));
        if (logistic)
        {
            metrics.Add(new("elbo_bits_per_dim", VaeBoundReport.ToBitsPerDim(report.Elbo), "bound"));
            metrics.AddRange(report.Iwae.Select(p => new EvalCommand.Metric($"iwae_k{p.K}_bits_per_dim", VaeBoundReport.ToBitsPerDim(p.Bound), "estimate")));
        }
        var clock = Stopwatch.StartNew();
        var samples = PriorSamples(vae, c.Samples, new Generator(seed + 2));
        var cost = Models.Evaluation.SamplingCost.Measure(c.Samples, clock.Elapsed.TotalSeconds, 1);
        metrics.Add(new("fcd", c.Metrics.Fcd(c.TestStatistics, samples), $"{c.Samples} prior samples (decoder means) vs {c.TestStatistics.Count} test images"));
        metrics.Add(new("sampling_seconds_per_1000", cost.SecondsPer1000Images, "one decoder pass per image"));
        metrics.Add(new("train_seconds", double.Parse(meta.GetValueOrDefault("train_seconds", "NaN"), CultureInfo.InvariantCulture), meta.GetValueOrDefault("command", "")));
        return metrics;
    }

    /// <summary>ELBO and IWAE bounds on the first <paramref name="images"/> test images, printed as a table.</summary>
    static VaeBoundReport Bounds(ConvVae vae, ImageDataset test, int images, int[] ks, ulong seed)
    {
        int n = Math.Min(images, test.Count);
        var g = new Generator(seed);
        // Bernoulli: one fixed stochastic binarisation of the test images (seeded); Logistic: the 8-bit images.
        var targets = vae.Target(test.Images.Narrow(0, 0, n).Contiguous(), g);
        var clock = Stopwatch.StartNew();
        VaeBoundReport report = null!;
        AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new RemainingTimeColumn()).Start(ctx =>
        {
            var task = ctx.AddTask($"IWAE k ≤ {ks.Max()}", maxValue: n);
            report = VaeBounds.Evaluate(vae, targets, ks, g, done => task.Value = done);
        });
        bool logistic = vae.Config.Likelihood == VaeLikelihood.Logistic;
        var table = new Table().AddColumns("bound", "log p(x) ≥ (nats/image)", logistic ? "bits/dim" : "");
        table.AddRow("ELBO", report.Elbo.ToString("F2", CultureInfo.InvariantCulture), logistic ? VaeBoundReport.ToBitsPerDim(report.Elbo).ToString("F4", CultureInfo.InvariantCulture) : "");
        foreach (var (k, b) in report.Iwae)
            table.AddRow($"IWAE k={k}", b.ToString("F2", CultureInfo.InvariantCulture), logistic ? VaeBoundReport.ToBitsPerDim(b).ToString("F4", CultureInfo.InvariantCulture) : "");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"on {n} test images ({(logistic ? "8-bit, discretised logistic" : "binarised once with a fixed seed, Bernoulli")}), {clock.Elapsed.TotalSeconds:F0} s");
        return report;
    }

    static string[] WritePictures(ConvVae vae, ImageDataset test, string outDir, ulong seed)
    {
        var sample = test.Images.Narrow(0, 20, 20).Contiguous();
        string recon = Path.Combine(outDir, "reconstructions.png"), interp = Path.Combine(outDir, "interpolations.png");
        string grid = Path.Combine(outDir, "latent_grid.png"), samples = Path.Combine(outDir, "samples.png");
        ImageGrid.Write(recon, VaePictures.Reconstructions(vae, sample), columns: 10);
        ImageGrid.Write(interp, VaePictures.Interpolations(vae, test.Images.Narrow(0, 100, 16).Contiguous(), 10), columns: 10);
        var axes = VaePictures.MostUsedAxes(vae, test.Images.Narrow(0, 0, 500).Contiguous());
        ImageGrid.Write(grid, VaePictures.LatentGrid(vae, 15, axes), columns: 15);
        ImageGrid.Write(samples, PriorSamples(vae, 100, new Generator(seed)), columns: 10);
        AnsiConsole.MarkupLine($"latent grid over axes {axes.A} and {axes.B} (the two with the largest KL)");
        return [recon, interp, grid, samples];
    }

    static Tensor PriorSamples(ConvVae vae, int n, Generator g, int batch = 500)
    {
        using var _ = GradMode.NoGrad();
        var parts = new List<Tensor>();
        for (int i = 0; i < n; i += batch)
            parts.Add(vae.MeanImage(vae.Decode(Tensor.Randn([Math.Min(batch, n - i), vae.Config.Latent], g))));
        return Tensor.Cat([.. parts], 0);
    }

    static VaeLikelihood ParseLikelihood(string s) => s switch
    {
        "bernoulli" => VaeLikelihood.Bernoulli,
        "logistic" => VaeLikelihood.Logistic,
        _ => throw new UsageException($"--likelihood: '{s}' is not bernoulli or logistic"),
    };
}
