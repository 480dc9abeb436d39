namespace Engine.Autograd;

/// <summary>
/// One recorded op in the autograd graph: its name, its inputs, a short description of its attributes, and
/// the backward function that receives the gradient of the op's output and accumulates the gradients of
/// its inputs through <see cref="Backprop.Accumulate"/>.
/// </summary>
public sealed class Node(string op, Tensor[] inputs, Action<Tensor> backward, string? attributes = null)
{
    public string Op { get; } = op;
    public IReadOnlyList<Tensor> Inputs { get; } = inputs;
    public string? Attributes { get; } = attributes;
    internal Action<Tensor> Backward { get; } = backward;
}
