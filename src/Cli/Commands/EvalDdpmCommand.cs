using System.Globalization;
using Engine.Data;
using Engine.Random;
using Models.Diffusion;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine eval ddpm [--checkpoint F] [--sampler ddim|ddpm] [--steps N] [--eta E] [--guidance S] [--samples N]
/// [--vlb-images N] [--vlb-timesteps K] [--batch B] [--seed S]</c>: one row of the results table for a DDPM checkpoint (by default
/// the shipped one) and one sampler setting — FCD and conditional accuracy on N samples, wall time per 1,000 images,
/// network evaluations per image, and the variational bound in bits/dim on the first test images (by default every
/// timestep; with K, K stratified timesteps per image — unbiased but noisy; 0 images skips it).
/// </summary>
public static class EvalDdpmCommand
{
    public static IReadOnlyList<EvalCommand.Metric> Run(Args args, EvalCommand.EvalContext c)
    {
        string checkpoint = args.String("checkpoint", TrainDdpmCommand.ShippedCheckpoint);
        var kind = SampleDdpmCommand.SamplerKindOption(args);
        var options = new SamplerOptions(kind, args.Int("steps", 50, 1, 100_000), args.Float("eta", 0f), args.Float("guidance", 3f));
        // The bound's terms at small t are large and few: a stratified sample of timesteps is unbiased but very noisy,
        // so by default every term is summed, on fewer images.
        int vlbImages = args.Int("vlb-images", 50, 0, 10_000);
        int vlbTimesteps = args.Int("vlb-timesteps", 100_000, 1, 100_000);
        ulong seed = (ulong)args.Int("seed", 5, 0);
        int batch = args.Int("batch", 100, 1, 10_000);
        args.RejectUnknown();
        if (options.Eta < 0) throw new UsageException($"--eta: {options.Eta} is negative");

        var model = DiffusionCheckpoint.LoadSampling(checkpoint);
        var config = model.Config;
        if (kind == SamplerKind.Ddim && options.Steps > config.Timesteps)
            throw new UsageException($"--steps: {options.Steps} is more than the model's {config.Timesteps} timesteps");
        vlbTimesteps = Math.Min(vlbTimesteps, config.Timesteps - 1);
        AnsiConsole.MarkupLine($"[bold]eval ddpm[/]: {Markup.Escape(checkpoint)} (step {model.Step}, UNet width {config.BaseChannels}), " +
            $"{DdpmPictures.Describe(options)}, {c.Samples:N0} samples");

        var metrics = new List<EvalCommand.Metric>();
        if (vlbImages > 0)
        {
            int n = Math.Min(vlbImages, c.Test.Count);
            VlbResult vlb = null!;
            EvalCommand.Progress($"variational bound on {n} test images, {vlbTimesteps + 1} terms each", n,
                report => vlb = model.Bound().Evaluate(model.Model, c.Test.Images.Narrow(0, 0, n), c.Test.Labels[..n], new Generator(seed), vlbTimesteps, progress: (done, _) => report(done)));
            string terms = vlbTimesteps == config.Timesteps - 1 ? $"all {vlbTimesteps} timesteps" : $"{vlbTimesteps} stratified timesteps of {config.Timesteps - 1}";
            string how = $"conditional, first {n} test images, {terms} + decoder";
            metrics.Add(new("bits_per_dim", vlb.BitsPerDim, $"variational bound ({how})"));
            metrics.Add(new("bits_per_dim_prior", vlb.PriorBitsPerDim, "L_T"));
            metrics.Add(new("bits_per_dim_diffusion", vlb.DiffusionBitsPerDim, "Σ L_t−1"));
            metrics.Add(new("bits_per_dim_decoder", vlb.DecoderBitsPerDim, "L_0"));
        }

        DiffusionQuality q = null!;
        EvalCommand.Progress($"sampling {c.Samples:N0} images", c.Samples,
            report => q = DiffusionEvaluation.Measure(model, options, c.Metrics, c.TestStatistics, c.Samples, new Generator(seed + 1), batch, progress: (done, _) => report(done)));
        metrics.Add(new("fcd", q.Fcd, $"{q.Samples} samples (classes cycling) vs {c.TestStatistics.Count} test images"));
        metrics.Add(new("conditional_accuracy", q.ConditionalAccuracy, "fraction classified as the class asked for"));
        metrics.Add(new("sampling_seconds_per_1000", q.Cost.SecondsPer1000Images, $"{Environment.ProcessorCount} CPU threads, batches of {batch}"));
        metrics.Add(new("network_evaluations_per_image", q.Cost.NetworkEvaluationsPerImage, options.GuidanceScale == 1f ? "" : "guided: conditional + unconditional"));
        if (double.TryParse(model.Metadata.GetValueOrDefault("train_seconds"), NumberStyles.Float, CultureInfo.InvariantCulture, out var trainSeconds))
            metrics.Add(new("train_seconds", trainSeconds, model.Metadata.GetValueOrDefault("command", "")));
        return metrics;
    }
}
