using Engine.Gpu;
using ILGPU;
using ILGPU.Runtime;

namespace Engine;

/// <summary>
/// A storage on an ILGPU device: a pooled device buffer. Kernels read and write it there; values cross to the host
/// only when asked (<see cref="Tensor.ToArray"/>, <see cref="Tensor.Item"/>, <see cref="Tensor.To"/>, or <see cref="Data"/>).
/// Host access keeps a host copy and marks which side is newer, so the next kernel uploads it again if it may have
/// changed; each crossing is counted (<see cref="Storage.HostReads"/>, <see cref="Storage.HostWrites"/>). The buffer is freed by
/// <see cref="Dispose"/>, at the end of a <see cref="DeviceScope"/>, or when collected.
/// </summary>
public sealed class DeviceStorage : Storage
{
    enum Fresh { Host, Device, Both }

    float[]? host;
    readonly DeviceLease lease;
    readonly GpuDevice gpu;
    Fresh fresh;

    /// <summary>A device copy of <paramref name="data"/>.</summary>
    internal DeviceStorage(float[] data, Device device) : base(device, data.Length)
    {
        gpu = GpuRuntime.Get(device);
        lease = gpu.Pool.Rent(Length);
        if (Length > 0) lease.Buffer.View.SubView(0, Length).CopyFromCPU(gpu.Accelerator.DefaultStream, data);
        fresh = Fresh.Device;
        DeviceScope.Track(this);
    }

    /// <summary>A device storage of <paramref name="length"/> floats whose contents are whatever the buffer held (the caller writes them).</summary>
    internal DeviceStorage(Device device, int length) : base(device, length)
    {
        gpu = GpuRuntime.Get(device);
        lease = gpu.Pool.Rent(length);
        fresh = Fresh.Device;
        DeviceScope.Track(this);
    }

    public override float[] Data
    {
        get
        {
            SyncToHost();
            fresh = Fresh.Host;
            return host!;
        }
    }

    internal override float[] ReadHost()
    {
        SyncToHost();
        return host!;
    }

    void SyncToHost()
    {
        DeviceScope.NoteUse(this);
        ObjectDisposedException.ThrowIf(lease.IsDisposed, this);
        host ??= new float[Length];
        if (fresh != Fresh.Device) return;
        Interlocked.Increment(ref hostReads);
        if (Length > 0) lease.Buffer.View.SubView(0, Length).CopyToCPU(gpu.Accelerator.DefaultStream, host);
        gpu.Accelerator.DefaultStream.Synchronize();
        fresh = Fresh.Both;
    }

    internal override ArrayView<float> View(bool write)
    {
        DeviceScope.NoteUse(this);
        ObjectDisposedException.ThrowIf(lease.IsDisposed, this);
        var buffer = lease.Buffer;
        if (fresh == Fresh.Host)
        {
            Interlocked.Increment(ref hostWrites);
            if (Length > 0) buffer.View.SubView(0, Length).CopyFromCPU(gpu.Accelerator.DefaultStream, host!);
            fresh = Fresh.Both;
        }
        if (write) fresh = Fresh.Device;
        return buffer.View.SubView(0, Math.Max(Length, 0));
    }

    public override bool IsDisposed => lease.IsDisposed;

    public override void Dispose()
    {
        lease.Dispose();
        host = null;
    }
}
