using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Data;
using Engine.Optim;
using Engine.Random;
using Models.Training;

namespace Models.Vae;

/// <summary>Everything that defines a VAE run (the cosine schedule spans <see cref="TotalSteps"/>); stored in its checkpoint.</summary>
public sealed record VaeRunConfig(VaeConfig Model, int TotalSteps, float LearningRate = 1e-3f, int BatchSize = 64, ulong Seed = 0)
{
    public void Validate()
    {
        if (Model is null) throw new ArgumentException("VaeRunConfig: Model is missing");
        ConfigRange.Check("VaeRunConfig", ("Model.Latent", Model.Latent, 1, 1024), ("Model.Width", Model.Width, 1, 1024), (nameof(TotalSteps), TotalSteps, 1, 100_000_000),
            (nameof(LearningRate), LearningRate, 1e-12, 10), (nameof(BatchSize), BatchSize, 1, 4096));
        Model.Validate();
    }
}

/// <summary>The VAE family's training run: the negative ELBO with AdamW and a cosine schedule; one noise stream for targets and latents.</summary>
public sealed class VaeRun : ITrainingRun
{
    public const string FamilyName = "vae";

    internal static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    readonly StepBatches batches;
    readonly AdamW optimizer;
    readonly Generator noise;

    public VaeRunConfig Config { get; }
    public ConvVae Model { get; }
    public int Step { get; private set; }

    public VaeRun(VaeRunConfig config, ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Model = new ConvVae(config.Model, new Generator(config.Seed));
        int steps = config.TotalSteps;
        optimizer = new AdamW(Model.Parameters(), lr: config.LearningRate, weightDecay: 0f)
        {
            Schedule = LrSchedule.Cosine(config.LearningRate, steps, warmupSteps: Math.Min(100, steps / 10)),
        };
        noise = new Generator(config.Seed + 1);
        batches = new StepBatches(data, config.BatchSize, config.Seed);
    }

    public string Family => FamilyName;
    public string ConfigJson => JsonSerializer.Serialize(Config, Json);
    public int BatchSize => Config.BatchSize;

    /// <summary>The loss is −ELBO (nats per image); the parts are its reconstruction and KL terms.</summary>
    public StepLosses TrainStep()
    {
        var (x, _) = batches.For(Step);
        var terms = Model.Elbo(Model.Target(x, noise), noise);
        optimizer.ZeroGrad();
        terms.Loss.Backward();
        optimizer.Step();
        Step++;
        return new StepLosses(-terms.Elbo, [("recon", terms.Reconstruction), ("KL", terms.Kl)]);
    }

    public RunState SaveState() => RunState.Of(Model, null, optimizer, "noise", noise, Step);

    public void LoadState(RunState s) => Step = s.LoadInto(Model, null, optimizer, "noise", noise);

    public static VaeRun Resume(string path, ImageDataset data, out RunInfo info) =>
        RunCheckpoint.Resume<VaeRunConfig, VaeRun>(path, FamilyName, c => c.Validate(), c => new VaeRun(c, data), out info, Json);
}
