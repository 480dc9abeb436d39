using Engine;
using Engine.Nn;
using Engine.Random;

namespace Models.Vae;

/// <summary>The decoder's likelihood p(x | z).</summary>
public enum VaeLikelihood
{
    /// <summary>Bernoulli per pixel, on dynamically binarised data (each pixel 1 with probability its grey value).</summary>
    Bernoulli,
    /// <summary>Discretised logistic per pixel on the 8-bit data itself, a mean and a log-scale per pixel.</summary>
    Logistic,
}

/// <summary>Size of a <see cref="ConvVae"/>: latent dimensions, base width of the convolutions, and the likelihood.</summary>
public sealed record VaeConfig(int Latent = 16, int Width = 32, VaeLikelihood Likelihood = VaeLikelihood.Bernoulli)
{
    public void Validate()
    {
        if (Latent < 1 || Width < 1 || !Enum.IsDefined(Likelihood))
            throw new ArgumentException($"VaeConfig: latent and width must be ≥ 1 and the likelihood known; got {this}");
    }
}

/// <summary>
/// The two terms of the ELBO, per-image means, and the loss −(reconstruction − KL) to minimise. The terms stay tensors
/// where the model ran (scalars, detached); <see cref="Reconstruction"/>, <see cref="Kl"/> and <see cref="Elbo"/> read them.
/// </summary>
public sealed record ElboTerms(Tensor Loss, Tensor ReconstructionTerm, Tensor KlTerm)
{
    public float Reconstruction => ReconstructionTerm.Item();
    public float Kl => KlTerm.Item();
    public float Elbo => Reconstruction - Kl;
}

/// <summary>
/// A convolutional VAE for 28×28 greyscale images. B batch, Z latent, W width. Encoder q(z|x) = N(μ, σ²):
/// conv 4×4/2 (1→W) → ReLU → conv 4×4/2 (W→2W) → ReLU → linear → (μ, log σ²). Decoder p(x|z): linear → ReLU →
/// (2W, 7, 7) → transposed conv 4×4/2 (2W→W) → ReLU → transposed conv 4×4/2 (W→1 logits, or 2: mean and log-scale).
/// </summary>
public sealed class ConvVae : Module
{
    public const int Side = 28;
    public const string ModelName = "ConvVae";
    const int Reduced = Side / 4;

    readonly Conv2d enc1, enc2;
    readonly Linear encOut, decIn;
    readonly ConvTranspose2d dec1, dec2;

    public VaeConfig Config { get; }

    public ConvVae(VaeConfig config, Generator g)
    {
        config.Validate();
        Config = config;
        int w = config.Width;
        enc1 = Child("enc1", new Conv2d(1, w, 4, g, stride: 2, padding: 1));
        enc2 = Child("enc2", new Conv2d(w, 2 * w, 4, g, stride: 2, padding: 1));
        encOut = Child("enc_out", new Linear(2 * w * Reduced * Reduced, 2 * config.Latent, g));
        decIn = Child("dec_in", new Linear(config.Latent, 2 * w * Reduced * Reduced, g));
        dec1 = Child("dec1", new ConvTranspose2d(2 * w, w, 4, g, stride: 2, padding: 1));
        dec2 = Child("dec2", new ConvTranspose2d(w, config.Likelihood == VaeLikelihood.Bernoulli ? 1 : 2, 4, g, stride: 2, padding: 1));
    }

    /// <summary>q(z|x): images (B, 1, 28, 28) in [0, 1] → μ (B, Z) and log σ² (B, Z).</summary>
    public (Tensor Mu, Tensor LogVar) Encode(Tensor x)
    {
        CheckImages(x);
        var h = enc2.Forward(enc1.Forward(x * 2f - 1f).Relu()).Relu();                  // (B, 2W, 7, 7)
        var stats = encOut.Forward(h.Flatten(1));                                        // (B, 2Z)
        var parts = stats.Chunk(2, 1);
        return (parts[0], parts[1].Clamp(-12f, 8f));
    }

    /// <summary>Parameters of p(x|z): (B, Z) → (B, 1, 28, 28) logits, or (B, 2, 28, 28) mean and log-scale.</summary>
    public Tensor Decode(Tensor z)
    {
        if (z.Rank != 2 || z.Shape[1] != Config.Latent)
            throw new ShapeMismatchException($"{ModelName}: latents must be (B, {Config.Latent}), got {Shapes.Format(z.Shape)}");
        var h = decIn.Forward(z).Relu().Reshape(z.Shape[0], 2 * Config.Width, Reduced, Reduced);
        return dec2.Forward(dec1.Forward(h).Relu());
    }

