namespace Models.Diffusion;

/// <summary>
/// Everything that defines a diffusion training run; saved with every checkpoint so a run resumes, and a
/// sampler rebuilds the network, from the file alone.
/// </summary>
/// <param name="BaseChannels">UNet width ch (32 is W1's UNet-S).</param>
/// <param name="ResBlocks">Residual blocks per resolution on each side of the UNet (2 in W1).</param>
/// <param name="Timesteps">T, the number of noising steps.</param>
/// <param name="MinSnrGamma">γ of min-SNR-γ loss weighting; 0 trains with the simple (unweighted) loss.</param>
/// <param name="LabelDropout">Probability that a label is replaced by the 'no class' token (classifier-free guidance).</param>
/// <param name="WarmupSteps">Steps of linear learning-rate warm-up, then constant.</param>
/// <param name="EmaDecay">Decay of the weight average used for sampling.</param>
/// <param name="EmaWarmup">Use min(EmaDecay, (1 + n)/(10 + n)) at update n, so early weights fade out in short runs.</param>
/// <param name="GradClip">Maximum global gradient norm; 0 turns clipping off.</param>
/// <param name="ImageSize">Side of the square greyscale images (a multiple of 4: the UNet halves it twice).</param>
/// <param name="BatchSize">Images per step; the data order of step n depends on it, so it is part of the run.</param>
public sealed record DiffusionConfig(
    int BaseChannels = 32,
    int ResBlocks = 2,
    ScheduleKind Schedule = ScheduleKind.Linear,
    int Timesteps = 1000,
    Prediction Prediction = Prediction.Epsilon,
    float MinSnrGamma = 0f,
    float LabelDropout = 0.1f,
    float LearningRate = 2e-4f,
    int WarmupSteps = 0,
    float WeightDecay = 0f,
    float EmaDecay = 0.999f,
    bool EmaWarmup = true,
    float GradClip = 1f,
    int BatchSize = 64,
    int Classes = 10,
    int ImageSize = 28,
    ulong Seed = 0)
{
    /// <summary>The denoiser this configuration trains.</summary>
    public UNetConfig Network => new(BaseChannels, Classes, ResBlocks: ResBlocks);

    /// <summary>The shape of one image, (1, ImageSize, ImageSize).</summary>
    public int[] ImageShape => [1, ImageSize, ImageSize];

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the first setting out of range, its value and the range allowed.
    /// The ranges bound what a checkpoint's config may ask for, so a hostile file cannot make the network or the schedule huge.
    /// </summary>
    public void Validate()
    {
        static void Range(string name, double value, double min, double max)
        {
            if (!(value >= min && value <= max)) throw new ArgumentException($"DiffusionConfig: {name} = {value} is outside [{min}, {max}]");
        }
        Range(nameof(BaseChannels), BaseChannels, 8, 512);
        if (BaseChannels % 8 != 0) throw new ArgumentException($"DiffusionConfig: BaseChannels = {BaseChannels} is not a multiple of 8");
        Range(nameof(ResBlocks), ResBlocks, 1, 8);
        Range(nameof(Timesteps), Timesteps, 2, 100_000);
        Range(nameof(MinSnrGamma), MinSnrGamma, 0, 1e6);
        Range(nameof(LabelDropout), LabelDropout, 0, 1);
        Range(nameof(LearningRate), LearningRate, 1e-12, 10);
        Range(nameof(WarmupSteps), WarmupSteps, 0, 100_000_000);
        Range(nameof(WeightDecay), WeightDecay, 0, 10);
        Range(nameof(EmaDecay), EmaDecay, 0, 1);
        Range(nameof(GradClip), GradClip, 0, 1e9);
        Range(nameof(BatchSize), BatchSize, 1, 4096);
        Range(nameof(Classes), Classes, 1, 10_000);
        Range(nameof(ImageSize), ImageSize, 4, 256);
        if (ImageSize % 4 != 0) throw new ArgumentException($"DiffusionConfig: ImageSize = {ImageSize} is not a multiple of 4");
    }
}
