using Engine.Gpu;
using ILGPU;
using ILGPU.Runtime;

namespace Engine;

/// <summary>
/// The memory behind one or more tensors. Views (reshape, permute, narrow, expand) share a storage and
/// differ only in shape, strides and offset.
/// <para>
/// A GPU storage owns a pooled device buffer. GPU ops read and write it there; values cross to the host only when
/// asked: <see cref="Tensor.ToArray"/>, <see cref="Tensor.Item"/>, <see cref="Tensor.To"/>, or an op with no GPU kernel
/// touching <see cref="Data"/>. Such host access keeps a host copy and marks which side is newer, so the next GPU op
/// uploads it again if it may have changed; each crossing is counted (<see cref="HostReads"/>, <see cref="HostWrites"/>).
/// A GPU storage is freed by <see cref="Dispose"/>, at the end of a <see cref="DeviceScope"/>, or when collected.
/// </para>
/// </summary>
public sealed class Storage : IDisposable
{
    enum Fresh { Host, Device, Both }

    float[]? host;
    readonly DeviceLease? lease;
    readonly GpuDevice? gpu;
    Fresh fresh;

    /// <summary>A storage holding <paramref name="data"/>: on the CPU the array itself; on a GPU a device copy of it.</summary>
    public Storage(float[] data, Device device)
    {
        ArgumentNullException.ThrowIfNull(data);
        Device = device;
        Length = data.Length;
        if (!device.IsGpu) { host = data; fresh = Fresh.Host; return; }
        gpu = GpuRuntime.Get(device);
        lease = gpu.Pool.Rent(Length);
        if (Length > 0) lease.Buffer.View.SubView(0, Length).CopyFromCPU(gpu.Accelerator.DefaultStream, data);
        fresh = Fresh.Device;
        DeviceScope.Track(this);
    }

    /// <summary>A GPU storage of <paramref name="length"/> floats whose contents are whatever the buffer held (the caller writes them).</summary>
    internal Storage(Device device, int length)
    {
        Device = device;
        Length = length;
        gpu = GpuRuntime.Get(device);
        lease = gpu.Pool.Rent(length);
        fresh = Fresh.Device;
        DeviceScope.Track(this);
    }

    public Device Device { get; }
    public int Length { get; }

    /// <summary>Times a GPU storage was copied to the host for host code (an op without a GPU kernel, or a read), process-wide.</summary>
    public static long HostReads => hostReads;
    /// <summary>Times a GPU storage was copied to the device after host code may have changed it, process-wide.</summary>
    public static long HostWrites => hostWrites;
    static long hostReads, hostWrites;

    /// <summary>
    /// The values in host memory. For a CPU storage, the array itself. For a GPU storage, a host copy brought up to
    /// date (a device-to-host copy, which waits for the kernels before it); as the caller may write to it, the next
    /// GPU use uploads it again.
    /// </summary>
    public float[] Data
    {
        get
        {
            if (gpu is null) return host!;
            SyncToHost();
            fresh = Fresh.Host;
            return host!;
        }
    }

    /// <summary>A copy of the values, read without marking the host copy as changed (no upload follows).</summary>
    internal float[] ReadHost()
    {
        if (gpu is null) return host!;
        SyncToHost();
        return host!;
    }

    void SyncToHost()
    {
        ObjectDisposedException.ThrowIf(lease!.IsDisposed, this);
        host ??= new float[Length];
        if (fresh != Fresh.Device) return;
        Interlocked.Increment(ref hostReads);
        if (Length > 0) lease.Buffer.View.SubView(0, Length).CopyToCPU(gpu!.Accelerator.DefaultStream, host);
        gpu!.Accelerator.DefaultStream.Synchronize();
        fresh = Fresh.Both;
    }

    /// <summary>The device buffer, current, for a kernel to read (and, when <paramref name="write"/>, to change).</summary>
    internal ArrayView<float> View(bool write)
    {
        if (gpu is null) throw new DeviceMismatchException($"storage on {Device} has no device buffer");
        var buffer = lease!.Buffer;
        if (fresh == Fresh.Host)
        {
            Interlocked.Increment(ref hostWrites);
            if (Length > 0) buffer.View.SubView(0, Length).CopyFromCPU(gpu.Accelerator.DefaultStream, host!);
            fresh = Fresh.Both;
        }
        if (write) fresh = Fresh.Device;
        return buffer.View.SubView(0, Math.Max(Length, 0));
    }

    internal GpuDevice Gpu => gpu ?? throw new DeviceMismatchException($"storage on {Device} is not on a GPU");

    /// <summary>Whether the device memory of this storage has been freed.</summary>
    public bool IsDisposed => lease?.IsDisposed ?? false;

    /// <summary>Frees a GPU storage's device buffer back to its pool (a no-op on the CPU). Tensors sharing it can no longer be used.</summary>
    public void Dispose()
    {
        lease?.Dispose();
        host = gpu is null ? host : null;
    }
}

/// <summary>
/// Frees, at its end, every GPU storage created on this thread while it was open, except the tensors passed to
/// <see cref="Keep"/>: a training step's intermediates and gradients go back to the pool at once instead of
/// waiting for the garbage collector. Scopes nest; a kept tensor moves to the enclosing scope.
/// </summary>
/// <example><c>using (var scope = new DeviceScope()) { var loss = Step(model, batch); lossValue = loss.Item(); }</c></example>
public sealed class DeviceScope : IDisposable
{
    [ThreadStatic] static DeviceScope? current;
    readonly DeviceScope? outer;
    readonly List<Storage> created = [];
    readonly HashSet<Storage> kept = new(ReferenceEqualityComparer.Instance);
    bool closed;

    public DeviceScope()
    {
        outer = current;
        current = this;
    }

    internal static void Track(Storage s) => current?.created.Add(s);

    /// <summary>Keeps <paramref name="t"/>'s storage alive past this scope (it joins the enclosing scope, if any). Returns t.</summary>
    public Tensor Keep(Tensor t)
    {
        kept.Add(t.Storage);
        return t;
    }

    public void Dispose()
    {
        if (closed) return;
        closed = true;
        current = outer;
        foreach (var s in created)
        {
            if (kept.Contains(s)) outer?.created.Add(s);
            else s.Dispose();
        }
    }
}
