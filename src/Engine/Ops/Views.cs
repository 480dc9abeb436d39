using Engine.Autograd;

namespace Engine;

// Views share storage with their input: no copy. Their backward maps the gradient back to the input's shape.
public sealed partial class Tensor
{
    /// <summary>This tensor if already contiguous, else a row-major copy (recorded, so gradients pass through).</summary>
    public Tensor Contiguous()
    {
        if (IsContiguous) return this;
        var copy = Uninitialized(Shape, Device);                                   // every element is copied
        Backend.Copy(copy, this);
        return Backprop.Record("Contiguous", copy, [this], g => Backprop.Accumulate(this, g));
    }

    /// <summary>Same elements, new shape (one axis may be -1). A view when contiguous, a copy otherwise.</summary>
    public Tensor Reshape(params int[] shape)
    {
        shape = InferShape("Reshape", shape);
        var src = Contiguous();
        var outT = new Tensor(src.Storage, shape, Shapes.ContiguousStrides(shape), src.Offset);
        var inShape = src.Shape;
        return Backprop.Record("Reshape", outT, [src], g => Backprop.Accumulate(src, g.Reshape(inShape)), Shapes.Format(shape));
    }

    int[] InferShape(string op, int[] shape)
    {
        shape = (int[])shape.Clone();
        int infer = -1, known = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == -1)
            {
                if (infer >= 0) throw new ShapeMismatchException($"{op}: only one axis may be -1, got {Shapes.Format(shape)}");
                infer = i;
            }
            else if (shape[i] < 0) throw new ShapeMismatchException($"{op}: negative size in {Shapes.Format(shape)}");
            else known *= shape[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || Numel % known != 0) throw new ShapeMismatchException($"{op}: cannot infer -1 in {Shapes.Format(shape)} for {Numel} elements of {Shapes.Format(Shape)}");
            shape[infer] = Numel / known;
        }
        if (Shapes.Numel(shape) != Numel)
            throw new ShapeMismatchException($"{op}: cannot view {Shapes.Format(Shape)} ({Numel} elements) as {Shapes.Format(shape)} ({Shapes.Numel(shape)} elements)");
        return shape;
    }

    /// <summary>Flattens axes start..end (inclusive) into one.</summary>
    public Tensor Flatten(int start = 0, int end = -1)
    {
        if (Rank == 0) return Reshape(1);
        start = Shapes.Axis("Flatten", start, Rank); end = Shapes.Axis("Flatten", end, Rank);
        var shape = new List<int>();
        for (int i = 0; i < start; i++) shape.Add(Shape[i]);
        int m = 1;
        for (int i = start; i <= end; i++) m *= Shape[i];
        shape.Add(m);
        for (int i = end + 1; i < Rank; i++) shape.Add(Shape[i]);
        return Reshape(shape.ToArray());
    }

    /// <summary>Reorders axes: result axis i is input axis <paramref name="perm"/>[i].</summary>
    public Tensor Permute(params int[] perm)
    {
        if (perm.Length != Rank) throw new ShapeMismatchException($"Permute: {perm.Length} axes given for a tensor of rank {Rank} ({Shapes.Format(Shape)})");
        var p = perm.Select(a => Shapes.Axis("Permute", a, Rank)).ToArray();
        if (p.Distinct().Count() != Rank) throw new ShapeMismatchException($"Permute: {Shapes.Format(perm)} is not a permutation of {Rank} axes");
        var outT = new Tensor(Storage, p.Select(a => Shape[a]).ToArray(), p.Select(a => Strides[a]).ToArray(), Offset);
        var inverse = new int[Rank];
        for (int i = 0; i < Rank; i++) inverse[p[i]] = i;
        return Backprop.Record("Permute", outT, [this], g => Backprop.Accumulate(this, g.Permute(inverse)), Shapes.Format(p));
    }

    /// <summary>Swaps two axes.</summary>
    public Tensor Transpose(int a, int b)
    {
        var p = Enumerable.Range(0, Rank).ToArray();
        a = Shapes.Axis("Transpose", a, Rank); b = Shapes.Axis("Transpose", b, Rank);
        (p[a], p[b]) = (p[b], p[a]);
        return Permute(p);
    }

    /// <summary>The matrix transpose of the last two axes.</summary>
    public Tensor T => Transpose(-2, -1);

    /// <summary>Elements start..start+length along <paramref name="axis"/> (a view).</summary>
    public Tensor Narrow(int axis, int start, int length)
    {
        axis = Shapes.Axis("Narrow", axis, Rank);
        if (start < 0 || length < 0 || start + length > Shape[axis])
            throw new ShapeMismatchException($"Narrow: range [{start}, {start + length}) is outside axis {axis} of size {Shape[axis]} in {Shapes.Format(Shape)}");
        var outT = Slice(axis, start, length);
        return Backprop.Record("Narrow", outT, [this], g => Backprop.AccumulateSlice(this, axis, start, g), $"axis={axis}, {start}:{start + length}");
    }

    /// <summary>The view of <see cref="Narrow"/> without a graph node, for the ops that write through one.</summary>
    internal Tensor Slice(int axis, int start, int length)
    {
        var shape = (int[])Shape.Clone();
        shape[axis] = length;
        return new Tensor(Storage, shape, Strides, Offset + start * Strides[axis]);
    }

    /// <summary>Broadcasts size-1 axes (and new leading axes) to <paramref name="shape"/> without copying (stride 0).</summary>
    public Tensor Expand(params int[] shape)
    {
        if (shape.Length < Rank) throw new ShapeMismatchException($"Expand: cannot expand {Shapes.Format(Shape)} to fewer axes {Shapes.Format(shape)}");
        int lead = shape.Length - Rank;
        var target = (int[])shape.Clone();
        for (int i = 0; i < Rank; i++)
        {
            if (target[lead + i] == -1) target[lead + i] = Shape[i];
            if (Shape[i] != 1 && Shape[i] != target[lead + i])
                throw new ShapeMismatchException($"Expand: axis {i} of {Shapes.Format(Shape)} has size {Shape[i]}, which cannot expand to {target[lead + i]} in {Shapes.Format(shape)}");
        }
        var outT = new Tensor(Storage, target, Strided.BroadcastStrides(this, target), Offset);
        return Backprop.Record("Expand", outT, [this], g => Backprop.Accumulate(this, g), Shapes.Format(target));
    }

    /// <summary>Inserts a size-1 axis at <paramref name="axis"/>.</summary>
    public Tensor Unsqueeze(int axis)
    {
        axis = Shapes.Axis("Unsqueeze", axis, Rank + 1);
        var s = Shape.ToList(); s.Insert(axis, 1);
        return Reshape(s.ToArray());
    }

    /// <summary>Removes size-1 axis <paramref name="axis"/>, or all size-1 axes when null.</summary>
    public Tensor Squeeze(int? axis = null)
    {
        if (axis is int a)
        {
            a = Shapes.Axis("Squeeze", a, Rank);
            if (Shape[a] != 1) throw new ShapeMismatchException($"Squeeze: axis {a} of {Shapes.Format(Shape)} has size {Shape[a]}, not 1");
            var s = Shape.ToList(); s.RemoveAt(a);
            return Reshape(s.ToArray());
        }
        return Reshape(Shape.Where(d => d != 1).ToArray());
    }

    /// <summary>Splits <paramref name="axis"/> into pieces of the given sizes (views).</summary>
    public Tensor[] Split(int[] sizes, int axis)
    {
        axis = Shapes.Axis("Split", axis, Rank);
        if (sizes.Sum() != Shape[axis]) throw new ShapeMismatchException($"Split: sizes {Shapes.Format(sizes)} do not add up to axis {axis} of size {Shape[axis]}");
        var parts = new Tensor[sizes.Length];
        int start = 0;
        for (int i = 0; i < sizes.Length; i++) { parts[i] = Narrow(axis, start, sizes[i]); start += sizes[i]; }
        return parts;
    }

    /// <summary>Splits <paramref name="axis"/> into <paramref name="chunks"/> equal pieces.</summary>
    public Tensor[] Chunk(int chunks, int axis)
    {
        int ax = Shapes.Axis("Chunk", axis, Rank);
        if (chunks <= 0 || Shape[ax] % chunks != 0) throw new ShapeMismatchException($"Chunk: axis {ax} of size {Shape[ax]} does not split into {chunks} equal chunks");
        return Split(Enumerable.Repeat(Shape[ax] / chunks, chunks).ToArray(), ax);
    }

    /// <summary>Joins tensors along <paramref name="axis"/>; all other axes must match.</summary>
    public static Tensor Cat(Tensor[] tensors, int axis)
    {
        if (tensors.Length == 0) throw new ShapeMismatchException("Cat: no tensors given");
        var first = tensors[0];
        Device.Common("Cat", tensors);
        axis = Shapes.Axis("Cat", axis, first.Rank);
        foreach (var t in tensors)
        {
            bool ok = t.Rank == first.Rank;
            for (int i = 0; ok && i < t.Rank; i++) ok = i == axis || t.Shape[i] == first.Shape[i];
            if (!ok) throw new ShapeMismatchException($"Cat: shape {Shapes.Format(t.Shape)} does not match {Shapes.Format(first.Shape)} outside axis {axis}");
        }
        var shape = (int[])first.Shape.Clone();
        shape[axis] = tensors.Sum(t => t.Shape[axis]);
        var outT = Uninitialized(shape, Device.Common("Cat", tensors));                // the parts cover every element
        int start = 0;
        foreach (var t in tensors) { outT.Slice(axis, start, t.Shape[axis]).AssignStrided(t); start += t.Shape[axis]; }
        return Backprop.Record("Cat", outT, tensors, g =>
        {
            int s = 0;
            foreach (var t in tensors) { Backprop.Accumulate(t, g.Narrow(axis, s, t.Shape[axis]).Contiguous()); s += t.Shape[axis]; }
        }, $"axis={axis}");
    }

    /// <summary>Stacks equal-shaped tensors along a new axis.</summary>
    public static Tensor Stack(Tensor[] tensors, int axis = 0) => Cat(tensors.Select(t => t.Unsqueeze(axis)).ToArray(), axis);

    /// <summary>Writes <paramref name="src"/> (broadcast to this view's shape) into this possibly strided view. Not recorded.</summary>
    internal void AssignStrided(Tensor src)
    {
        Shapes.Broadcast("Assign", Shape, src.Shape);
        Device.Check("Assign", Device, src);
        Backend.Copy(this, src);
    }
}
