namespace Engine;

/// <summary>Where a tensor's storage lives. Ops dispatch on it; mixing devices in one op is a <see cref="DeviceMismatchException"/>.</summary>
/// <example><c>var x = Tensor.Zeros([2, 3], Device.Cpu);</c></example>
public sealed record Device(DeviceKind Kind, int Index, string Name)
{
    /// <summary>The host CPU, with the engine's SIMD kernels.</summary>
    public static Device Cpu { get; } = new(DeviceKind.Cpu, 0, "cpu");

    public override string ToString() => Index == 0 ? Name : $"{Name}:{Index}";

    /// <summary>Throws unless every tensor lives on <paramref name="device"/>.</summary>
    internal static void Check(string op, Device device, params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
            if (t.Device != device)
                throw new DeviceMismatchException(
                    $"{op}: all tensors must be on {device}, but one of shape {Shapes.Format(t.Shape)} is on {t.Device}");
    }

    /// <summary>Throws unless all tensors share the first one's device; returns it.</summary>
    internal static Device Common(string op, params ReadOnlySpan<Tensor> tensors)
    {
        var d = tensors[0].Device;
        Check(op, d, tensors);
        if (d.Kind != DeviceKind.Cpu)
            throw new DeviceMismatchException($"{op}: no kernel registered for device {d}");
        return d;
    }
}

public enum DeviceKind { Cpu, Gpu }
