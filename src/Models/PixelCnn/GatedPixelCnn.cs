using Engine;
using Engine.Autograd;
using Engine.Data;
using Engine.Nn;
using Engine.Random;
using Models.Evaluation;

namespace Models.PixelCnn;

/// <summary>Size of a <see cref="GatedPixelCnn"/>: C channels per stack, L gated layers, k×k kernels, the number of classes (0: unconditional), and the width of the output head.</summary>
public sealed record PixelCnnConfig(int Channels = 32, int Layers = 6, int KernelSize = 3, int Classes = 10, int HeadChannels = 64)
{
    /// <summary>How many rows above a pixel (and columns to its left, along the horizontal stack) the network reads.</summary>
    public int Reach => Layers * (KernelSize / 2);

    public void Validate()
    {
        if (Channels < 1 || Layers < 1 || HeadChannels < 1 || Classes < 0 || KernelSize < 3 || KernelSize % 2 == 0)
            throw new ArgumentException($"PixelCnnConfig: channels, layers and head must be ≥ 1, classes ≥ 0 and the kernel odd and ≥ 3; got {this}");
    }
}

/// <summary>
/// Gated PixelCNN over 8-bit greyscale images: p(x) = Π_i p(x_i | x_&lt;i, class), each factor a 256-way softmax,
/// all of them computed in one parallel pass through masked convolutions (raster order, no blind spot).
/// B batch, H×W plane; images come in as (B, 1, H, W) with values k/255 in [0, 1], as the datasets load them.
/// </summary>
public sealed class GatedPixelCnn : Module
{
    public const int Levels = 256;
    public const string ModelName = "GatedPixelCnn";

    readonly ModuleList<GatedLayer> layers;
    readonly Conv2d head1, head2;

    public PixelCnnConfig Config { get; }

    public GatedPixelCnn(PixelCnnConfig config, Generator g)
    {
        config.Validate();
        Config = config;
        int c = config.Channels;
        layers = Child("layers", new ModuleList<GatedLayer>(
            Enumerable.Range(0, config.Layers).Select(l => new GatedLayer(l == 0 ? 1 : c, c, config.KernelSize, first: l == 0, config.Classes, g))));
        head1 = Child("head1", new Conv2d(c, config.HeadChannels, 1, g));
        head2 = Child("head2", new Conv2d(config.HeadChannels, Levels, 1, g));
        levelValues = Constant(Tensor.Wrap(Enumerable.Range(0, Levels).Select(l => (float)l).ToArray(), 1, Levels, 1, 1));
    }

    readonly Tensor levelValues;                                                               // 0, 1, …, 255 as (1, 256, 1, 1)

    public IReadOnlyList<GatedLayer> Layers => layers;

    /// <summary>Logits of every pixel's 256 levels given the pixels before it: (B, 1, H, W) → (B, 256, H, W).</summary>
    public Tensor Forward(Tensor x, int[]? labels)
    {
        CheckInput(x, labels);
        var v = Scale(x);
        var h = v;
        foreach (var layer in layers) (v, h) = layer.Forward(v, h, labels);
        return Head(h);
    }

    /// <summary>The output head on horizontal-stack features: ReLU → 1×1 → ReLU → 1×1, (B, C, …) → (B, 256, …).</summary>
    public Tensor Head(Tensor h) => head2.Forward(head1.Forward(h.Relu()).Relu());

    /// <summary>The network's input: pixel values in [0, 1] mapped to [−1, 1].</summary>
    public static Tensor Scale(Tensor x) => x * 2f - 1f;

    /// <summary>Exact −log p(x | class) of each image in nats, by the chain rule over all pixels at once: (B).</summary>
    public Tensor Nll(Tensor x, int[]? labels)
    {
        var logits = Forward(x, labels);                                                       // (B, 256, H, W)
        var logProbs = logits.LogSoftmax(1);                                                   // fused log-softmax
        return -Tensor.Where(LevelMask(x), logProbs, Tensor.Scalar(0f)).Sum([1, 2, 3]);         // each pixel's own level, picked where x lives
    }

    /// <summary>
    /// (B, 256, H, W): 1 at each pixel's level l = round(255·x) (<see cref="Levels8"/>, a half rounded down), 0 elsewhere,
    /// made with tensor ops on x's device, so the targets of <see cref="Nll"/> never cross to the host.
    /// </summary>
    Tensor LevelMask(Tensor x)
    {
        using var _ = Engine.Autograd.GradMode.NoGrad();
        var d = x.Detach() * 255f - levelValues;                                               // 255·x − l
        return d.Gt(-0.5f) * d.Le(0.5f);
    }

