namespace Engine.Nn;

/// <summary>Flattens axes <c>start..end</c> (inclusive) into one; the default keeps the batch axis: (B, C, H, W) → (B, C·H·W).</summary>
public sealed class Flatten(int start = 1, int end = -1) : Layer
{
    public int Start { get; } = start;
    public int End { get; } = end;

    public override Tensor Forward(Tensor x) => x.Flatten(Start, End);
}
