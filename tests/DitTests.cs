using Engine.Autograd;
using Engine.Nn;
using Engine.Random;
using Models.Dit;

namespace Engine.Tests;

/// <summary>DiT: layout helpers against plain references, adaLN-Zero start, training with both objectives, checkpoints, bad input.</summary>
public sealed class DitTests
{
    static readonly DitConfig Tiny = new(ImageSize: 8, Channels: 1, Patch: 2, Width: 16, Depth: 2, Heads: 2, MlpRatio: 2, Classes: 3, FrequencyDim: 16);

    [Test]
    public void Patch_embedding_equals_the_strided_convolution()
    {
        var g = new Generator(3);
        var embed = new PatchEmbed(3, 5, 2, g);
        var x = Tensor.Randn([2, 3, 4, 6], g);
        var viaConv = Tensor.Conv2d(x, embed.Proj.Weight, embed.Proj.Bias, stride: 2).Reshape(2, 5, 6).Permute(0, 2, 1); // (B, T, D)
        Assert.That(MaxAbs(embed.Forward(x), viaConv), Is.LessThan(1e-5));
    }

    [Test]
    public void Unpatchify_places_each_token_value_at_its_pixel()
    {
        int b = 2, c = 3, p = 2, gh = 2, gw = 3;
        var tokens = Tensor.Randn([b, gh * gw, p * p * c], new Generator(4));
        var image = PatchEmbed.Unpatchify(tokens, c, p, gh, gw);
        Assert.That(image.Shape, Is.EqualTo(new[] { b, c, gh * p, gw * p }));
        for (int n = 0; n < b; n++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < gh * p; y++)
                    for (int x = 0; x < gw * p; x++)
                    {
                        int token = y / p * gw + x / p, inPatch = (y % p * p + x % p) * c + ch;   // (row, column, channel) order
                        Assert.That(image[n, ch, y, x], Is.EqualTo(tokens[n, token, inPatch]));
                    }
    }

    [Test]
    public void Multi_head_attention_equals_the_composed_formula()
    {
        var g = new Generator(5);
        var attn = new MultiHeadAttention(8, 2, g);
        var x = Tensor.Randn([2, 5, 8], g);
        var qkv = Tensor.MatMul(x, attn.Qkv.Weight.T) + attn.Qkv.Bias!;                  // (B, T, 3D)
        Tensor Head(int part, int h) => qkv.Narrow(2, part * 8 + h * 4, 4);                // (B, T, 4)
        var heads = Enumerable.Range(0, 2).Select(h => Tensor.AttentionComposed(Head(0, h), Head(1, h), Head(2, h))).ToArray();
        var expected = Tensor.MatMul(Tensor.Cat(heads, 2), attn.Proj!.Weight.T) + attn.Proj.Bias!;
        Assert.That(MaxAbs(attn.Forward(x), expected), Is.LessThan(1e-5));
    }

    [Test]
    public void Fresh_blocks_are_the_identity_and_the_fresh_model_predicts_zero()
    {
        var g = new Generator(6);
        var block = new DitBlock(16, 2, 2, g);
        var x = Tensor.Randn([2, 5, 16], g);
        Assert.That(MaxAbs(block.Forward(x, Tensor.Randn([2, 16], g)), x), Is.EqualTo(0));
        var dit = new DiT(Tiny, g);
        var y = dit.Forward(Tensor.Randn([2, 1, 8, 8], g), [3, 700], [0, 3]);
        Assert.That(y.ToArray().All(v => v == 0f), "adaLN-Zero: the final layer starts at zero");
    }

    [Test]
    public void W2_default_has_the_workload_size_and_reference_names()
    {
        var dit = new DiT(new DitConfig(), new Generator(0));
        Assert.That(dit.ParameterCount(), Is.InRange(7_300_000, 7_500_000));
        var names = dit.NamedParameters().Select(p => p.Name).ToHashSet();
        Assert.That(names, Does.Contain("x_embedder.proj.weight").And.Contain("t_embedder.mlp.0.weight").And.Contain("blocks.3.adaLN_modulation.1.weight")
            .And.Contain("final_layer.linear.bias").And.Contain("y_embedder.embedding_table.weight").And.Contain("pos_embed"));
    }

