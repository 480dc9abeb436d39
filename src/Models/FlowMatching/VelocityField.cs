using Engine;
using Engine.Nn;
using Engine.Random;
using Models.Diffusion;

namespace Models.FlowMatching;

/// <summary>
/// A time-dependent vector field v(x, t, label) for flows from noise (t = 0) to data (t = 1). Labels may be
/// null for an unconditional field; <see cref="NullClass"/> is the 'no class' label of classifier-free
/// guidance (−1 when the field takes no labels).
/// </summary>
public interface IVelocityField
{
    int NullClass { get; }

    /// <summary>The trainable tensors (frozen while divergences are taken).</summary>
    IEnumerable<Tensor> Parameters();

    /// <summary>x (B, …), t one time per sample in [0, 1], labels (B) or null → v (B, …).</summary>
    Tensor Forward(Tensor x, float[] t, int[]? labels);
}

/// <summary>
/// The vector field of the 2D toys: [x, sin/cos features of t] → MLP with SiLU → velocity, optionally with a
/// class embedding added to the first hidden layer.
/// </summary>
public sealed class MlpVelocityField : Module, IVelocityField
{
    const int Frequencies = 8;
    readonly Linear input, hidden1, hidden2, output;
    readonly Embedding? classEmbed;
    readonly int classes;

    public int Features { get; }
    public int NullClass => classes > 0 ? classes : -1;

    public MlpVelocityField(int features, int hidden, Generator g, int classes = 0)
    {
        Features = features;
        this.classes = classes;
        input = Child("input", new Linear(features + 2 * Frequencies, hidden, g));
        hidden1 = Child("hidden1", new Linear(hidden, hidden, g));
        hidden2 = Child("hidden2", new Linear(hidden, hidden, g));
        output = Child("output", new Linear(hidden, features, g));
        if (classes > 0) classEmbed = Child("class_embed", new Embedding(classes + 1, hidden, g));
    }

    /// <summary>(B, 2K): sin and cos of t·π·2^k for k = 0..K−1.</summary>
    static Tensor TimeFeatures(float[] t)
    {
        var v = new float[t.Length * 2 * Frequencies];
        for (int b = 0; b < t.Length; b++)
            for (int k = 0; k < Frequencies; k++)
            {
                double a = t[b] * Math.PI * (1 << k);
                v[b * 2 * Frequencies + k] = (float)Math.Sin(a);
                v[b * 2 * Frequencies + Frequencies + k] = (float)Math.Cos(a);
            }
        return Tensor.Wrap(v, t.Length, 2 * Frequencies);
    }

    public Tensor Forward(Tensor x, float[] t, int[]? labels)
    {
        if (x.Rank != 2 || x.Shape[1] != Features || t.Length != x.Shape[0])
            throw new ShapeMismatchException($"MlpVelocityField: x {Shapes.Format(x.Shape)} should be (B, {Features}) with B = {t.Length} times");
        var h = input.Forward(Tensor.Cat([x, TimeFeatures(t).To(x.Device)], 1));              // (B, hidden)
        if (classEmbed is not null && labels is not null) h = h + classEmbed.Forward(labels);
        h = hidden1.Forward(h.Silu());
        h = hidden2.Forward(h.Silu());
        return output.Forward(h.Silu());                                          // (B, D)
    }
}

/// <summary>
/// The W1 UNet-S as a vector field for images. The UNet embeds integer timesteps, so t ∈ [0, 1] is passed as
/// round(1000·t): 1001 time levels, finer than any sampler here uses. Labels default to the 'no class' token.
/// </summary>
public sealed class UNetVelocityField(UNet net) : IVelocityField
{
    /// <summary>Time levels per unit of t.</summary>
    public const int TimeScale = 1000;

    public UNet Net { get; } = net;
    public int NullClass => Net.NullClass;
    public IEnumerable<Tensor> Parameters() => Net.Parameters();

    public Tensor Forward(Tensor x, float[] t, int[]? labels)
    {
        var steps = t.Select(v => (int)MathF.Round(Math.Clamp(v, 0f, 1f) * TimeScale)).ToArray();
        return Net.Forward(x, steps, labels ?? Enumerable.Repeat(NullClass, x.Shape[0]).ToArray());
    }
}
