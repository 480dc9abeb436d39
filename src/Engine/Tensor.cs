using System.Text;
using Engine.Autograd;
using Engine.Random;

namespace Engine;

/// <summary>
/// A float32 tensor of any rank: a <see cref="Storage"/> seen through a shape, strides and an offset.
/// Ops live in the files under <c>Ops/</c> (each is a partial of this class or of <see cref="Ops"/>), each
/// with its forward and backward side by side.
/// </summary>
/// <example><c>var y = (Tensor.Randn([2, 3], new Generator(0)) * 2f).Sum();</c></example>
public sealed partial class Tensor : IDisposable
{
    public Storage Storage { get; private set; }
    public int[] Shape { get; }
    public int[] Strides { get; }
    public int Offset { get; private set; }

    /// <summary>Whether gradients flow to this tensor. Set it on leaves (parameters, inputs you differentiate).</summary>
    public bool RequiresGrad { get; set; }

    /// <summary>The accumulated gradient of a leaf after <see cref="Backward"/>; null until then.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>The op that produced this tensor, or null for a leaf. The autograd graph, open for inspection.</summary>
    public Node? Node { get; internal set; }

    /// <summary>An optional label shown in graph dumps (parameters get their hierarchical name).</summary>
    public string? Name { get; set; }

    internal Tensor(Storage storage, int[] shape, int[] strides, int offset)
    {
        Storage = storage; Shape = shape; Strides = strides; Offset = offset;
    }

    internal Tensor(float[] data, int[] shape, Device? device = null)
        : this(Storage.Create(data, device ?? Device.Cpu), shape, Shapes.ContiguousStrides(shape), 0)
    {
        if (data.Length != Shapes.Numel(shape))
            throw new ShapeMismatchException($"Tensor: {data.Length} values do not fill shape {Shapes.Format(shape)}");
    }

    public Device Device => Storage.Device;
    public int Rank => Shape.Length;
    public int Numel => Shapes.Numel(Shape);
    public bool IsLeaf => Node is null;

    /// <summary>Size of axis <paramref name="axis"/> (negative counts from the end).</summary>
    public int Size(int axis) => Shape[Shapes.Axis("Size", axis, Rank)];

    /// <summary>True when the elements lie in row-major order with no gaps starting at <see cref="Offset"/>.</summary>
    public bool IsContiguous
    {
        get
        {
            int expected = 1;
            for (int i = Rank - 1; i >= 0; i--)
            {
                if (Shape[i] != 1 && Strides[i] != expected) return false;
                expected *= Shape[i];
            }
            return true;
        }
    }

    /// <summary>
    /// The elements of a contiguous CPU tensor, in row-major order, in place. Call <see cref="Contiguous"/> first otherwise.
    /// A tensor on another device has no host memory to show: read it with <see cref="ToArray"/> (a copy) instead.
    /// </summary>
    public Span<float> Span
    {
        get
        {
            if (!IsContiguous) throw new InvalidOperationException($"Span: tensor of shape {Shapes.Format(Shape)} is not contiguous; call Contiguous() first");
            if (Device.Kind != DeviceKind.Cpu) throw new Backends.NotSupportedOnDeviceException("Span (host memory; read the values with ToArray)", Device);
            return Storage.Data.AsSpan(Offset, Numel);
        }
    }

    /// <summary>The backend that runs this tensor's ops (its device's).</summary>
    internal Backends.IBackend Backend => Storage.Device.Backend;

    // ---------------------------------------------------------------- creation

    public static Tensor FromArray(float[] data, params int[] shape) => new((float[])data.Clone(), (int[])shape.Clone());

    /// <summary>Wraps <paramref name="data"/> without copying; the tensor and the array then share memory.</summary>
    public static Tensor Wrap(float[] data, params int[] shape) => new(data, (int[])shape.Clone());

    public static Tensor Scalar(float value) => new([value], []);
    public static Tensor Zeros(int[] shape, Device? device = null) => Full(shape, 0f, device);
    public static Tensor Ones(int[] shape, Device? device = null) => Full(shape, 1f, device);

    public static Tensor Full(int[] shape, float value, Device? device = null)
    {
        device ??= Device.Cpu;
        var t = new Tensor(device.Backend.Allocate(Shapes.Numel(shape), zeroed: value == 0f), (int[])shape.Clone(), Shapes.ContiguousStrides(shape), 0);
        if (value != 0f) device.Backend.Fill(t, value);
        return t;
    }

    /// <summary>
    /// A contiguous tensor for an op that writes every element before anyone reads it: a recycled array keeps its old
    /// values (no clearing pass), device memory is uninitialised.
    /// </summary>
    internal static Tensor Uninitialized(int[] shape, Device device) =>
        new(device.Backend.Allocate(Shapes.Numel(shape), zeroed: false), (int[])shape.Clone(), Shapes.ContiguousStrides(shape), 0);


    public static Tensor ZerosLike(Tensor t) => Zeros(t.Shape, t.Device);
    public static Tensor OnesLike(Tensor t) => Ones(t.Shape, t.Device);

    /// <summary>0, step, 2·step, … below <paramref name="end"/>, starting at <paramref name="start"/>.</summary>
    public static Tensor Arange(float start, float end, float step = 1f)
    {
        if (step == 0 || (end - start) / step < 0) throw new ArgumentException($"Arange: cannot go from {start} to {end} in steps of {step}");
        int n = (int)Math.Ceiling((end - start) / step);
        var d = new float[n];
        for (int i = 0; i < n; i++) d[i] = start + i * step;
        return new(d, [n]);
    }

    public static Tensor Arange(int n) => Arange(0, n);

