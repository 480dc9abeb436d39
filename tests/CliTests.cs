using Cli;
using Cli.Commands;
using Engine.Data;
using Engine.IO;
using Models.Diffusion;

namespace Engine.Tests;

/// <summary>The `engine` command run in-process: error paths give one line and a non-zero code; tiny train, sample and demo runs write their files.</summary>
public sealed class CliTests
{
    /// <summary>Runs the command line and returns the exit code and what it wrote to standard error.</summary>
    static (int Code, string Error) Engine(params string[] args)
    {
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        try { return (EngineCli.Run(args), error.ToString()); }
        finally { Console.SetError(saved); }
    }

    /// <summary>Runs a command that must succeed with <c>--json</c> and returns the JSON object it printed last.</summary>
    static System.Text.Json.JsonElement EngineJson(params string[] args)
    {
        var output = new StringWriter();
        var stdout = Console.Out;
        Console.SetOut(output);
        try
        {
            var r = Engine(args);
            Assert.That(r.Code, Is.EqualTo(0), r.Error);
        }
        finally { Console.SetOut(stdout); }
        return System.Text.Json.JsonDocument.Parse(output.ToString().Trim().Split('\n')[^1]).RootElement;
    }

    static void AssertOneLineError((int Code, string Error) r, int code, string containing)
    {
        Assert.That(r.Code, Is.EqualTo(code), r.Error);
        Assert.That(r.Error.TrimEnd().Split('\n'), Has.Length.EqualTo(1), r.Error);
        Assert.That(r.Error, Does.Contain(containing).And.Not.Contain("   at "));
    }

    /// <summary>A Fashion-MNIST-shaped training split of <paramref name="n"/> random images, as IDX files in <paramref name="dir"/>.</summary>
    static void WriteTinyFashionMnist(string dir, int n = 12)
    {
        var rng = new System.Random(3);
        var pixels = new byte[n * 28 * 28];
        rng.NextBytes(pixels);
        Idx.Write(Path.Combine(dir, "train-images-idx3-ubyte"), pixels, [n, 28, 28]);
        Idx.Write(Path.Combine(dir, "train-labels-idx1-ubyte"), Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray(), [n]);
        Idx.Write(Path.Combine(dir, "t10k-images-idx3-ubyte"), pixels, [n, 28, 28]);
        Idx.Write(Path.Combine(dir, "t10k-labels-idx1-ubyte"), Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray(), [n]);
    }

    [Test]
    public void Usage_errors_exit_2_with_one_line()
    {
        AssertOneLineError(Engine("train"), 2, "name one model to train");
        AssertOneLineError(Engine("train", "ddpm", "--stepz", "3"), 2, "unknown option --stepz");
        AssertOneLineError(Engine("train", "ddpm", "--steps", "many"), 2, "not an integer");
        AssertOneLineError(Engine("sample", "ddpm", "--checkpoint", "x"), 2, "--out");
        AssertOneLineError(Engine("sample", "glow", "--checkpoint", "x", "--out", "x.png"), 2, "name one model to sample from");
        AssertOneLineError(Engine("sample", "ddpm", "--checkpoint", "x", "--out", "x.png", "--sampler", "euler"), 2, "not ddim or ddpm");
        AssertOneLineError(Engine("demo", "--width", "12"), 2, "multiple of 8");
    }

