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

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        void Require(bool ok, string what) { if (!ok) throw new ArgumentException($"DiffusionConfig: {what}"); }
        Require(BaseChannels >= 8 && BaseChannels % 8 == 0, $"BaseChannels must be a positive multiple of 8, got {BaseChannels}");
        Require(ResBlocks >= 1, $"ResBlocks must be at least 1, got {ResBlocks}");
        Require(Timesteps >= 2, $"Timesteps must be at least 2, got {Timesteps}");
        Require(MinSnrGamma >= 0 && float.IsFinite(MinSnrGamma), $"MinSnrGamma must be finite and non-negative, got {MinSnrGamma}");
        Require(LabelDropout is >= 0 and <= 1, $"LabelDropout must be in [0, 1], got {LabelDropout}");
        Require(LearningRate > 0 && float.IsFinite(LearningRate), $"LearningRate must be positive, got {LearningRate}");
        Require(WarmupSteps >= 0, $"WarmupSteps must be non-negative, got {WarmupSteps}");
        Require(WeightDecay >= 0 && float.IsFinite(WeightDecay), $"WeightDecay must be finite and non-negative, got {WeightDecay}");
        Require(EmaDecay is >= 0 and <= 1, $"EmaDecay must be in [0, 1], got {EmaDecay}");
        Require(GradClip >= 0 && float.IsFinite(GradClip), $"GradClip must be finite and non-negative, got {GradClip}");
        Require(BatchSize >= 1, $"BatchSize must be at least 1, got {BatchSize}");
        Require(Classes >= 1, $"Classes must be at least 1, got {Classes}");
        Require(ImageSize >= 4 && ImageSize % 4 == 0, $"ImageSize must be a positive multiple of 4, got {ImageSize}");
    }
}
