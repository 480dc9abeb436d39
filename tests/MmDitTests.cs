using Engine.Autograd;
using Engine.Nn;
using Engine.Random;
using Models.Dit;
using Models.Dit.Captioned;
using Models.Dit.Text;

namespace Engine.Tests;

/// <summary>MM-DiT: tokenizer, joint attention, text conditioning, the shapes data and its prompt checker, training.</summary>
public sealed class MmDitTests
{
    static MmDitConfig Tiny(ICaptionedData data) => new(new WordTokenizer(data.Words, 8).Vocabulary.ToArray(),
        ImageSize: data.ImageSize, Channels: data.Channels, Patch: 4, Width: 16, Depth: 2, Heads: 2, MlpRatio: 2, MaxTokens: 8, TextWidth: 8, TextDepth: 1, TextHeads: 2, FrequencyDim: 16);

    static MmDit Randomised(MmDitConfig config, int seed)
    {
        var g = new Generator((ulong)seed);
        var model = new MmDit(config, g);
        foreach (var p in model.Parameters()) Init.Normal(p, g, 0f, 0.2f);
        return model;
    }

    [Test]
    public void Tokenizer_splits_maps_pads_and_round_trips()
    {
        var tok = new WordTokenizer(["a red circle", "T-shirt/top"], 6);
        Assert.That(tok.Vocabulary.Take(2), Is.EqualTo(new[] { WordTokenizer.PadWord, WordTokenizer.UnknownWord }));
        var ids = tok.Encode("A RED, circle!");
        Assert.That(ids[3..], Is.All.EqualTo(WordTokenizer.Pad));
        Assert.That(tok.Decode(ids), Is.EqualTo("a red circle"));
        Assert.That(tok.Encode("a green t shirt")[1], Is.EqualTo(WordTokenizer.Unknown));
        Assert.That(tok.Encode("a a a a a a a a").Length, Is.EqualTo(6));
        var again = WordTokenizer.FromVocabulary(tok.Vocabulary, 6);
        Assert.That(again.Encode("top shirt t"), Is.EqualTo(tok.Encode("top shirt t")));
        Assert.Throws<InvalidDataException>(() => WordTokenizer.FromVocabulary(["red"], 6));
    }

    [Test]
    public void Joint_attention_is_permutation_consistent()
    {
        // No positions enter attention: permuting one stream's tokens permutes its outputs the same way and leaves
        // the other stream's outputs unchanged; and joint attention equals attention over the concatenation.
        var g = new Generator(11);
        var text = new MultiHeadAttention(8, 2, g, qkNorm: true);
        var image = new MultiHeadAttention(8, 2, g, qkNorm: true);
        var t = Tensor.Randn([2, 4, 8], g); var x = Tensor.Randn([2, 6, 8], g);
        var r = MultiHeadAttention.Joint(text.Project(t), image.Project(x));
        int[] perm = [2, 0, 3, 1];
        var tp = Tensor.Cat(perm.Select(i => t.Narrow(1, i, 1)).ToArray(), 1);
        var rp = MultiHeadAttention.Joint(text.Project(tp), image.Project(x));
        Assert.That(MaxAbs(rp[1], r[1]), Is.LessThan(1e-5), "image outputs do not depend on the order of the text tokens");
        Assert.That(MaxAbs(rp[0], Tensor.Cat(perm.Select(i => r[0].Narrow(2, i, 1)).ToArray(), 2)), Is.LessThan(1e-5), "text outputs are permuted alike");

        var (qt, kt, vt) = text.Project(t); var (qx, kx, vx) = image.Project(x);
        var whole = Tensor.AttentionComposed(Tensor.Cat([qt, qx], 2), Tensor.Cat([kt, kx], 2), Tensor.Cat([vt, vx], 2));
        Assert.That(MaxAbs(Tensor.Cat(r, 2), whole), Is.LessThan(1e-5));
    }

    [Test]
    public void Text_changes_the_output_and_removing_the_text_stream_changes_it_too()
    {
        var data = new ShapeScenes();
        var model = Randomised(Tiny(data), 1);
        var x = Tensor.Randn([2, 3, 32, 32], new Generator(2));
        float[] t = [0.3f, 0.8f];
        using var _ = GradMode.NoGrad();
        var red = model.Forward(x, t, ["a red circle", "two blue squares"]);
        var green = model.Forward(x, t, ["a green triangle", "three yellow circles"]);
        var noText = model.Forward(x, t, model.Tokenizer.EncodeBatch(["a red circle", "two blue squares"]), withText: false);
        Assert.That(MaxAbs(red, green), Is.GreaterThan(1e-3), "different captions");
        Assert.That(MaxAbs(red, noText), Is.GreaterThan(1e-3), "text stream removed");
        Assert.That(MaxAbs(red, model.Forward(x, t, ["a red circle", "two blue squares"])), Is.EqualTo(0), "deterministic");
    }

