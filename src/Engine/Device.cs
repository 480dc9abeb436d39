using Engine.Gpu;

namespace Engine;

/// <summary>
/// Where a tensor's storage lives. Ops dispatch on it; mixing devices in one op is a <see cref="DeviceMismatchException"/>
/// (a rank-0 CPU tensor, such as the constant of <c>x * 2f</c>, may join an op on any device, as in PyTorch).
/// GPU devices run the ILGPU kernels of <c>Kernels.Gpu</c>: kind <c>cuda</c>, <c>opencl</c>, or <c>cpu-accelerator</c>
/// (ILGPU's CPU accelerator, which runs the same kernel code on the host: slow, for tests on machines without a GPU).
/// </summary>
/// <example><c>var x = Tensor.Zeros([2, 3], Device.Cpu); var g = x.To(Device.Gpu());</c></example>
public sealed record Device(DeviceKind Kind, int Index, string Name)
{
    /// <summary>The host CPU, with the engine's SIMD kernels.</summary>
    public static Device Cpu { get; } = new(DeviceKind.Cpu, 0, "cpu");

    /// <summary>Kind name of ILGPU's CPU accelerator as a device (<c>Device.Gpu("cpu-accelerator")</c>).</summary>
    public const string CpuAcceleratorName = "cpu-accelerator";

    /// <summary>
    /// A GPU device: <c>"auto"</c> (the first CUDA device, else the first usable OpenCL one), <c>"cuda"</c>, <c>"opencl"</c>
    /// or <c>"cpu-accelerator"</c>, optionally with an index (<c>"cuda:1"</c>). The ILGPU CPU accelerator is never picked by
    /// <c>"auto"</c>; it is used only when named. Throws <see cref="DeviceUnavailableException"/> when there is no such device.
    /// </summary>
    public static Device Gpu(string which = "auto") => GpuRuntime.Resolve(which);

    /// <summary>
    /// Parses a device name as the command line and <c>ENGINE_DEVICE</c> take it: <c>cpu</c>, <c>gpu</c> (= auto),
    /// <c>cuda[:i]</c>, <c>opencl[:i]</c>, <c>cpu-accelerator</c>.
    /// </summary>
    public static Device Parse(string name) =>
        name.Trim().ToLowerInvariant() switch
        {
            "cpu" => Cpu,
            "gpu" or "auto" => Gpu(),
            var other => Gpu(other),
        };

    public bool IsGpu => Kind == DeviceKind.Gpu;

    /// <summary>The primitives that run on this device: the one place a device maps to its kernels.</summary>
    public Backends.IBackend Backend => Kind == DeviceKind.Cpu ? Backends.CpuBackend.Instance : GpuRuntime.Get(this).Backend;

    public override string ToString() => Index == 0 ? Name : $"{Name}:{Index}";

    /// <summary>Throws unless every tensor lives on <paramref name="device"/> (rank-0 CPU tensors are accepted anywhere).</summary>
    internal static void Check(string op, Device device, params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
            if (t.Device != device && !IsHostScalar(t))
                throw new DeviceMismatchException(
                    $"{op}: all tensors must be on {device}, but one of shape {Shapes.Format(t.Shape)} is on {t.Device} (move it with To({device}))");
    }

    /// <summary>Throws unless all tensors share one device (rank-0 CPU tensors aside); returns it.</summary>
    internal static Device Common(string op, params ReadOnlySpan<Tensor> tensors)
    {
        var d = tensors[0].Device;
        foreach (var t in tensors)
            if (!IsHostScalar(t)) { d = t.Device; break; }
        Check(op, d, tensors);
        return d;
    }

    /// <summary>A rank-0 CPU tensor: a constant that an op on any device can read by value.</summary>
    internal static bool IsHostScalar(Tensor t) => t.Rank == 0 && t.Device.Kind == DeviceKind.Cpu;
}

public enum DeviceKind { Cpu, Gpu }
