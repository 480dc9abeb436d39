using Engine.Data;
using Engine.IO;
using Engine.Random;
using Models.Classifier;
using Models.Diffusion;
using Models.FlowMatching;
using Models.Flows;
using Models.Gan;
using Models.PixelCnn;
using Models.Vae;
using Models.Dit;
using Models.Dit.Captioned;
using Models.Dit.Text;
using Models.Training;

namespace Engine.Tests;

/// <summary>
/// The one training loop and run-checkpoint format: every family, trained N steps straight or k steps, interrupted
/// (the loop's cancellation token, what Ctrl+C fires), saved and resumed to N, ends with bit-identical state on the CPU.
/// </summary>
public sealed class TrainingLoopTests
{
    /// <summary>Random 8-bit images with labels cycling over 10 classes.</summary>
    internal static ImageDataset Images(int n, int size, ulong seed, int channels = 1)
    {
        var g = new Generator(seed);
        var pixels = new float[n * channels * size * size];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = g.NextInt(256) / 255f;
        return new ImageDataset(Tensor.Wrap(pixels, n, channels, size, size), Enumerable.Range(0, n).Select(i => i % 10).ToArray());
    }

    static Dictionary<string, float[]> Snapshot(RunState s) => s.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());

    /// <summary>
    /// Trains <paramref name="fresh"/>() to <paramref name="total"/> steps in one go, and another to <paramref name="total"/> with a
    /// cancellation after step <paramref name="stopAt"/> and a resume through <paramref name="resume"/>(checkpoint path);
    /// every tensor and value of the two final states must be identical.
    /// </summary>
    internal static void AssertResumesExactly(Func<ITrainingRun> fresh, Func<string, ITrainingRun> resume, int total, int stopAt, string name = "run.safetensors")
    {
        using var dir = new TempDir();
        string straightDir = dir.File("straight"), splitDir = dir.File("split");
        var straight = fresh();
        var done = TrainingLoop.Run(straight, new TrainingLoopOptions { TotalSteps = total, OutDir = straightDir, CheckpointName = name });
        Assert.That((done.Finished, done.Step), Is.EqualTo((true, total)));

        using var cancel = new CancellationTokenSource();
        var first = fresh();
        var stopped = TrainingLoop.Run(first, new TrainingLoopOptions
        {
            TotalSteps = total, OutDir = splitDir, CheckpointName = name, AfterStep = s => { if (s == stopAt) cancel.Cancel(); },
        }, cancel.Token);
        Assert.That((stopped.Finished, stopped.Step), Is.EqualTo((false, stopAt)), "a cancelled loop stops after the step and saves");
        Assert.That(RunCheckpoint.Peek(Path.Combine(splitDir, name)).Step, Is.EqualTo(stopAt));

        var resumed = resume(Path.Combine(splitDir, name));
        Assert.That(resumed.Step, Is.EqualTo(stopAt));
        var end = TrainingLoop.Run(resumed, new TrainingLoopOptions { TotalSteps = total, OutDir = splitDir, CheckpointName = name });
        Assert.That(end.Finished, Is.True);

        var a = straight.SaveState();
        var b = resumed.SaveState();
        Assert.That(b.Values, Is.EquivalentTo(a.Values), "optimizer steps, rates and random-stream positions");
        var sa = Snapshot(a);
        var sb = Snapshot(b);
        Assert.That(sb.Keys, Is.EquivalentTo(sa.Keys));
        foreach (var (key, values) in sa) Assert.That(sb[key], Is.EqualTo(values), key);
        // The loss history of the interrupted run is that of the straight one, step numbers included.
        var rowsA = LossHistory.Read(straightDir, total);
        var rowsB = LossHistory.Read(splitDir, total);
        Assert.That(rowsB.Select(r => (r.Step, r.Loss)), Is.EqualTo(rowsA.Select(r => (r.Step, r.Loss))));
        Assert.That(rowsB.Select(r => r.Step), Is.EqualTo(Enumerable.Range(1, total)));
    }

    static DiffusionConfig TinyDdpm => new(BaseChannels: 8, ResBlocks: 1, Timesteps: 50, LearningRate: 2e-3f, WarmupSteps: 3, EmaDecay: 0.9f, BatchSize: 4, ImageSize: 8, Seed: 11);

    [Test]
    public void Ddpm_resumes_bit_exactly()
    {
        var data = Images(10, 8, 1);                                             // 2 batches per epoch: the run crosses epochs
        AssertResumesExactly(() => new DdpmRun(TinyDdpm, data), path => new DdpmRun(DiffusionCheckpoint.Load(path), data), total: 5, stopAt: 2, "ddpm.safetensors");
    }

    static readonly DitConfig TinyDit = new(ImageSize: 8, Channels: 1, Patch: 2, Width: 16, Depth: 1, Heads: 2, MlpRatio: 2, Classes: 10, FrequencyDim: 16);

    [Test]
    public void Dit_resumes_bit_exactly([Values] DitObjective objective)
    {
        var data = Images(10, 8, 2);
        var config = new DitTrainConfig(TinyDit, objective, Timesteps: 50, Seed: 3, BatchSize: 4);
        AssertResumesExactly(() => new DitRun(new DitTrainer(config), data), path => new DitRun(DitTrainer.Load(path), data), total: 5, stopAt: 3);
    }

    [Test]
    public void MmDit_resumes_bit_exactly()
    {
        var data = new ShapeScenes(16);
        var model = new MmDitConfig(new WordTokenizer(data.Words, 8).Vocabulary.ToArray(), ImageSize: 16, Channels: 3, Patch: 4, Width: 16, Depth: 1, Heads: 2,
            MlpRatio: 2, MaxTokens: 8, TextWidth: 8, TextDepth: 1, TextHeads: 2, FrequencyDim: 16);
        var config = new MmDitTrainConfig(model, Seed: 5, BatchSize: 3);
        AssertResumesExactly(() => new MmDitRun(new MmDitTrainer(config), data), path => new MmDitRun(MmDitTrainer.Load(path), data), total: 4, stopAt: 2);
    }

    [Test]
    public void Gan_resumes_bit_exactly_with_both_optimizers()
    {
        var data = Images(12, 28, 4);
        var config = new GanRunConfig(new GanConfig(Latent: 8, Width: 4, Classes: 10), BatchSize: 4, Seed: 6);
        AssertResumesExactly(() => new GanRun(config, data), path => GanRun.Resume(path, data, out _), total: 5, stopAt: 2);
    }

    [Test]
    public void PixelCnn_resumes_bit_exactly()
    {
        var data = Images(10, 28, 5);
        var config = new PixelCnnRunConfig(new PixelCnnConfig(Channels: 4, Layers: 2, Classes: 10, HeadChannels: 8), TotalSteps: 4, BatchSize: 4, Seed: 7);
        AssertResumesExactly(() => new PixelCnnRun(config, data), path => PixelCnnRun.Resume(path, data, out _), total: 4, stopAt: 1);
    }

    [Test]
    public void Vae_resumes_bit_exactly([Values] VaeLikelihood likelihood)
    {
        var data = Images(10, 28, 6);
        var config = new VaeRunConfig(new VaeConfig(Latent: 4, Width: 4, likelihood), TotalSteps: 5, BatchSize: 4, Seed: 8);
        AssertResumesExactly(() => new VaeRun(config, data), path => VaeRun.Resume(path, data, out _), total: 5, stopAt: 3);
    }

    [Test]
    public void Classifier_resumes_bit_exactly_with_dropout()
    {
        var data = Images(10, 28, 7);
        var config = new ClassifierRunConfig(TotalSteps: 5, Width: 4, Hidden: 8, Dropout: 0.3f, BatchSize: 4, Seed: 9);
        AssertResumesExactly(() => new ClassifierRun(config, data), path => ClassifierRun.Resume(path, data, out _), total: 5, stopAt: 2);
    }

    [Test]
    public void Flow_resumes_bit_exactly_on_a_toy_and_on_images()
    {
        var toy = new FlowRunConfig("moons", Hidden: 8, Blocks: 2, TotalSteps: 5, LearningRate: 2e-3f, BatchSize: 16, Seed: 1);
        AssertResumesExactly(() => new FlowRun(toy, null), path => FlowRun.Resume(path, null, out _), total: 5, stopAt: 2);
        var data = Images(6, 28, 8);
        var images = new FlowRunConfig(null, Hidden: 4, Blocks: 1, TotalSteps: 3, LearningRate: 1e-3f, BatchSize: 2, Seed: 2);
        AssertResumesExactly(() => new FlowRun(images, data), path => FlowRun.Resume(path, data, out _), total: 3, stopAt: 1);
    }

    [Test]
    public void Cfm_resumes_bit_exactly()
    {
        var toy = new FlowMatchingRunConfig(false, "8gaussians", Steps: 5, ReflowSteps: 0, Pairs: 16, LearningRate: 2e-3f, BatchSize: 8, Hidden: 8, Seed: 3);
        AssertResumesExactly(() => new FlowMatchingRun(toy, null), path => FlowMatchingRun.Resume(path, "cfm", null, out _), total: 5, stopAt: 2);
        var data = Images(6, 28, 9);
        var images = new FlowMatchingRunConfig(false, null, Steps: 3, ReflowSteps: 0, Pairs: 4, LearningRate: 1e-3f, BatchSize: 2, Width: 8, Blocks: 1, Seed: 4);
        AssertResumesExactly(() => new FlowMatchingRun(images, data), path => FlowMatchingRun.Resume(path, "cfm", data, out _), total: 3, stopAt: 2);
    }

    [Test]
    public void Rectified_flow_resumes_bit_exactly_in_either_phase([Values(2, 4, 5)] int stopAt)
    {
        var toy = new FlowMatchingRunConfig(true, "moons", Steps: 4, ReflowSteps: 3, Pairs: 16, LearningRate: 2e-3f, BatchSize: 8, Hidden: 8, Seed: 5);
        AssertResumesExactly(() => new FlowMatchingRun(toy, null), path => FlowMatchingRun.Resume(path, "rectified", null, out _), total: 7, stopAt: stopAt);
    }

    [Test]
    public void Rectified_flow_on_images_resumes_bit_exactly_in_reflow()
    {
        var data = Images(6, 28, 10);
        var images = new FlowMatchingRunConfig(true, null, Steps: 2, ReflowSteps: 2, Pairs: 4, LearningRate: 1e-3f, BatchSize: 2, Width: 8, Blocks: 1, PairSteps: 1, Seed: 6);
        AssertResumesExactly(() => new FlowMatchingRun(images, data), path => FlowMatchingRun.Resume(path, "rectified", data, out _), total: 4, stopAt: 3);
    }

    [Test]
    public void A_run_folder_is_cleaned_guarded_and_its_history_never_runs_ahead()
    {
        using var dir = new TempDir();
        var data = Images(8, 8, 3);
        string run = dir.File("run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, ".ddpm.safetensors.0123.tmp"), "left by a killed save");
        TrainingLoop.PrepareFolder(run, "ddpm.safetensors", resume: false, force: false);
        Assert.That(Directory.GetFiles(run, "*.tmp"), Is.Empty, "stale temporary files are removed on start");
        Assert.Throws<FileNotFoundException>(() => TrainingLoop.PrepareFolder(run, "ddpm.safetensors", resume: true, force: false));

        TrainingLoop.Run(new DdpmRun(TinyDdpm, data), new TrainingLoopOptions { TotalSteps = 3, OutDir = run, CheckpointName = "ddpm.safetensors" });
        var e = Assert.Throws<RunExistsException>(() => TrainingLoop.PrepareFolder(run, "ddpm.safetensors", resume: false, force: false));
        Assert.That(e!.Message, Does.Contain("step 3").And.Contain("--resume").And.Contain("--force"));

        // A history that got ahead of the checkpoint (a kill between the two writes) is cut back to the checkpoint's step on resume.
        File.AppendAllText(Path.Combine(run, LossHistory.FileName), "4,0.5\n5,0.25\n");
        var resumed = new DdpmRun(DiffusionCheckpoint.Load(Path.Combine(run, "ddpm.safetensors")), data);
        TrainingLoop.Run(resumed, new TrainingLoopOptions { TotalSteps = 4, OutDir = run, CheckpointName = "ddpm.safetensors" });
        var rows = LossHistory.Read(run, 100);
        Assert.That(rows.Select(r => r.Step), Is.EqualTo(new[] { 1, 2, 3, 4 }));
        Assert.That(rows[3].Loss, Is.Not.EqualTo(0.5f));

        TrainingLoop.PrepareFolder(run, "ddpm.safetensors", resume: false, force: true);
        Assert.That(File.Exists(Path.Combine(run, LossHistory.FileName)), Is.False, "--force starts the history over");
    }

    [Test]
    public void Run_checkpoints_of_another_family_a_newer_version_or_a_config_out_of_range_are_typed_errors()
    {
        using var dir = new TempDir();
        var trainer = new DiffusionTrainer(TinyDdpm);
        string path = dir.File("ddpm.safetensors");
        DiffusionCheckpoint.Save(path, trainer, "engine train ddpm", 12);
        var info = RunCheckpoint.Peek(path);
        Assert.That((info.Family, info.Step, info.Command, info.TrainSeconds, info.EngineVersion), Is.EqualTo(("ddpm", 0, "engine train ddpm", 12.0, RunCheckpoint.EngineVersion)));

        var other = Assert.Throws<CorruptFileException>(() => DitTrainer.Load(path))!;
        Assert.That(other.Message, Does.Contain(path).And.Contain("not a DiT checkpoint").And.Contain("DDPM"));

        var content = SafeTensors.Load(path);
        var newer = new Dictionary<string, string>(content.Metadata) { ["format_version"] = "99" };
        SafeTensors.Save(dir.File("newer.safetensors"), content.Tensors, newer);
        Assert.That(Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.Load(dir.File("newer.safetensors")))!.Message, Does.Contain("version 99 is newer"));

        // Huge sizes in the config are refused by name and range before anything is allocated.
        foreach (var (field, value) in new[] { ("Timesteps", "2000000000"), ("BaseChannels", "1048576"), ("ResBlocks", "100000"), ("Classes", "2000000000") })
        {
            var config = System.Text.Json.Nodes.JsonNode.Parse(content.Metadata["config"])!;
            config[field] = long.Parse(value);
            var meta = new Dictionary<string, string>(content.Metadata) { ["config"] = config.ToJsonString() };
            SafeTensors.Save(dir.File("huge.safetensors"), content.Tensors, meta);
            var huge = Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.Load(dir.File("huge.safetensors")))!;
            Assert.That(huge.Message, Does.Contain(field).And.Contain(value).And.Contain("outside ["), huge.Message);
            Assert.Throws<CorruptFileException>(() => DiffusionCheckpoint.LoadSampling(dir.File("huge.safetensors")));
        }

        var dit = new DitTrainer(new DitTrainConfig(TinyDit));
        dit.Save(dir.File("dit.safetensors"));
        var ditContent = SafeTensors.Load(dir.File("dit.safetensors"));
        var ditConfig = System.Text.Json.Nodes.JsonNode.Parse(ditContent.Metadata["config"])!;
        ditConfig["Model"]!["Depth"] = 100000;
        SafeTensors.Save(dir.File("deep.safetensors"), ditContent.Tensors, new Dictionary<string, string>(ditContent.Metadata) { ["config"] = ditConfig.ToJsonString() });
        Assert.That(Assert.Throws<CorruptFileException>(() => DitTrainer.Load(dir.File("deep.safetensors")))!.Message, Does.Contain("Depth = 100000"));
        SafeTensors.Save(dir.File("garbled.safetensors"), ditContent.Tensors, new Dictionary<string, string>(ditContent.Metadata) { ["config"] = "{\"Model\": 3" });
        Assert.That(Assert.Throws<CorruptFileException>(() => DitTrainer.Load(dir.File("garbled.safetensors")))!.Message, Does.Contain("garbled.safetensors"));
    }
}
