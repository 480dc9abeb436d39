using Engine;
using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Diffusion;
using Spectre.Console;

namespace Cli.Commands;

/// <summary>The pictures of a DDPM: a grid of guided samples with one row per class, and a denoising strip.</summary>
public static class DdpmPictures
{
    /// <summary>Pixel scale of written grids (28×28 tiles are small on screen).</summary>
    public const int Zoom = 2;

    /// <summary>
    /// Samples <paramref name="perRow"/> images for each label in <paramref name="rows"/> in one batch (so a CFG step
    /// is one network pass over 2·rows·perRow images) and returns them in [−1, 1], row by row, with a progress bar.
    /// </summary>
    public static Tensor SampleRows(UNet model, Sampler sampler, int[] rows, int perRow, SamplerOptions options, Generator g, int[] imageShape)
    {
        var labels = rows.SelectMany(c => Enumerable.Repeat(c, perRow)).ToArray();
        int steps = sampler.Timesteps(options).Length;
        Tensor images = null!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"sampling {labels.Length} images ({Describe(options)})", maxValue: steps);
                images = sampler.Sample(model, imageShape, labels, options, g, (_, _, _) => task.Increment(1));
            });
        return images;
    }

    /// <summary>
    /// Follows <paramref name="labels"/>.Length images from noise to samples and returns the strip: one row per image,
    /// up to <paramref name="columns"/> columns of x_t at evenly spaced steps, from x_T (pure noise) to the final sample.
    /// </summary>
    public static (Tensor Strip, int Columns) Trajectory(UNet model, Sampler sampler, int[] labels, int columns, SamplerOptions options, Generator g, int[] imageShape)
    {
        int steps = sampler.Timesteps(options).Length;
        var keep = Enumerable.Range(0, columns - 1).Select(i => (int)Math.Round((double)i * (steps - 1) / Math.Max(1, columns - 2))).ToHashSet();
        var frames = new List<Tensor>();
        var start = new Generator(g.Seed) { Offset = g.Offset };                  // x_T is the sampler's first draw
        frames.Add(Tensor.Randn([labels.Length, .. imageShape], start));
        sampler.Sample(model, imageShape, labels, options, g, (i, x, _) => { if (keep.Contains(i)) frames.Add(x.Clone()); });
        // (frames, B, C, H, W) → (B, frames, C, H, W): one row per image
        return (Tensor.Stack(frames.ToArray(), 1).Reshape([labels.Length * frames.Count, .. imageShape]), frames.Count);
    }

    /// <summary>Writes images in [−1, 1] as a PNG grid, each pixel drawn <see cref="Zoom"/>× larger.</summary>
    public static void WriteGrid(string path, Tensor images, int columns)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        ImageGrid.Write(path, images.UpsampleNearest2d(Zoom), columns, padding: 2 * Zoom, signedRange: true, padValue: 1f);
    }

    public static string Describe(SamplerOptions o) => o.Kind == SamplerKind.Ddpm
        ? $"DDPM ancestral, guidance {o.GuidanceScale:0.##}"
        : $"DDIM {o.Steps} steps, η {o.Eta:0.##}, guidance {o.GuidanceScale:0.##}";

    /// <summary>The class names of Fashion-MNIST, for captions.</summary>
    public static string ClassName(int label) => label < FashionMnist.ClassNames.Count ? FashionMnist.ClassNames[label] : $"class {label}";
}