    /// <summary>Standard normal samples from a seeded <see cref="Generator"/>.</summary>
    public static Tensor Randn(int[] shape, Generator g, float mean = 0f, float std = 1f, Device? device = null)
    {
        var t = Uninitialized(shape, device ?? Device.Cpu);
        t.Backend.FillRandom(t, g, normal: true, mean, std);
        return t;
    }

    /// <summary>Uniform samples in [low, high) from a seeded <see cref="Generator"/>.</summary>
    public static Tensor Rand(int[] shape, Generator g, float low = 0f, float high = 1f, Device? device = null)
    {
        var t = Uninitialized(shape, device ?? Device.Cpu);
        t.Backend.FillRandom(t, g, normal: false, low, high);
        return t;
    }

    // ---------------------------------------------------------------- reading values

    /// <summary>A copy of the elements in row-major order (from a GPU: a device-to-host copy, which waits for the GPU).</summary>
    public float[] ToArray()
    {
        var c = Contiguous();
        return c.Storage.ReadHost().AsSpan(c.Offset, c.Numel).ToArray();
    }

    /// <summary>The single value of a one-element tensor.</summary>
    public float Item()
    {
        if (Numel != 1) throw new ShapeMismatchException($"Item: tensor of shape {Shapes.Format(Shape)} has {Numel} elements, not 1");
        return Storage.ReadHost()[Offset];
    }

    /// <summary>Element at a multi-index (slow; for tests and inspection).</summary>
    [System.Runtime.CompilerServices.IndexerName("At")]
    public float this[params int[] index]
    {
        get => Storage.ReadHost()[FlatIndex(index)];
        set => Storage.Data[FlatIndex(index)] = value;
    }

    int FlatIndex(int[] index)
    {
        if (index.Length != Rank) throw new ShapeMismatchException($"indexer: {index.Length} indices for a tensor of rank {Rank}");
        int o = Offset;
        for (int i = 0; i < Rank; i++)
        {
            if ((uint)index[i] >= (uint)Shape[i]) throw new IndexOutOfRangeException($"indexer: index {index[i]} out of range for axis {i} of size {Shape[i]}");
            o += index[i] * Strides[i];
        }
        return o;
    }

    /// <summary>A new leaf sharing this tensor's storage but cut off from the graph.</summary>
    public Tensor Detach() => new(Storage, Shape, Strides, Offset) { Name = Name };

    /// <summary>A deep copy of the values (a leaf, no graph), on the same device.</summary>
    public Tensor Clone()
    {
        var y = Uninitialized(Shape, Device);
        Backend.Copy(y, this);
        return y;
    }

    /// <summary>Copies the values of <paramref name="src"/> into this tensor in place (shapes must match). Not recorded in the graph.</summary>
    public void CopyFrom(Tensor src)
    {
        if (!Shapes.SameShape(Shape, src.Shape))
            throw new ShapeMismatchException($"CopyFrom: source shape {Shapes.Format(src.Shape)} differs from destination {Shapes.Format(Shape)}");
        using var _ = GradMode.NoGrad();
        Backend.Copy(this, src.Device == Device || Device.IsHostScalar(src) ? src : src.Detach().To(Device));
    }

    /// <summary>Sets this leaf and its gradient flag; returns this, for chaining at creation.</summary>
    public Tensor RequireGrad(bool on = true) { RequiresGrad = on; return this; }

    /// <summary>Clears the accumulated gradient.</summary>
    public void ZeroGrad() => Grad = null;

    /// <summary>True when every element is finite.</summary>
    public bool AllFinite()
    {
        using var _ = GradMode.NoGrad();
        return Backend.CountNonFinite(Detach().Contiguous()) == 0;
    }

    // ---------------------------------------------------------------- devices

    /// <summary>
    /// This tensor on <paramref name="device"/>: itself when already there, else a copy (host↔device). Recorded, so
    /// the gradient flows back to the original device.
    /// </summary>
    /// <example><c>var xg = x.To(Device.Gpu()); var back = xg.To(Device.Cpu);</c></example>
    public Tensor To(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device == Device) return this;
        var values = ToArray();
        var y = new Tensor(device.Backend.FromHost(values), (int[])Shape.Clone(), Shapes.ContiguousStrides(Shape), 0);
        var from = Device;
        return Backprop.Record("To", y, [this], g => Backprop.Accumulate(this, g.To(from)), device.ToString());
    }

    /// <summary>Moves this leaf's values (and gradient) to <paramref name="device"/> in place, keeping its identity (for parameters: <see cref="Nn.Module.To"/>).</summary>
    internal void MoveTo(Device device)
    {
        if (device == Device) return;
        if (!IsLeaf) throw new InvalidOperationException($"MoveTo: only leaf tensors move in place; this one was made by {Node!.Op}");
        var old = Storage;
        var values = ToArray();
        Storage = device.Backend.FromHost(values);
        Strides.AsSpan().Clear();
        Shapes.ContiguousStrides(Shape).CopyTo(Strides, 0);
        Offset = 0;
        if (Grad is not null) Grad = Grad.To(device).Detach();
        old.Dispose();
    }

    /// <summary>Frees this tensor's device memory now (GPU; a no-op on the CPU). Views of the same storage become unusable too.</summary>
    public void Dispose() => Storage.Dispose();

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("Tensor").Append(Shapes.Format(Shape));
        if (Node is not null) sb.Append(" grad_fn=").Append(Node.Op);
        var v = ToArray();
        sb.Append(" [");
        for (int i = 0; i < Math.Min(v.Length, 8); i++) sb.Append(i > 0 ? ", " : "").Append(v[i].ToString("G5"));
        if (v.Length > 8) sb.Append(", …");
        return sb.Append(']').ToString();
    }
}
