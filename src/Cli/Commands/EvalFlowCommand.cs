using System.Diagnostics;
using System.Globalization;
using Engine;
using Engine.Random;
using Models.FlowMatching;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>
/// <c>engine eval cfm [--checkpoint F] [--steps 1,2,4,8,50] [--method euler|heun|rk4] [--guidance S] [--samples N]
/// [--bpd-images N] [--straightness-images N] [--batch B] [--seed S]</c>: the results-table rows of an image flow
/// (a field written by <c>engine train cfm|rectified</c>; by default the shipped one) — FCD, conditional accuracy,
/// wall time per 1,000 images and network evaluations per image at each step count, the straightness of its paths,
/// and test bits/dim through the ODE (Hutchinson's divergence estimator, Dormand–Prince; 0 images skips it).
/// </summary>
public static class EvalFlowCommand
{
    public const string ShippedCheckpoint = "checkpoints/fmnist-cfm.safetensors";

    static readonly int[] ImageShape = [1, 28, 28];

    public static IReadOnlyList<EvalCommand.Metric> Run(Args args, EvalCommand.EvalContext c)
    {
        string checkpoint = args.String("checkpoint", ShippedCheckpoint);
        int[] stepCounts = args.IntList("steps", [1, 2, 4, 8, 50], 1, 10_000);
        var method = args.String("method", "euler") switch
        {
            "euler" => OdeMethod.Euler,
            "heun" => OdeMethod.Heun,
            "rk4" => OdeMethod.Rk4,
            var m => throw new UsageException($"--method: '{m}' is not euler, heun or rk4"),
        };
        float guidance = args.Float("guidance", 2f);
        int bpdImages = args.Int("bpd-images", 20, 0, 10_000), straightImages = args.Int("straightness-images", 100, 0, 10_000);
        int batch = args.Int("batch", 100, 1, 10_000);
        ulong seed = (ulong)args.Int("seed", 5, 0);
        args.RejectUnknown();
        if (!File.Exists(checkpoint)) throw new UsageException($"--checkpoint: no file at {checkpoint}");

        var (field, meta) = FlowCheckpoint.Load(checkpoint);
        string flow = meta.GetValueOrDefault("flow", "flow");
        AnsiConsole.MarkupLine($"[bold]eval cfm[/]: {Markup.Escape(checkpoint)} ({Markup.Escape(flow)}, UNet width {field.Net.Config.BaseChannels}), " +
            $"{method} at {string.Join("/", stepCounts)} steps, guidance {guidance}, {c.Samples:N0} samples");

        var metrics = new List<EvalCommand.Metric>();
        foreach (int steps in stepCounts)
        {
            var options = new OdeOptions(method, steps);
            FlowQuality q = null!;
            EvalCommand.Progress($"{method} {steps}: sampling {c.Samples:N0} images", c.Samples,
                report => q = FlowEvaluation.Measure(field, options, guidance, c.Metrics, c.TestStatistics, c.Samples, field.Net.Config.Classes, ImageShape, new Generator(seed + 1), batch,
                    progress: (done, _) => report(done)));
            string tag = $"{method.ToString().ToLowerInvariant()}{steps}";
            metrics.Add(new($"fcd_{tag}", q.Fcd, $"{q.Samples} samples (classes cycling) vs {c.TestStatistics.Count} test images"));
            metrics.Add(new($"conditional_accuracy_{tag}", q.ConditionalAccuracy, "fraction classified as the class asked for"));
            metrics.Add(new($"sampling_seconds_per_1000_{tag}", q.Cost.SecondsPer1000Images, $"{Environment.ProcessorCount} CPU threads, batches of {batch}"));
            metrics.Add(new($"network_evaluations_per_image_{tag}", q.Cost.NetworkEvaluationsPerImage, guidance == 1f ? "" : "guided: conditional + unconditional"));
        }

        if (straightImages > 0)
        {
            var noise = Tensor.Randn([straightImages, .. ImageShape], new Generator(seed + 2));
            var labels = Enumerable.Range(0, straightImages).Select(i => i % field.Net.Config.Classes).ToArray();
            double s = ConditionalFlowMatching.Straightness(field, noise, 100, labels, guidance);
            metrics.Add(new("straightness", s, $"∫E‖(X₁−X₀) − v(X_t, t)‖² dt, guided, {straightImages} paths of 100 Euler steps, summed over pixels in [−1, 1]"));
        }

        if (bpdImages > 0)
        {
            int n = Math.Min(bpdImages, c.Test.Count);
            var ode = new OdeOptions(OdeMethod.DormandPrince, RelativeTolerance: 1e-3, AbsoluteTolerance: 1e-3);
            var clock = Stopwatch.StartNew();
            double bpd = 0;
            AnsiConsole.Status().Start($"bits/dim through the ODE on {n} test images", _ =>
                bpd = ContinuousFlow.BitsPerDimension(field, c.Test.Images.Narrow(0, 0, n), ode, new Generator(seed + 3), batch: 10));
            metrics.Add(new("bits_per_dim", bpd, $"unconditional, first {n} test images, uniform dequantisation, Hutchinson divergence, Dormand–Prince rtol 1e-3 ({clock.Elapsed.TotalSeconds:F0} s)"));
        }
        if (double.TryParse(meta.GetValueOrDefault("training_seconds"), NumberStyles.Float, CultureInfo.InvariantCulture, out var trainSeconds))
            metrics.Add(new("train_seconds", trainSeconds, meta.GetValueOrDefault("command", "")));
        return metrics;
    }
}
