using Engine.Random;

namespace Engine.Nn;

/// <summary>
/// Inverted dropout: in training mode each element is zeroed with probability p and the rest scaled by
/// 1/(1−p); in evaluation mode (<see cref="Module.Eval"/>) it is the identity. See <see cref="Tensor.Dropout"/>.
/// </summary>
public sealed class Dropout : Layer
{
    readonly Generator g;

    public float P { get; }

    public Dropout(float p, Generator g)
    {
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), $"Dropout: p must be in [0, 1), got {p}");
        P = p;
        this.g = g;
    }

    public override Tensor Forward(Tensor x) => x.Dropout(P, g, Training);
}
