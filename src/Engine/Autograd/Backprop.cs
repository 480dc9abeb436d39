namespace Engine.Autograd;

/// <summary>
/// The two halves of reverse mode that every op shares: <see cref="Record"/> (forward: remember how a result
/// was made) and <see cref="Accumulate"/> (backward: add a gradient into an input, summing away the axes the
/// input was broadcast over). <see cref="Tensor.Backward"/> walks the recorded graph.
/// </summary>
public static class Backprop
{
    /// <summary>
    /// Attaches <paramref name="backward"/> to <paramref name="result"/> when grad mode is on and an input
    /// requires grad. Returns <paramref name="result"/>.
    /// </summary>
    public static Tensor Record(string op, Tensor result, Tensor[] inputs, Action<Tensor> backward, string? attributes = null)
    {
        OpProfile.Forward(op);
        DeviceScope.OpDone(op, result);
        if (!GradMode.Enabled) return result;
        foreach (var i in inputs)
        {
            if (!i.RequiresGrad) continue;
            result.RequiresGrad = true;
            result.Node = new Node(op, inputs, backward, attributes);
            break;
        }
        return result;
    }

    /// <summary>
    /// Adds <paramref name="g"/> to the gradient of <paramref name="input"/>. <paramref name="g"/> may have the
    /// broadcast shape of the op's output; it is summed back to the input's shape here, once for all ops.
    /// </summary>
    public static void Accumulate(Tensor input, Tensor g) => Accumulate(input, g, fresh: false);

    /// <summary>
    /// <see cref="Accumulate(Tensor, Tensor)"/> for a gradient the op made for this call alone (nobody else holds
    /// <paramref name="g"/>): it becomes the input's gradient without a copy, and later gradients are added into it in place.
    /// </summary>
    public static void AccumulateFresh(Tensor input, Tensor g) => Accumulate(input, g, fresh: true);

    static void Accumulate(Tensor input, Tensor g, bool fresh)
    {
        if (!input.RequiresGrad) return;
        var summed = SumToShape(g, input.Shape);
        fresh |= !ReferenceEquals(summed, g);                                     // a reduction is a new tensor
        g = summed;
        if (input.IsLeaf)
        {
            if (input.Grad is null) input.Grad = fresh && g.IsContiguous ? g : g.Clone();
            else input.Grad.AddInPlace(g);
        }
        else if (input.PendingGrad is null) { input.PendingGrad = g; input.PendingGradOwned = fresh && g.IsContiguous; }
        else if (input.PendingGradOwned) input.PendingGrad.AddInPlace(g);         // the same sum as PendingGrad + g, without a new array
        else { input.PendingGrad = input.PendingGrad + g; input.PendingGradOwned = true; }
    }

    /// <summary>
    /// Adds <paramref name="g"/> into the slice [start, start + g's length) along <paramref name="axis"/> of the
    /// gradient of <paramref name="input"/> (the backward of a narrowing view): in place when that gradient is already
    /// owned, else as a zero tensor with the slice filled in.
    /// </summary>
    public static void AccumulateSlice(Tensor input, int axis, int start, Tensor g)
    {
        if (!input.RequiresGrad) return;
        if (!input.IsLeaf && input.PendingGradOwned && input.PendingGrad is { } pending)
        {
            pending.Backend.AddInto(pending.Slice(axis, start, g.Shape[axis]), g);
            return;
        }
        var full = Tensor.Zeros(input.Shape, g.Device);
        full.Backend.Copy(full.Slice(axis, start, g.Shape[axis]), g);
        AccumulateFresh(input, full);
    }

    /// <summary>Sums <paramref name="g"/> over the axes along which <paramref name="shape"/> was broadcast to produce it.</summary>
    public static Tensor SumToShape(Tensor g, int[] shape)
    {
        if (Shapes.SameShape(g.Shape, shape)) return g;
        int lead = g.Rank - shape.Length;
        if (lead < 0) throw new ShapeMismatchException($"SumToShape: gradient of shape {Shapes.Format(g.Shape)} has lower rank than {Shapes.Format(shape)}");
        var axes = new List<int>();
        for (int i = 0; i < g.Rank; i++)
        {
            if (i < lead) { axes.Add(i); continue; }
            int want = shape[i - lead];
            if (want == 1 && g.Shape[i] != 1) axes.Add(i);
            else if (want != g.Shape[i]) throw new ShapeMismatchException($"SumToShape: gradient of shape {Shapes.Format(g.Shape)} cannot be reduced to {Shapes.Format(shape)}");
        }
        return g.Sum(axes.ToArray(), keepDim: true).Reshape(shape);
    }

    /// <summary>Tensors reachable from <paramref name="root"/> that require grad, inputs before the ops that use them.</summary>
    public static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor t, bool expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (t, expanded) = stack.Pop();
            if (expanded) { order.Add(t); continue; }
            if (!seen.Add(t)) continue;
            stack.Push((t, true));
            if (t.Node is null) continue;
            foreach (var i in t.Node.Inputs)
                if (i.RequiresGrad && !seen.Contains(i)) stack.Push((i, false));
        }
        return order;
    }
}
