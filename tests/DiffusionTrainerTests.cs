using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Diffusion;

namespace Engine.Tests;

/// <summary>Training, EMA and checkpoints of the DDPM trainer, on tiny UNets and 8×8 images so each test takes seconds.</summary>
public sealed class DiffusionTrainerTests
{
    static DiffusionConfig Tiny(Prediction prediction = Prediction.Epsilon, float minSnr = 0f, float lr = 2e-3f) => new(
        BaseChannels: 8, ResBlocks: 1, Timesteps: 50, Prediction: prediction, MinSnrGamma: minSnr, LearningRate: lr,
        WarmupSteps: 3, EmaDecay: 0.9f, BatchSize: 4, ImageSize: 8, Seed: 11);

    /// <summary>Random 8-bit 8×8 images with labels, as a dataset.</summary>
    static ImageDataset Images(int n, ulong seed)
    {
        var g = new Generator(seed);
        var pixels = new float[n * 64];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = g.NextInt(256) / 255f;
        return new ImageDataset(Tensor.Wrap(pixels, n, 1, 8, 8), Enumerable.Range(0, n).Select(i => i % 10).ToArray());
    }

    static float[] Flat(IEnumerable<KeyValuePair<string, Tensor>> state) => state.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.ToArray()).ToArray();

    [Test]
    public void Resuming_from_a_checkpoint_gives_bit_identical_weights_to_an_uninterrupted_run()
    {
        const int k = 4, m = 3;
        var data = Images(10, 1);                                                 // 2 full batches per epoch: the run crosses epochs
        var straight = new DiffusionTrainer(Tiny());
        for (int i = 0; i < k + m; i++) straight.TrainStep(new DataLoader(data, 4, dropLast: true, seed: 11));

        using var dir = new TempDir();
        var first = new DiffusionTrainer(Tiny());
        for (int i = 0; i < k; i++) first.TrainStep(new DataLoader(data, 4, dropLast: true, seed: 11));
        DiffusionCheckpoint.Save(dir.File("run.safetensors"), first);
        var resumed = DiffusionCheckpoint.Load(dir.File("run.safetensors"));
        Assert.That(resumed.Step, Is.EqualTo(k));
        for (int i = 0; i < m; i++) resumed.TrainStep(new DataLoader(data, 4, dropLast: true, seed: 11));

        Assert.That(Flat(resumed.Model.StateDict()), Is.EqualTo(Flat(straight.Model.StateDict())), "weights");
        Assert.That(Flat(resumed.Ema.StateDict()), Is.EqualTo(Flat(straight.Ema.StateDict())), "EMA");
        Assert.That(Flat(resumed.Optimizer.ExportState().Tensors), Is.EqualTo(Flat(straight.Optimizer.ExportState().Tensors)), "AdamW moments");
        Assert.That(resumed.Rng.Offset, Is.EqualTo(straight.Rng.Offset));
        Assert.That(resumed.Optimizer.LearningRate, Is.EqualTo(straight.Optimizer.LearningRate));
        Assert.That(File.ReadAllText(dir.File("run.safetensors.json")), Does.Contain("\"step\": 4").And.Contain("\"BaseChannels\": 8"));
        Assert.That(DiffusionCheckpoint.Peek(dir.File("run.safetensors")).Step, Is.EqualTo(k));
    }

    [Test]
    public void Checkpoints_of_other_models_or_corrupt_files_are_typed_errors()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => DiffusionCheckpoint.Load(dir.File("missing.safetensors")));

        SafeTensors.Save(dir.File("classifier.safetensors"), new Dictionary<string, Tensor> { ["fc.weight"] = Tensor.Zeros([2, 2]) },
            new Dictionary<string, string> { ["model"] = "SmallConvNet" });
        var e = Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.Load(dir.File("classifier.safetensors")));
        Assert.That(e!.Message, Does.Contain("not a DDPM checkpoint"));

        var trainer = new DiffusionTrainer(Tiny());
        DiffusionCheckpoint.Save(dir.File("good.safetensors"), trainer);
        var bytes = File.ReadAllBytes(dir.File("good.safetensors"));
        File.WriteAllBytes(dir.File("truncated.safetensors"), bytes[..(bytes.Length / 2)]);
        Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.Load(dir.File("truncated.safetensors")));
        File.WriteAllBytes(dir.File("garbage.safetensors"), [1, 2, 3]);
        Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.Load(dir.File("garbage.safetensors")));

        // Right format, but the tensors of a wider network.
        var content = SafeTensors.Load(dir.File("good.safetensors"));
        var wider = new DiffusionTrainer(Tiny() with { BaseChannels = 16 });
        DiffusionCheckpoint.Save(dir.File("wide.safetensors"), wider);
        var wideContent = SafeTensors.Load(dir.File("wide.safetensors"));
        SafeTensors.Save(dir.File("mismatch.safetensors"), wideContent.Tensors, content.Metadata);
        Assert.That(Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.Load(dir.File("mismatch.safetensors")))!.Message, Does.Contain("do not fit"));

        var badMeta = new Dictionary<string, string>(content.Metadata) { ["step"] = "-3" };
        SafeTensors.Save(dir.File("badmeta.safetensors"), content.Tensors, badMeta);
        Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.Load(dir.File("badmeta.safetensors")));
        var badConfig = new Dictionary<string, string>(content.Metadata) { ["config"] = "{\"BaseChannels\": 12}" };
        SafeTensors.Save(dir.File("badconfig.safetensors"), content.Tensors, badConfig);
        Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.Load(dir.File("badconfig.safetensors")));
    }

    [Test]
    public void The_ema_only_checkpoint_samples_like_the_training_checkpoint()
    {
        using var dir = new TempDir();
        var trainer = new DiffusionTrainer(Tiny());
        var batch = Images(4, 5);
        for (int i = 0; i < 3; i++) trainer.TrainStep(batch.Images, batch.Labels);
        DiffusionCheckpoint.Save(dir.File("full.safetensors"), trainer);
        DiffusionCheckpoint.SaveSampling(dir.File("ema.safetensors"), trainer, new Dictionary<string, string> { ["command"] = "test" });
        Assert.That(new FileInfo(dir.File("ema.safetensors")).Length, Is.LessThan(new FileInfo(dir.File("full.safetensors")).Length / 3));

        var fromFull = DiffusionCheckpoint.LoadSampling(dir.File("full.safetensors"));
        var fromEma = DiffusionCheckpoint.LoadSampling(dir.File("ema.safetensors"));
        Assert.That((fromEma.Step, fromEma.Metadata["command"]), Is.EqualTo((3, "test")));
        Assert.That(fromEma.Config, Is.EqualTo(trainer.Config));
        var options = new SamplerOptions(SamplerKind.Ddim, 3, 0f, 2f);
        Tensor Sample(TrainedDiffusion m) => m.Sampler().Sample(m.Model, m.Config.ImageShape, [1, 2], options, new Generator(9));
        Assert.That(Sample(fromEma).ToArray(), Is.EqualTo(Sample(fromFull).ToArray()));
        Assert.That(Sample(fromEma).ToArray(), Is.EqualTo(trainer.Sampler().Sample(trainer.EmaModel(), trainer.Config.ImageShape, [1, 2], options, new Generator(9)).ToArray()));

        Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.Load(dir.File("ema.safetensors")));   // not a training run
        SafeTensors.Save(dir.File("other.safetensors"), new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros([2]) }, new Dictionary<string, string> { ["model"] = "SmallConvNet" });
        Assert.That(Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.LoadSampling(dir.File("other.safetensors")))!.Message, Does.Contain("not a DDPM checkpoint"));
        Assert.Throws<FileNotFoundException>(() => DiffusionCheckpoint.LoadSampling(dir.File("none.safetensors")));

        // Evaluation: images in [0, 1] with the classes cycling, and one or two network passes per visited timestep.
        var (images, classes, _) = DiffusionEvaluation.Generate(fromEma, options, 5, new Generator(1), batch: 2);
        Assert.That(images.Shape, Is.EqualTo((int[])[5, .. fromEma.Config.ImageShape]));
        Assert.That(images.ToArray(), Has.All.InRange(0f, 1f));
        Assert.That(classes, Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
        Assert.That(DiffusionEvaluation.NetworkEvaluations(fromEma.Sampler(), options), Is.EqualTo(6));
        Assert.That(DiffusionEvaluation.NetworkEvaluations(fromEma.Sampler(), options with { GuidanceScale = 1f }), Is.EqualTo(3));
        Assert.That(DiffusionEvaluation.NetworkEvaluations(fromEma.Sampler(), new SamplerOptions(SamplerKind.Ddpm)), Is.EqualTo(trainer.Config.Timesteps));   // unguided
    }

    [TestCase(Prediction.Epsilon, 0f)]
    [TestCase(Prediction.Velocity, 0f)]
    [TestCase(Prediction.Epsilon, 5f)]
    public void A_tiny_denoiser_overfits_one_batch(Prediction prediction, float minSnr)
    {
        var trainer = new DiffusionTrainer(Tiny(prediction, minSnr, lr: 3e-3f) with { LabelDropout = 0f });
        var batch = Images(4, 5);
        var losses = new List<float>();
        for (int i = 0; i < 150; i++) losses.Add(trainer.TrainStep(batch.Images, batch.Labels));
        double first = losses.Take(10).Average(), last = losses.TakeLast(20).Average();
        TestContext.Out.WriteLine($"{prediction}, min-SNR {minSnr}: loss {first:F3} → {last:F3}");
        Assert.That(last, Is.LessThan(0.5 * first));
    }

    [Test]
    public void Ema_warms_up_and_follows_the_weights()
    {
        var trainer = new DiffusionTrainer(Tiny());
        Assert.That(trainer.EmaDecayAt(0), Is.EqualTo(0.1f).Within(1e-7f));
        Assert.That(trainer.EmaDecayAt(1000), Is.EqualTo(0.9f));
        var noWarmup = new DiffusionTrainer(Tiny() with { EmaWarmup = false });
        Assert.That(noWarmup.EmaDecayAt(0), Is.EqualTo(0.9f));

        var batch = Images(4, 6);
        trainer.TrainStep(batch.Images, batch.Labels);
        // After one update with decay 0.1: ema = 0.1·initial + 0.9·current.
        var ema = trainer.EmaModel().StateDict();
        var initial = new DiffusionTrainer(Tiny()).Model.StateDict();
        foreach (var (name, w) in trainer.Model.StateDict())
        {
            var expected = initial[name].ToArray().Zip(w.ToArray(), (a, b) => 0.1f * a + 0.9f * b).ToArray();
            Assert.That(ema[name].ToArray(), Is.EqualTo(expected).Within(1e-6f), name);
        }
    }

    [Test]
    public void Train_step_rejects_bad_batches()
    {
        var trainer = new DiffusionTrainer(Tiny());
        Assert.Throws<ShapeMismatchException>(() => trainer.TrainStep(Tensor.Zeros([4, 1, 8, 8]), [0, 1]));
        Assert.Throws<ShapeMismatchException>(() => trainer.TrainStep(Tensor.Zeros([2, 1, 12, 12]), [0, 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.TrainStep(Tensor.Zeros([2, 1, 8, 8]), [0, 10]));
        Assert.Throws<NonFiniteException>(() => trainer.TrainStep(Tensor.Full([2, 1, 8, 8], float.NaN), [0, 1]));
        Assert.Throws<ArgumentException>(() => new DiffusionTrainer(Tiny() with { BaseChannels = 12 }));
        Assert.Throws<ArgumentException>(() => trainer.TrainStep(new DataLoader(Images(10, 2), 5, dropLast: true)));
        Assert.That(trainer.Step, Is.EqualTo(0));
    }
}