    [TestCase(DitObjective.Diffusion)]
    [TestCase(DitObjective.RectifiedFlow)]
    public void Loss_falls_on_a_tiny_batch(DitObjective objective)
    {
        var trainer = new DitTrainer(new DitTrainConfig(Tiny, objective, Timesteps: 100, LearningRate: 3e-3f, Seed: 1));
        var (images, labels) = TinyImages();
        var losses = Enumerable.Range(0, 60).Select(_ => trainer.TrainStep(images, labels)).ToArray();
        Assert.That(losses.Skip(50).Average(), Is.LessThan(0.6 * losses.Take(10).Average()), string.Join(", ", losses.Select(l => l.ToString("F3"))));
    }

    [TestCase(DitObjective.Diffusion)]
    [TestCase(DitObjective.RectifiedFlow)]
    public void Sampling_gives_images_in_range(DitObjective objective)
    {
        var config = new DitTrainConfig(Tiny, objective, Timesteps: 50);
        var trainer = new DitTrainer(config);
        foreach (var p in trainer.Model.Parameters()) Init.Normal(p, new Generator(2), 0f, 0.05f);
        var x = DitTrainer.Sample(trainer.Model, config, [0, 1, 3], steps: 4, guidance: 2f, new Generator(3), shift: 2f);
        Assert.That(x.Shape, Is.EqualTo(new[] { 3, 1, 8, 8 }));
        Assert.That(x.ToArray().All(v => v >= 0 && v <= 1));
    }

    [Test]
    public void Checkpoint_resumes_exactly()
    {
        using var dir = new TempDir();
        var config = new DitTrainConfig(Tiny, DitObjective.RectifiedFlow, Seed: 4);
        var (images, labels) = TinyImages();
        var a = new DitTrainer(config);
        a.TrainStep(images, labels); a.TrainStep(images, labels);
        string path = Path.Combine(dir.Path, "dit.safetensors");
        a.Save(path);
        var b = DitTrainer.Load(path);
        Assert.That(b.Step, Is.EqualTo(2));
        Assert.That(b.TrainStep(images, labels), Is.EqualTo(a.TrainStep(images, labels)));
        foreach (var (name, p) in a.Model.NamedParameters())
            Assert.That(b.Model.StateDict()[name].ToArray(), Is.EqualTo(p.ToArray()), name);
    }

