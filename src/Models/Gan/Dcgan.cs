using Engine;
using Engine.Nn;
using Engine.Random;

namespace Models.Gan;

/// <summary>Size of the DCGAN pair: latent dimensions, base width W, and classes (0: unconditional).</summary>
public sealed record GanConfig(int Latent = 64, int Width = 32, int Classes = 10)
{
    public void Validate()
    {
        if (Latent < 1 || Width < 1 || Classes < 0)
            throw new ArgumentException($"GanConfig: latent and width must be ≥ 1 and classes ≥ 0; got {this}");
    }

    internal void CheckLabels(string who, int batch, int[]? labels)
    {
        if (Classes == 0) return;
        if (labels is null || labels.Length != batch)
            throw new ShapeMismatchException($"{who}: a class-conditional model needs one label per image: {batch} images, {labels?.Length.ToString() ?? "no"} labels");
        foreach (var l in labels)
            if ((uint)l >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(labels), $"{who}: label {l} is outside [0, {Classes})");
    }
}

/// <summary>
/// DCGAN generator for 28×28 greyscale images. B batch, W width. [z, class embedding] → linear → (4W, 7, 7) →
/// BN → ReLU → transposed conv 4×4/2 (4W→2W) → BN → ReLU → transposed conv 4×4/2 (2W→1) → tanh, in [−1, 1].
/// </summary>
public sealed class DcganGenerator : Module
{
    readonly Linear fc;
    readonly BatchNorm2d bn0, bn1;
    readonly ConvTranspose2d up1, up2;
    readonly Embedding? classEmbedding;

    public GanConfig Config { get; }

    public DcganGenerator(GanConfig config, Generator g)
    {
        config.Validate();
        Config = config;
        int w = config.Width;
        if (config.Classes > 0) classEmbedding = Child("class_embedding", new Embedding(config.Classes, config.Latent, g));
        fc = Child("fc", new Linear(config.Classes > 0 ? 2 * config.Latent : config.Latent, 4 * w * 7 * 7, g));
        bn0 = Child("bn0", new BatchNorm2d(4 * w));
        up1 = Child("up1", new ConvTranspose2d(4 * w, 2 * w, 4, g, stride: 2, padding: 1));
        bn1 = Child("bn1", new BatchNorm2d(2 * w));
        up2 = Child("up2", new ConvTranspose2d(2 * w, 1, 4, g, stride: 2, padding: 1));
    }

    /// <summary>Noise (B, Z) and labels → images (B, 1, 28, 28) in [−1, 1].</summary>
    public Tensor Forward(Tensor z, int[]? labels)
    {
        if (z.Rank != 2 || z.Shape[1] != Config.Latent)
            throw new ShapeMismatchException($"DcganGenerator: noise must be (B, {Config.Latent}), got {Shapes.Format(z.Shape)}");
        Config.CheckLabels("DcganGenerator", z.Shape[0], labels);
        var input = classEmbedding is null ? z : Tensor.Cat([z, classEmbedding.Forward(labels!)], 1);  // (B, 2Z)
        var h = fc.Forward(input).Reshape(z.Shape[0], 4 * Config.Width, 7, 7);
        h = bn0.Forward(h).Relu();
        h = bn1.Forward(up1.Forward(h)).Relu();                                          // (B, 2W, 14, 14)
        return up2.Forward(h).Tanh();                                                     // (B, 1, 28, 28)
    }
}

/// <summary>
/// DCGAN discriminator with spectral normalisation and a projection head for classes (Miyato and Koyama, 2018):
/// conv 4×4/2 (1→W) → LeakyReLU(0.2) → conv 4×4/2 (W→2W) → LeakyReLU → [minibatch standard deviation] → conv 3×3
/// (2W+1→2W) → LeakyReLU → sum over the 7×7 plane → φ (B, 2W); the logit is linear(φ) + ⟨embedding(class), φ⟩.
/// The minibatch standard deviation (Karras et al., 2018) appends one feature map holding the features' standard
/// deviation across the batch, averaged: a generator that ignores its noise gives batches with no spread, which the
/// discriminator then sees and punishes — the remedy for within-class mode collapse.
/// </summary>
public sealed class DcganDiscriminator : Module
{
    readonly SnConv2d conv1, conv2, conv3;
    readonly SnLinear fc;
    readonly Embedding? classEmbedding;

    public GanConfig Config { get; }

    public DcganDiscriminator(GanConfig config, Generator g)
    {
        config.Validate();
        Config = config;
        int w = config.Width;
        conv1 = Child("conv1", new SnConv2d(1, w, 4, g, stride: 2, padding: 1));
        conv2 = Child("conv2", new SnConv2d(w, 2 * w, 4, g, stride: 2, padding: 1));
        conv3 = Child("conv3", new SnConv2d(2 * w + 1, 2 * w, 3, g, stride: 1, padding: 1));
        fc = Child("fc", new SnLinear(2 * w, 1, g));
        if (config.Classes > 0)
        {
            classEmbedding = Child("class_embedding", new Embedding(config.Classes, 2 * w, g));
            Init.Normal(classEmbedding.Weight, g, 0f, 0.02f);
        }
    }

    /// <summary>Images (B, 1, 28, 28) in [−1, 1] and labels → one logit per image (B): high for real.</summary>
    public Tensor Forward(Tensor x, int[]? labels)
    {
        if (x.Rank != 4 || x.Shape[1] != 1 || x.Shape[2] != 28 || x.Shape[3] != 28)
            throw new ShapeMismatchException($"DcganDiscriminator: images must be (B, 1, 28, 28), got {Shapes.Format(x.Shape)}");
        Config.CheckLabels("DcganDiscriminator", x.Shape[0], labels);
        var h = conv1.Forward(x).LeakyRelu(0.2f);
        h = conv2.Forward(h).LeakyRelu(0.2f);                                            // (B, 2W, 7, 7)
        h = conv3.Forward(Tensor.Cat([h, MinibatchStd(h)], 1)).LeakyRelu(0.2f);         // (B, 2W, 7, 7)
        var phi = h.Sum([2, 3]);                                                          // (B, 2W)
        var logit = fc.Forward(phi).Reshape(x.Shape[0]);                                  // (B)
        return classEmbedding is null ? logit : logit + (classEmbedding.Forward(labels!) * phi).Sum(1);
    }

    /// <summary>(B, C, H, W) → (B, 1, H, W) filled with the mean over C, H, W of the standard deviation across the batch.</summary>
    public static Tensor MinibatchStd(Tensor h)
    {
        var spread = (h.Var([0], correction: 0) + 1e-8f).Sqrt().Mean();               // scalar
        return spread.Reshape(1, 1, 1, 1).Expand(h.Shape[0], 1, h.Shape[2], h.Shape[3]);
    }
}