    /// <summary>Exact negative log-likelihood of a dataset in bits per dimension (the mean over images, in batches, no gradients).</summary>
    public double BitsPerDim(ImageDataset data, int batch = 100, int? limit = null)
    {
        int n = Math.Min(limit ?? data.Count, data.Count);
        if (n <= 0) throw new ArgumentException("GatedPixelCnn.BitsPerDim: no images");
        using var _ = GradMode.NoGrad();
        double total = 0;
        for (int i = 0; i < n; i += batch)
        {
            int b = Math.Min(batch, n - i);
            var labels = Config.Classes > 0 ? data.Labels.AsSpan(i, b).ToArray() : null;
            foreach (var v in Nll(data.Images.Narrow(0, i, b), labels).ToArray()) total += v;
        }
        return Evaluation.BitsPerDim.FromDiscreteNll(total / n, data.Height * data.Width * data.Channels);
    }

    /// <summary>The 8-bit level of every pixel, round(255·x), row-major.</summary>
    public static int[] Levels8(Tensor x)
    {
        var v = x.Contiguous().Span;
        var levels = new int[v.Length];
        for (int i = 0; i < v.Length; i++) levels[i] = (int)MathF.Round(v[i] * 255f);
        return levels;
    }

    void CheckInput(Tensor x, int[]? labels)
    {
        if (x.Rank != 4 || x.Shape[1] != 1 || x.Shape[0] < 1 || x.Shape[2] < 1 || x.Shape[3] < 1)
            throw new ShapeMismatchException($"{ModelName}: input must be (B, 1, H, W) greyscale images, got {Shapes.Format(x.Shape)}");
        bool inRange;
        using (Engine.Autograd.GradMode.NoGrad())
            inRange = (x.Detach().Sqrt() + (1f - x.Detach()).Sqrt()).AllFinite();               // NaN below 0 or above 1, ∞ or NaN for a bad value: one count where x lives
        if (!inRange)
            foreach (var v in x.ToArray())                                                     // read only to name the value
            {
                if (!float.IsFinite(v)) throw new NonFiniteException($"{ModelName}: input {Shapes.Format(x.Shape)} contains {v}");
                if (v < 0f || v > 1f) throw new ArgumentOutOfRangeException(nameof(x), $"{ModelName}: pixel value {v} is outside [0, 1]");
            }
        if (Config.Classes > 0)
        {
            if (labels is null || labels.Length != x.Shape[0])
                throw new ShapeMismatchException($"{ModelName}: a class-conditional model needs one label per image: {x.Shape[0]} images, {labels?.Length.ToString() ?? "no"} labels");
            foreach (var l in labels)
                if ((uint)l >= (uint)Config.Classes) throw new ArgumentOutOfRangeException(nameof(labels), $"{ModelName}: label {l} is outside [0, {Config.Classes})");
        }
    }

    // ---------------------------------------------------------------- checkpoints

    public void Save(string path, IReadOnlyDictionary<string, string> extra)
    {
        var meta = new Dictionary<string, string>(extra)
        {
            ["channels"] = FamilyCheckpoint.Format(Config.Channels),
            ["layers"] = FamilyCheckpoint.Format(Config.Layers),
            ["kernel"] = FamilyCheckpoint.Format(Config.KernelSize),
            ["classes"] = FamilyCheckpoint.Format(Config.Classes),
            ["head"] = FamilyCheckpoint.Format(Config.HeadChannels),
        };
        FamilyCheckpoint.Save(path, this, ModelName, meta);
    }

    public static (GatedPixelCnn Model, Dictionary<string, string> Metadata) Load(string path)
    {
        var content = FamilyCheckpoint.Open(path, ModelName);
        var config = new PixelCnnConfig(
            FamilyCheckpoint.Int(path, content, "channels", 1, 4096), FamilyCheckpoint.Int(path, content, "layers", 1, 256),
            FamilyCheckpoint.Int(path, content, "kernel", 3, 31), FamilyCheckpoint.Int(path, content, "classes", 0, 100_000),
            FamilyCheckpoint.Int(path, content, "head", 1, 4096));
        GatedPixelCnn model;
        try { model = new GatedPixelCnn(config, new Generator(0)); }
        catch (ArgumentException e) { throw new CorruptFileException(path, e.Message); }
        FamilyCheckpoint.LoadInto(path, content, model);
        return (model, content.Metadata);
    }
}
