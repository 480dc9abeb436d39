using Engine;
using Engine.Autograd;
using Engine.Nn;
using Engine.Random;

namespace Models.Classifier;

/// <summary>
/// A small convolutional classifier for 28×28 greyscale images: three 3×3 convolutions (the last two with
/// stride 2), then two linear layers. <see cref="Features"/> gives the penultimate layer, the embedding that
/// Fréchet distances are computed in.
/// </summary>
public sealed class SmallConvNet : Layer
{
    readonly Conv2d conv1, conv2, conv3;
    readonly Linear fc1, fc2;
    readonly Dropout dropout;

    public int Width { get; }
    public int Hidden { get; }

    /// <param name="width">Channels of the first convolution; the others use 2·width.</param>
    /// <param name="dropout">Dropout on the features before the last layer, in training mode only.</param>
    public SmallConvNet(Generator g, int width = 16, int classes = 10, int hidden = 64, float dropout = 0f)
    {
        Width = width;
        Hidden = hidden;
        conv1 = Child("conv1", new Conv2d(1, width, 3, g, padding: 1));
        conv2 = Child("conv2", new Conv2d(width, 2 * width, 3, g, stride: 2, padding: 1));
        conv3 = Child("conv3", new Conv2d(2 * width, 2 * width, 3, g, stride: 2, padding: 1));
        fc1 = Child("fc1", new Linear(2 * width * 7 * 7, hidden, g));
        fc2 = Child("fc2", new Linear(hidden, classes, g));
        this.dropout = Child("dropout", new Dropout(dropout, g));
    }

    /// <summary>(B, 1, 28, 28) → (B, hidden) penultimate features.</summary>
    public Tensor Features(Tensor x)
    {
        if (x.Rank != 4 || x.Shape[1] != 1 || x.Shape[2] != 28 || x.Shape[3] != 28)
            throw new ShapeMismatchException($"SmallConvNet: expected images (B, 1, 28, 28), got {Shapes.Format(x.Shape)}");
        var h = conv1.Forward(x).Relu();                 // (B, w, 28, 28)
        h = conv2.Forward(h).Relu();                     // (B, 2w, 14, 14)
        h = conv3.Forward(h).Relu();                     // (B, 2w, 7, 7)
        return fc1.Forward(h.Flatten(1)).Relu();         // (B, hidden)
    }

    /// <summary>(B, 1, 28, 28) → (B, classes) logits.</summary>
    public override Tensor Forward(Tensor x) => fc2.Forward(dropout.Forward(Features(x)));

    /// <summary>Fraction of <paramref name="images"/> classified as their label, in batches, without recording a graph.</summary>
    public double Accuracy(Tensor images, int[] labels, int batch = 500)
    {
        using var _ = GradMode.NoGrad();
        int correct = 0, n = labels.Length;
        for (int i = 0; i < n; i += batch)
        {
            int b = Math.Min(batch, n - i);
            var predicted = Forward(images.Narrow(0, i, b)).Argmax(1).ToArray();
            for (int j = 0; j < b; j++) if ((int)predicted[j] == labels[i + j]) correct++;
        }
        return (double)correct / n;
    }
}