    [Test]
    public void Bad_input_gets_typed_errors()
    {
        var dit = new DiT(Tiny, new Generator(0));
        Assert.Throws<ShapeMismatchException>(() => dit.Forward(Tensor.Zeros([1, 1, 9, 8]), [0], [0]));
        Assert.Throws<ShapeMismatchException>(() => dit.Forward(Tensor.Zeros([2, 1, 8, 8]), [0], [0, 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => dit.Forward(Tensor.Zeros([1, 1, 8, 8]), [0], [4]));
        Assert.Throws<NonFiniteException>(() => dit.Forward(Tensor.Zeros([1, 1, 8, 8]), [float.NaN], [0]));
        Assert.Throws<ArgumentException>(() => new DiT(Tiny with { Patch = 3 }, new Generator(0)));
        Assert.Throws<ShapeMismatchException>(() => PatchEmbed.Unpatchify(Tensor.Zeros([1, 5, 4]), 1, 2, 2, 2));
        using var dir = new TempDir();
        string other = Path.Combine(dir.Path, "other.safetensors");
        IO.SafeTensors.Save(other, dit.StateDict(), new Dictionary<string, string> { ["format"] = "something else" });
        Assert.That(Assert.Throws<CorruptFileException>(() => DitTrainer.Load(other))!.Message, Does.Contain(other).And.Contain("not a DiT checkpoint"));
        File.WriteAllBytes(other, [1, 2, 3]);
        Assert.Throws<CorruptFileException>(() => DitTrainer.Load(other));
    }

    [Test]
    public void Rectified_flow_paths_times_and_euler()
    {
        var g = new Generator(7);
        var x0 = Tensor.Randn([3, 2, 2, 2], g); var noise = Tensor.Randn([3, 2, 2, 2], g);
        Assert.That(MaxAbs(RectifiedFlow.Interpolate(x0, noise, [0f, 0f, 0f]), x0), Is.EqualTo(0));
        Assert.That(MaxAbs(RectifiedFlow.Interpolate(x0, noise, [1f, 1f, 1f]), noise), Is.EqualTo(0));
        // With the true velocity of the straight path, Euler lands on the data from the noise for any step count.
        var exact = RectifiedFlow.SampleEuler((x, t) => RectifiedFlow.VelocityTarget(x0, noise), noise, steps: 3, shift: 3f);
        Assert.That(MaxAbs(exact, x0), Is.LessThan(1e-5));
        var times = RectifiedFlow.Times(8, 3f);
        Assert.That(times[0], Is.EqualTo(1f)); Assert.That(times[^1], Is.EqualTo(0f));
        Assert.That(times.Zip(times.Skip(1)).All(p => p.First > p.Second));
        Assert.That(RectifiedFlow.Shift(0.5f, 3f), Is.EqualTo(0.75f).Within(1e-6));
        var ln = RectifiedFlow.SampleTimes(4000, g, FlowTimeSampling.LogitNormal);
        Assert.That(ln.All(t => t > 0 && t < 1)); Assert.That(ln.Average(), Is.EqualTo(0.5).Within(0.02));
        Assert.That(ln.Count(t => t > 0.3f && t < 0.7f), Is.GreaterThan(ln.Length * 0.45), "logit-normal piles up in the middle");
        Assert.Throws<ShapeMismatchException>(() => RectifiedFlow.Interpolate(x0, noise, [0.5f]));
    }

    static (Tensor, int[]) TinyImages()
    {
        var images = Tensor.Zeros([6, 1, 8, 8]);
        for (int i = 0; i < 6; i++)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++) images[i, 0, y, x] = (i % 3) switch { 0 => x < 4 ? 1f : 0f, 1 => y < 4 ? 1f : 0f, _ => (x + y) % 2 };
        return (images, [0, 1, 2, 0, 1, 2]);
    }

    static double MaxAbs(Tensor a, Tensor b)
    {
        using var _ = GradMode.NoGrad();
        return (a - b).Abs().ToArray().Max();
    }

    /// <summary>
    /// Under NoGrad, replayed by a <see cref="MemoryPlan"/>, the engine frees each intermediate of the DiT after its last
    /// use, so later ops reuse their arrays: the output equals a recorded pass bit for bit, and from an empty pool it asks
    /// for under three quarters of the fresh arrays.
    /// </summary>
    [Test]
    public void Forward_without_a_graph_frees_intermediates_and_matches_the_recorded_pass()
    {
        var dit = new DiT(new DitConfig(Width: 64, Depth: 2, Heads: 2, FrequencyDim: 64), new Generator(5));
        var init = new Generator(6);
        foreach (var p in dit.Parameters()) Init.Normal(p, init, 0f, 0.02f);     // no zero-initialised branch left out
        var x = Tensor.Randn([2, 1, 28, 28], new Generator(7));
        int[] t = [10, 900], y = [4, 10];
        var (recorded, recordedFresh) = FreshArrays.Pass(() => dit.Forward(x, t, y), recordGraph: true);
        var (freed, freedFresh) = FreshArrays.Planned(() => dit.Forward(x, t, y));
        Assert.That(freed, Is.EqualTo(recorded));
        Assert.That(freedFresh, Is.LessThan(recordedFresh * 3 / 4), $"fresh arrays: {freedFresh} without a graph, {recordedFresh} with one");
    }
}