    [Test]
    public void Streams_have_separate_weights_and_the_last_text_block_is_pre_only()
    {
        var model = new MmDit(Tiny(new ShapeScenes()), new Generator(0));
        var names = model.NamedParameters().Select(p => p.Name).ToHashSet();
        Assert.That(names, Does.Contain("joint_blocks.0.context_block.attn.qkv.weight").And.Contain("joint_blocks.0.x_block.attn.qkv.weight")
            .And.Contain("joint_blocks.0.x_block.attn.q_norm.weight").And.Contain("joint_blocks.0.context_block.mlp.fc1.weight")
            .And.Contain("text_encoder.token_embedding.weight").And.Contain("context_embedder.weight"));
        Assert.That(names, Does.Not.Contain("joint_blocks.1.context_block.mlp.fc1.weight").And.Not.Contain("joint_blocks.1.context_block.attn.proj.weight"));
    }

    [Test]
    public void Shape_scenes_follow_their_captions_by_the_checker()
    {
        var data = new ShapeScenes();
        var g = new Generator(5);
        var specs = Enumerable.Range(0, 150).Select(_ => ShapeScenes.RandomSpec(g)).ToList();
        var images = Tensor.Zeros([specs.Count, 3, 32, 32]);
        for (int i = 0; i < specs.Count; i++)
            ShapeScenes.Render(data.Layout(specs[i], g), images.Span.Slice(i * 3 * 32 * 32, 3 * 32 * 32), 32);
        var score = PromptFollowing.Score(specs, images);
        TestContext.Out.WriteLine(score);
        Assert.That(score.All, Is.GreaterThan(0.95), score.ToString());
        // A wrong claim about the same images scores low: shift every colour by one.
        var wrong = specs.Select(s => s with { Color = (s.Color + 1) % Palette.Names.Length, SecondColor = s.SecondColor < 0 ? -1 : (s.SecondColor + 1) % Palette.Names.Length }).ToList();
        Assert.That(PromptFollowing.Score(wrong, images).Colors, Is.LessThan(0.2));
        Assert.That(PromptFollowing.Score(specs, Tensor.Zeros([specs.Count, 3, 32, 32])).All, Is.EqualTo(0));
    }

    [Test]
    public void Captions_parse_back_and_use_only_known_words()
    {
        var data = new ShapeScenes();
        var tok = new WordTokenizer(data.Words, data.MaxWords);
        foreach (var spec in ShapeScenes.AllSpecs())
        {
            var caption = ShapeScenes.Caption(spec);
            Assert.That(tok.Knows(caption) && WordTokenizer.Split(caption).Count() <= data.MaxWords, caption);
            Assert.That(ShapeScenes.Parse(caption.ToUpperInvariant() + "."), Is.EqualTo(spec), caption);
        }
        Assert.That(ShapeScenes.Parse("a dog"), Is.Null);
        var (images, captions) = data.Batch(4, new Generator(1));
        Assert.That(images.Shape, Is.EqualTo(new[] { 4, 3, 32, 32 }));
        Assert.That(captions.All(c => ShapeScenes.Parse(c) is not null));
    }

    [Test]
    public void Loss_falls_and_checkpoints_resume()
    {
        var data = new ShapeScenes(16);
        var trainer = new MmDitTrainer(new MmDitTrainConfig(Tiny(data), LearningRate: 3e-3f, Seed: 2));
        var (images, captions) = data.Batch(6, new Generator(3));
        var losses = Enumerable.Range(0, 50).Select(_ => trainer.TrainStep(images, captions)).ToArray();
        Assert.That(losses.Skip(40).Average(), Is.LessThan(0.7 * losses.Take(10).Average()), string.Join(", ", losses.Select(l => l.ToString("F3"))));

        using var dir = new TempDir();
        string path = dir.File("mmdit.safetensors");
        trainer.Save(path);
        var back = MmDitTrainer.Load(path);
        Assert.That(back.TrainStep(images, captions), Is.EqualTo(trainer.TrainStep(images, captions)));
        var samples = MmDitTrainer.Sample(back.EmaModel(), ["a red circle", "two blue squares"], steps: 3, guidance: 3f, new Generator(4), shift: 3f);
        Assert.That(samples.Shape, Is.EqualTo(new[] { 2, 3, 16, 16 }));
        Assert.That(Assert.Throws<CorruptFileException>(() => DitTrainer.Load(path), "an MM-DiT checkpoint is not a DiT checkpoint")!.Message, Does.Contain("MM-DiT"));
    }

    [Test]
    public void Bad_input_gets_typed_errors()
    {
        var model = new MmDit(Tiny(new ShapeScenes()), new Generator(0));
        Assert.Throws<ShapeMismatchException>(() => model.Forward(Tensor.Zeros([1, 1, 32, 32]), [0.5f], ["a red circle"]));
        Assert.Throws<ShapeMismatchException>(() => model.Forward(Tensor.Zeros([2, 3, 32, 32]), [0.5f, 0.5f], ["a red circle"]));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(Tensor.Zeros([1, 3, 32, 32]), [0.5f], Enumerable.Repeat(999, 8).ToArray()));
        Assert.Throws<ShapeMismatchException>(() => PromptFollowing.Score([ShapeScenes.RandomSpec(new Generator(0))], Tensor.Zeros([1, 1, 32, 32])));
    }

    static double MaxAbs(Tensor a, Tensor b)
    {
        using var _ = GradMode.NoGrad();
        return (a - b).Abs().ToArray().Max();
    }
}
