using Engine;
using Engine.Autograd;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;

namespace Models.Gan;

/// <summary>The losses of one GAN step and the discriminator's mean probabilities on real and generated images.</summary>
public sealed record GanStepLosses(float Discriminator, float Generator, float RealScore, float FakeScore);

/// <summary>
/// Alternating GAN training with the non-saturating loss (Goodfellow et al., 2014): the discriminator minimises
/// softplus(−D(x)) + softplus(D(G(z))), the generator minimises softplus(−D(G(z))). Both use Adam with β₁ = 0.5;
/// generated images get the labels of the real batch, so a conditional pair learns every class.
/// </summary>
public sealed class GanTrainer
{
    readonly Adam optG, optD;
    readonly Generator noise;

    public DcganGenerator G { get; }
    public DcganDiscriminator D { get; }
    public int Step { get; private set; }

    /// <summary>Both networks, both optimizers, the noise stream and the step, for a run checkpoint.</summary>
    public void SaveState(Models.Training.RunState s)
    {
        s.AddModule("model.g", G);
        s.AddModule("model.d", D);
        s.AddOptimizer("optim.g", optG);
        s.AddOptimizer("optim.d", optD);
        s.AddGenerator("noise", noise);
        s.SetInt("step", Step);
    }

    public void LoadState(Models.Training.RunState s)
    {
        s.LoadModule("model.g", G);
        s.LoadModule("model.d", D);
        s.LoadOptimizer("optim.g", optG);
        s.LoadOptimizer("optim.d", optD);
        s.LoadGenerator("noise", noise);
        Step = s.Int("step");
    }

    public GanTrainer(DcganGenerator generator, DcganDiscriminator discriminator, float lr = 2e-4f, ulong seed = 0)
    {
        if (generator.Config != discriminator.Config)
            throw new ArgumentException($"GanTrainer: generator {generator.Config} and discriminator {discriminator.Config} differ");
        G = generator; D = discriminator;
        optG = new Adam(G.Parameters(), lr, beta1: 0.5f, beta2: 0.999f);
        optD = new Adam(D.Parameters(), lr, beta1: 0.5f, beta2: 0.999f);
        noise = new Generator(seed);
    }

    /// <summary>One discriminator step and one generator step on real images (B, 1, 28, 28) in [0, 1].</summary>
    public GanStepLosses TrainStep(Tensor realImages, int[] labels)
    {
        int b = realImages.Shape[0];
        var real = realImages * 2f - 1f;
        int[]? y = G.Config.Classes > 0 ? labels : null;
        G.Train(); D.Train();

        Tensor fake;
        using (GradMode.NoGrad()) fake = G.Forward(Noise(b), y);
        var dReal = D.Forward(real, y);
        var dFake = D.Forward(fake, y);
        var dLoss = (-dReal).Softplus().Mean() + dFake.Softplus().Mean();
        optD.ZeroGrad();
        dLoss.Backward();
        optD.Step();

        SetRequiresGrad(D, false);                                                        // D's weight gradients are not needed for G's step
        var gLoss = (-D.Forward(G.Forward(Noise(b), y), y)).Softplus().Mean();
        optG.ZeroGrad();
        gLoss.Backward();
        optG.Step();
        SetRequiresGrad(D, true);

        float d = dLoss.Item(), gl = gLoss.Item();
        if (!float.IsFinite(d) || !float.IsFinite(gl))
            throw new NonFiniteException($"GanTrainer: step {Step + 1} gave discriminator loss {d} and generator loss {gl}");
        Step++;
        return new GanStepLosses(d, gl, dReal.Sigmoid().Mean().Item(), dFake.Sigmoid().Mean().Item());
    }

    /// <summary>
    /// Images (N, 1, 28, 28) in [0, 1] for the given labels (or <paramref name="count"/> when unconditional). BatchNorm
    /// uses its running statistics, or with <paramref name="batchStatistics"/> those of the batch drawn, as in training.
    /// </summary>
    public static Tensor Sample(DcganGenerator generator, int[]? labels, int count, Generator g, bool batchStatistics = false)
    {
        int n = labels?.Length ?? count;
        using var _ = GradMode.NoGrad();
        generator.Train(batchStatistics);
        var images = generator.Forward(Tensor.Randn([n, generator.Config.Latent], g), generator.Config.Classes > 0 ? labels : null);
        generator.Train();
        return ((images + 1f) * 0.5f).Clamp(0f, 1f);
    }

    Tensor Noise(int b) => Tensor.Randn([b, G.Config.Latent], noise);

    static void SetRequiresGrad(Module m, bool on)
    {
        foreach (var p in m.Parameters()) p.RequiresGrad = on;
    }

    public const string GeneratorName = "DcganGenerator";

    /// <summary>Saves the generator (what sampling needs) with its configuration.</summary>
    public static void SaveGenerator(string path, DcganGenerator generator, IReadOnlyDictionary<string, string> extra)
    {
        var meta = new Dictionary<string, string>(extra)
        {
            ["latent"] = FamilyCheckpoint.Format(generator.Config.Latent),
            ["width"] = FamilyCheckpoint.Format(generator.Config.Width),
            ["classes"] = FamilyCheckpoint.Format(generator.Config.Classes),
        };
        FamilyCheckpoint.Save(path, generator, GeneratorName, meta);
    }

    public static (DcganGenerator Generator, Dictionary<string, string> Metadata) LoadGenerator(string path)
    {
        var content = FamilyCheckpoint.Open(path, GeneratorName);
        var config = new GanConfig(FamilyCheckpoint.Int(path, content, "latent", 1, 4096), FamilyCheckpoint.Int(path, content, "width", 1, 4096),
            FamilyCheckpoint.Int(path, content, "classes", 0, 100_000));
        var generator = new DcganGenerator(config, new Generator(0));
        FamilyCheckpoint.LoadInto(path, content, generator);
        return (generator, content.Metadata);
    }
}