    /// <summary>log p(x | z) of each image, summed over pixels: (B). x is binary for Bernoulli, 8-bit values in [0, 1] for Logistic.</summary>
    public Tensor LogLikelihood(Tensor decoded, Tensor x)
    {
        if (Config.Likelihood == VaeLikelihood.Bernoulli)
            return Losses.BernoulliLogLikelihood(decoded, x, Reduction.None).Sum([1, 2, 3]);
        var (mean, logScale) = MeanAndLogScale(decoded);
        return DiscretizedLogistic.LogProb(x * 2f - 1f, mean, logScale).Sum([1, 2, 3]);
    }

    /// <summary>The decoder's expected image in [0, 1]: σ(logits), or the logistic mean mapped back from [−1, 1].</summary>
    public Tensor MeanImage(Tensor decoded) => Config.Likelihood == VaeLikelihood.Bernoulli
        ? decoded.Sigmoid()
        : ((MeanAndLogScale(decoded).Mean + 1f) * 0.5f).Clamp(0f, 1f);

    (Tensor Mean, Tensor LogScale) MeanAndLogScale(Tensor decoded)
    {
        var parts = decoded.Chunk(2, 1);
        return (parts[0].Contiguous(), parts[1].Clamp(min: -7f).Contiguous());
    }

    /// <summary>The data the likelihood scores: a fresh binarisation of x for Bernoulli (dynamic binarisation), x itself for Logistic.</summary>
    public Tensor Target(Tensor x, Generator g)
    {
        CheckImages(x);
        if (Config.Likelihood == VaeLikelihood.Logistic) return x;
        var u = Tensor.Rand(x.Shape, g, device: x.Device);
        return u.Lt(x);
    }

    /// <summary>
    /// One-sample ELBO of target images (B, 1, 28, 28): z = μ + σ·ε (the reparameterisation trick), reconstruction
    /// log p(x|z) and the analytic KL(q(z|x) ‖ N(0, I)), both per-image means; the loss is their difference, negated.
    /// </summary>
    public ElboTerms Elbo(Tensor target, Generator g)
    {
        var (mu, logVar) = Encode(target);
        var eps = Tensor.Randn(mu.Shape, g, device: mu.Device);
        var z = mu + (logVar * 0.5f).Exp() * eps;                                         // (B, Z)
        var recon = LogLikelihood(Decode(z), target).Mean();
        var kl = Losses.KlDiagonalGaussians(mu, logVar, reduction: Reduction.None).Sum(1).Mean();
        return new ElboTerms(kl - recon, recon.Detach(), kl.Detach());
    }

    static void CheckImages(Tensor x)
    {
        if (x.Rank != 4 || x.Shape[1] != 1 || x.Shape[2] != Side || x.Shape[3] != Side || x.Shape[0] < 1)
            throw new ShapeMismatchException($"{ModelName}: images must be (B, 1, {Side}, {Side}), got {Shapes.Format(x.Shape)}");
        if (!x.AllFinite())                                                                // counted where x lives; values read only to report
            throw new NonFiniteException($"{ModelName}: images {Shapes.Format(x.Shape)} contain {x.ToArray().First(v => !float.IsFinite(v))}");
    }

    // ---------------------------------------------------------------- checkpoints

    public void Save(string path, IReadOnlyDictionary<string, string> extra)
    {
        var meta = new Dictionary<string, string>(extra)
        {
            ["latent"] = FamilyCheckpoint.Format(Config.Latent),
            ["width"] = FamilyCheckpoint.Format(Config.Width),
            ["likelihood"] = Config.Likelihood.ToString().ToLowerInvariant(),
        };
        FamilyCheckpoint.Save(path, this, ModelName, meta);
    }

    public static (ConvVae Model, Dictionary<string, string> Metadata) Load(string path)
    {
        var content = FamilyCheckpoint.Open(path, ModelName);
        var likelihood = FamilyCheckpoint.Text(content, "likelihood") switch
        {
            "bernoulli" => VaeLikelihood.Bernoulli,
            "logistic" => VaeLikelihood.Logistic,
            var s => throw new CorruptFileException(path, $"metadata 'likelihood' is '{s}'; expected bernoulli or logistic"),
        };
        var config = new VaeConfig(FamilyCheckpoint.Int(path, content, "latent", 1, 4096), FamilyCheckpoint.Int(path, content, "width", 1, 4096), likelihood);
        var model = new ConvVae(config, new Generator(0));
        FamilyCheckpoint.LoadInto(path, content, model);
        return (model, content.Metadata);
    }
}
