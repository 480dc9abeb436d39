using Engine;
using Engine.Data;
using Engine.Random;

namespace Models.Dit.Captioned;

/// <summary>A source of images with captions: draws batches (B, C, S, S) in [0, 1] with one caption per image.</summary>
public interface ICaptionedData
{
    string Name { get; }
    int Channels { get; }
    int ImageSize { get; }

    /// <summary>Every word a caption can use, for the tokenizer.</summary>
    IReadOnlyList<string> Words { get; }

    /// <summary>The longest caption, in words.</summary>
    int MaxWords { get; }

    (Tensor Images, string[] Captions) Batch(int n, Generator g);
}

/// <summary>Fashion-MNIST with captions made from the class names: "a photo of a sneaker", "a pullover", ….</summary>
public sealed class FashionCaptions(ImageDataset data) : ICaptionedData
{
    static readonly string[] Templates = ["a {0}", "a photo of a {0}", "an image of a {0}", "{0}"];

    public string Name => "fashion";
    public int Channels => data.Channels;
    public int ImageSize => data.Height;
    public IReadOnlyList<string> Words { get; } = Templates.Concat(data.ClassNames).SelectMany(Text.WordTokenizer.Split).Distinct().ToArray();
    public int MaxWords => 4 + data.ClassNames.Max(n => Text.WordTokenizer.Split(n).Count());

    /// <summary>The caption of class <paramref name="label"/> with template <paramref name="template"/>.</summary>
    public string Caption(int label, int template = 1) => string.Format(Templates[template % Templates.Length], data.ClassNames[label].ToLowerInvariant());

    public (Tensor Images, string[] Captions) Batch(int n, Generator g)
    {
        var idx = Enumerable.Range(0, n).Select(_ => g.NextInt(data.Count)).ToArray();
        var images = Tensor.Cat(idx.Select(i => data.Images.Narrow(0, i, 1)).ToArray(), 0);
        return (images, idx.Select(i => Caption(data.Labels[i], g.NextInt(Templates.Length))).ToArray());
    }
}
