using ILGPU;

namespace Engine;

/// <summary>
/// A storage in host memory: a float array. Made inside a <see cref="DeviceScope"/> (by <see cref="Rent"/>), a large
/// one comes from <see cref="HostPool"/> and goes back there when the scope ends, so a training step reuses the last
/// step's arrays instead of asking the garbage collector (and the kernel's page faults) for fresh ones.
/// </summary>
public sealed class HostStorage : Storage
{
    float[]? host;
    readonly bool pooled;

    /// <summary>A host storage holding <paramref name="data"/> itself (no copy).</summary>
    public HostStorage(float[] data) : base(Device.Cpu, data.Length) => host = data;

    HostStorage(float[] pooledArray, bool pooled) : base(Device.Cpu, pooledArray.Length)
    {
        host = pooledArray;
        this.pooled = pooled;
    }

    /// <summary>
    /// A host storage of <paramref name="length"/> floats, zeroed unless the caller will write every element
    /// (<paramref name="zeroed"/> false): inside a <see cref="DeviceScope"/>, a large one is an array recycled through
    /// <see cref="HostPool"/> and handed back when the scope ends; otherwise a fresh array.
    /// </summary>
    internal static HostStorage Rent(int length, bool zeroed = true)
    {
        if (!DeviceScope.IsOpen || length < HostPool.MinLength)
            return new HostStorage(zeroed ? new float[length] : GC.AllocateUninitializedArray<float>(length));
        var s = new HostStorage(HostPool.Rent(length, zeroed), pooled: true);
        DeviceScope.Track(s);
        return s;
    }

    public override float[] Data
    {
        get
        {
            DeviceScope.NoteUse(this);
            return host ?? throw Released();
        }
    }

    internal override float[] ReadHost()
    {
        DeviceScope.NoteUse(this);
        return host ?? throw Released();
    }

    internal override ArrayView<float> View(bool write) => throw new DeviceMismatchException($"storage on {Device} has no device buffer");

    public override bool IsDisposed => pooled && host is null;

    public override void Dispose()
    {
        if (!pooled || host is null) return;
        HostPool.Return(host);
        host = null;
    }
}
