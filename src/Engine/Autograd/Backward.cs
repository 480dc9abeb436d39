using Engine.Autograd;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>Gradient in flight during a backward pass (non-leaves only); cleared once consumed.</summary>
    internal Tensor? PendingGrad { get; set; }

    /// <summary>Whether <see cref="PendingGrad"/> is an array no one else holds, so further gradients may be added into it.</summary>
    internal bool PendingGradOwned { get; set; }

    /// <summary>Keep this non-leaf's gradient in <see cref="Grad"/> after backward, for inspection.</summary>
    public bool RetainGrad { get; set; }

    /// <summary>
    /// Reverse-mode differentiation from this tensor: walks the graph in reverse topological order and
    /// accumulates d(this)/d(leaf) into each leaf's <see cref="Grad"/>. Gradients add up across calls until
    /// zeroed. <paramref name="gradient"/> defaults to 1 for a one-element tensor.
    /// </summary>
    public void Backward(Tensor? gradient = null)
    {
        if (!RequiresGrad)
            throw new InvalidOperationException("Backward: this tensor does not require grad (no input of the graph has RequiresGrad, or it was computed under NoGrad)");
        if (gradient is null && Numel != 1)
            throw new ShapeMismatchException($"Backward: a gradient must be given for a non-scalar output of shape {Shapes.Format(Shape)}");
        if (gradient is not null && !Shapes.SameShape(gradient.Shape, Shape))
            throw new ShapeMismatchException($"Backward: gradient of shape {Shapes.Format(gradient.Shape)} does not match output {Shapes.Format(Shape)}");

        using var _ = GradMode.NoGrad();
        var seed = gradient ?? Ones(Shape, Device);
        if (IsLeaf) { Autograd.Backprop.Accumulate(this, seed); return; }

        var order = Autograd.Backprop.TopologicalOrder(this);
        PendingGrad = seed;
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var t = order[i];
            if (t.IsLeaf) continue;
            var g = t.PendingGrad;
            t.PendingGrad = null;
            t.PendingGradOwned = false;
            if (g is null) continue;
            if (t.RetainGrad) t.Grad = t.Grad is null ? g.Clone() : t.Grad + g;
            OpProfile.Backward(t.Node!, g);                              // g made contiguous, the node's gradient function run
        }
    }
}