    [Test]
    public void Bad_paths_wrong_checkpoints_and_missing_data_exit_1_with_one_line()
    {
        using var dir = new TempDir();
        AssertOneLineError(Engine("sample", "ddpm", "--checkpoint", dir.File("none.safetensors"), "--out", dir.File("g.png")), 1, "not found");
        SafeTensors.Save(dir.File("classifier.safetensors"), new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros([3]) },
            new Dictionary<string, string> { ["model"] = "SmallConvNet" });
        AssertOneLineError(Engine("sample", "ddpm", "--checkpoint", dir.File("classifier.safetensors"), "--out", dir.File("g.png")), 1, "not a DDPM checkpoint");
        File.WriteAllText(dir.File("junk.safetensors"), "not a checkpoint at all");
        AssertOneLineError(Engine("sample", "ddpm", "--checkpoint", dir.File("junk.safetensors"), "--out", dir.File("g.png")), 1, "junk.safetensors");
        AssertOneLineError(Engine("train", "ddpm", "--data", dir.File("no-such-dir"), "--steps", "1"), 1, "lacks the Train files");
        AssertOneLineError(Engine("train", "ddpm", "--out", dir.File("run"), "--resume", "--steps", "1", "--data", dir.Path), 1, "lacks the Train files");
        WriteTinyFashionMnist(dir.Path);
        AssertOneLineError(Engine("train", "ddpm", "--out", dir.File("run"), "--resume", "--steps", "1", "--data", dir.Path), 1, "no checkpoint");
        Assert.That(File.Exists(dir.File("g.png")), Is.False);
    }

    [Test]
    public void Train_interrupted_saves_resumes_exactly_and_samples()
    {
        using var dir = new TempDir();
        WriteTinyFashionMnist(dir.Path);
        string run = dir.File("run");
        string[] common = ["ddpm", "--data", dir.Path, "--out", run, "--preview", "0"];
        string[] settings = ["--width", "8", "--blocks", "1", "--batch", "4", "--lr", "1e-3", "--warmup", "2", "--seed", "3", "--timesteps", "20"];

        // Cancelled after step 2 (what Ctrl+C does): the checkpoint is saved and the exit code is 130.
        using var cancel = new CancellationTokenSource();
        int code = TrainDdpmCommand.Run(new Args([.. common, .. settings, "--steps", "5"]), cancel.Token, step => { if (step == 2) cancel.Cancel(); });
        Assert.That(code, Is.EqualTo(Models.Training.TrainingLoop.InterruptedExitCode));
        Assert.That(DiffusionCheckpoint.Peek(TrainDdpmCommand.CheckpointPath(run)).Step, Is.EqualTo(2));

        Assert.That(Engine(["train", .. common, "--resume", "--steps", "4"]).Code, Is.EqualTo(0));
        var resumed = DiffusionCheckpoint.Load(TrainDdpmCommand.CheckpointPath(run));
        Assert.That(resumed.Step, Is.EqualTo(4));
        AssertOneLineError(Engine(["train", .. common, "--resume", "--steps", "5", "--lr", "1"]), 2, "drop --lr");

        string straight = dir.File("straight");
        Assert.That(Engine(["train", "ddpm", "--data", dir.Path, "--out", straight, "--preview", "0", .. settings, "--steps", "4"]).Code, Is.EqualTo(0));
        var uninterrupted = DiffusionCheckpoint.Load(TrainDdpmCommand.CheckpointPath(straight));
        Assert.That(resumed.Model.StateDict()["conv_out.weight"].ToArray(), Is.EqualTo(uninterrupted.Model.StateDict()["conv_out.weight"].ToArray()));
        Assert.That(File.ReadAllLines(Path.Combine(run, "loss.csv")), Has.Length.EqualTo(5));
        Assert.That(File.Exists(Path.Combine(run, "loss.png")), Is.True);

        string grid = dir.File("grid.png");
        Assert.That(Engine("sample", "ddpm", "--checkpoint", TrainDdpmCommand.CheckpointPath(run), "--steps", "3", "--n", "2", "--guidance", "2", "--out", grid).Code, Is.EqualTo(0));
        var png = Png.Read(grid);
        Assert.That((png.Width, png.Height), Is.EqualTo((DdpmPictures.Zoom * (2 * 30 + 2), DdpmPictures.Zoom * (10 * 30 + 2))));
        Assert.That(Engine("sample", "ddpm", "--checkpoint", TrainDdpmCommand.CheckpointPath(run), "--sampler", "ddpm", "--class", "7", "--n", "3", "--out", grid).Code, Is.EqualTo(0));
        AssertOneLineError(Engine("sample", "ddpm", "--checkpoint", TrainDdpmCommand.CheckpointPath(run), "--class", "10", "--steps", "3", "--out", grid), 2, "outside the model's classes");

        // The EMA-only checkpoint of the finished run samples and evaluates; eval prints one JSON object with --json.
        string ema = Path.Combine(run, TrainDdpmCommand.EmaCheckpointName);
        Assert.That(DiffusionCheckpoint.LoadSampling(ema).Metadata["command"], Does.StartWith("engine train ddpm"));
        Assert.That(Engine("sample", "ddpm", "--checkpoint", ema, "--steps", "2", "--n", "1", "--out", grid).Code, Is.EqualTo(0));
        var json = EngineJson("eval", "ddpm", "--checkpoint", ema, "--samples", "20", "--steps", "2", "--vlb-images", "3", "--vlb-timesteps", "4", "--data", dir.Path, "--json");
        foreach (var key in new[] { "bits_per_dim", "fcd", "conditional_accuracy", "sampling_seconds_per_1000", "network_evaluations_per_image", "train_seconds" })
            Assert.That(json.TryGetProperty(key, out _), Is.True, key);
        Assert.That(json.GetProperty("network_evaluations_per_image").GetDouble(), Is.EqualTo(4));   // 2 DDIM steps, guided
        Assert.That(json.GetProperty("bits_per_dim").GetDouble(), Is.GreaterThan(0).And.LessThan(20));
    }

    [Test]
    public void Train_cfm_writes_a_field_that_eval_cfm_measures()
    {
        using var dir = new TempDir();
        WriteTinyFashionMnist(dir.Path, n: 20);
        string run = dir.File("cfm");
        var t = Engine("train", "rectified", "--steps", "2", "--reflow-steps", "2", "--pairs", "4", "--pair-steps", "1", "--batch", "4", "--width", "8", "--blocks", "1",
            "--test", "0", "--data", dir.Path, "--out", run);
        Assert.That(t.Code, Is.EqualTo(0), t.Error);
        foreach (var f in new[] { "1-rectified.safetensors", "2-rectified.safetensors", "samples-1-rectified.png", "samples-2-rectified.png", "loss.png" })
            Assert.That(File.Exists(Path.Combine(run, f)), Is.True, f);
        var (field, meta) = Models.FlowMatching.FlowCheckpoint.Load(Path.Combine(run, "2-rectified.safetensors"));
        Assert.That((field.Net.Config.BaseChannels, field.Net.Config.ResBlocks, meta["flow"]), Is.EqualTo((8, 1, "2-rectified")));

        var json = EngineJson("eval", "cfm", "--checkpoint", Path.Combine(run, "1-rectified.safetensors"), "--samples", "10", "--steps", "1,3", "--bpd-images", "2",
            "--straightness-images", "2", "--data", dir.Path, "--json");
        foreach (var key in new[] { "fcd_euler1", "conditional_accuracy_euler3", "sampling_seconds_per_1000_euler3", "straightness", "bits_per_dim", "train_seconds" })
            Assert.That(json.TryGetProperty(key, out _), Is.True, key);
        Assert.That(json.GetProperty("network_evaluations_per_image_euler3").GetDouble(), Is.EqualTo(6));   // 3 Euler steps, guided
        Assert.That(json.GetProperty("bits_per_dim").GetDouble(), Is.GreaterThan(0).And.LessThan(30));

        AssertOneLineError(Engine("eval", "cfm", "--checkpoint", Path.Combine(run, "1-rectified.safetensors"), "--steps", "1,x", "--data", dir.Path), 2, "--steps: 'x'");
        AssertOneLineError(Engine("train", "rectified", "--pairs", "3", "--batch", "4", "--data", dir.Path, "--out", run), 2, "fewer than one batch");
        SafeTensors.Save(dir.File("other.safetensors"), new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros([3]) }, new Dictionary<string, string> { ["model"] = "SmallConvNet" });
        AssertOneLineError(Engine("eval", "cfm", "--checkpoint", dir.File("other.safetensors"), "--data", dir.Path), 1, "not a UNet velocity field checkpoint");
    }

    [Test]
    public void Every_family_trains_through_the_loop_guards_its_run_folder_and_resumes()
    {
        using var dir = new TempDir();
        WriteTinyFashionMnist(dir.Path, n: 16);
        string gan = dir.File("gan");
        string[] ganRun = ["train", "gan", "--data", dir.Path, "--out", gan, "--latent", "8", "--width", "4", "--batch", "4", "--eval-samples", "0", "--sample-every", "2"];
        AssertOneLineError(Engine("train", "gan", "--data", dir.Path, "--out", gan, "--resume"), 1, "no checkpoint");
        AssertOneLineError(Engine([.. ganRun, "--steps", "2", "--resume"]), 2, "drop --batch, --latent, --width");
        var first = Engine([.. ganRun, "--steps", "2"]);
        Assert.That(first.Code, Is.EqualTo(0), first.Error);
        foreach (var f in new[] { "run.safetensors", "run.safetensors.json", "generator.safetensors", "samples.png", "loss.csv", "loss.png", "d_loss.png", "g_loss.png" })
            Assert.That(File.Exists(Path.Combine(gan, f)), Is.True, f);
        Assert.That(File.ReadAllLines(Path.Combine(gan, "loss.csv"))[0], Is.EqualTo("step,loss,G,D(real),D(fake)"));
        AssertOneLineError(Engine([.. ganRun, "--steps", "3"]), 2, "holds a checkpoint at step 2");
        AssertOneLineError(Engine(["train", "gan", "--data", dir.Path, "--out", gan, "--resume", "--lr", "1"]), 2, "drop --lr");
        var resumed = Engine(["train", "gan", "--data", dir.Path, "--out", gan, "--resume", "--steps", "4", "--eval-samples", "0"]);
        Assert.That(resumed.Code, Is.EqualTo(0), resumed.Error);
        var info = Models.Training.RunCheckpoint.Peek(Path.Combine(gan, "run.safetensors"), "gan");
        Assert.That((info.Step, info.Command), Is.EqualTo((4, "engine train gan --data " + dir.Path + " --out " + gan + " --resume --steps 4 --eval-samples 0")));
        Assert.That(File.ReadAllLines(Path.Combine(gan, "loss.csv")).Skip(1).Select(l => l.Split(',')[0]), Is.EqualTo(new[] { "1", "2", "3", "4" }));
        Assert.That(Engine([.. ganRun, "--steps", "1", "--force"]).Code, Is.EqualTo(0));
        Assert.That(Models.Training.RunCheckpoint.Peek(Path.Combine(gan, "run.safetensors")).Step, Is.EqualTo(1));

        string classifier = dir.File("classifier");
        var c = Engine("train", "classifier", "--data", dir.Path, "--out", classifier, "--classifier", dir.File("c.safetensors"), "--epochs", "1", "--batch", "8",
            "--width", "2", "--hidden", "4");
        Assert.That(c.Code, Is.EqualTo(0), c.Error);
        Assert.That(Models.Classifier.ClassifierCheckpoint.Load(dir.File("c.safetensors")).Width, Is.EqualTo(2));
        Assert.That(Models.Training.RunCheckpoint.Peek(Path.Combine(classifier, "run.safetensors"), "classifier").Step, Is.EqualTo(2));

        string flow = dir.File("flow");
        var f2 = Engine("train", "flow", "--toy", "moons", "--steps", "2", "--batch", "8", "--hidden", "4", "--blocks", "1", "--out", flow);
        Assert.That(f2.Code, Is.EqualTo(0), f2.Error);
        AssertOneLineError(Engine("train", "cfm", "--out", flow, "--resume", "--toy", "moons"), 1, "not a CFM checkpoint");
    }

    [Test]
    public void Demo_with_a_tiny_config_writes_its_pictures()
    {
        using var dir = new TempDir();
        WriteTinyFashionMnist(dir.Path);
        string outDir = dir.File("demo");
        var r = Engine("demo", "--steps", "2", "--batch", "4", "--width", "8", "--samples", "1", "--sampling-steps", "3", "--data", dir.Path, "--out", outDir);
        Assert.That(r.Code, Is.EqualTo(0), r.Error);
        foreach (var f in new[] { "samples.png", "trajectory.png", "loss.png", "ddpm.safetensors", "ddpm.safetensors.json", "loss.csv" })
            Assert.That(File.Exists(Path.Combine(outDir, f)), Is.True, f);
        var strip = Png.Read(Path.Combine(outDir, "trajectory.png"));
        Assert.That(strip.Width, Is.EqualTo(DdpmPictures.Zoom * (4 * 30 + 2)));    // x_T and the 3 sampling steps
        Assert.That(strip.Height, Is.EqualTo(DdpmPictures.Zoom * (7 * 30 + 2)));   // one row per followed image
    }
}
