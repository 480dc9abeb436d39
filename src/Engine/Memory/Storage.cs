using ILGPU;

namespace Engine;

/// <summary>
/// The memory behind one or more tensors. Views (reshape, permute, narrow, expand) share a storage and differ only in
/// shape, strides and offset. A storage knows its device, and through it the backend that computes on it
/// (<see cref="Device.Backend"/>). Two kinds: <see cref="HostStorage"/> (a float array in host memory) and
/// <see cref="DeviceStorage"/> (a pooled buffer on an ILGPU device). Backends make them
/// (<see cref="Backends.IBackend.Allocate"/>, <see cref="Backends.IBackend.FromHost"/>).
/// </summary>
public abstract class Storage : IDisposable
{
    private protected Storage(Device device, int length)
    {
        Device = device;
        Length = length;
    }

    /// <summary>A storage on <paramref name="device"/> holding <paramref name="data"/>: on the CPU the array itself, elsewhere a device copy.</summary>
    public static Storage Create(float[] data, Device device)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(device);
        return device.Backend.FromHost(data);
    }

    public Device Device { get; }
    public int Length { get; }

    /// <summary>The planned scope that made this storage, and its place in that scope's creation order (see <see cref="MemoryPlan"/>).</summary>
    internal DeviceScope? Scope;
    internal int Ordinal;

    /// <summary>Times a device storage was copied to the host (a read: <see cref="Tensor.ToArray"/>, <see cref="Tensor.Item"/>, <see cref="Data"/>), process-wide.</summary>
    public static long HostReads => Interlocked.Read(ref hostReads);

    /// <summary>Times a device storage was copied to the device again after host code changed it through <see cref="Data"/>, process-wide.</summary>
    public static long HostWrites => Interlocked.Read(ref hostWrites);

    private protected static long hostReads, hostWrites;

    /// <summary>Counts a device-to-host read that is not a storage's (a scalar a backend reads back, such as a gradient norm).</summary>
    internal static void CountHostRead() => Interlocked.Increment(ref hostReads);

    /// <summary>
    /// The values in host memory. For a host storage, the array itself. For a device storage, a host copy brought up to
    /// date (a device-to-host copy, which waits for the kernels before it); as the caller may write to it, the next
    /// device use uploads it again. Both crossings are counted (<see cref="HostReads"/>, <see cref="HostWrites"/>).
    /// </summary>
    public abstract float[] Data { get; }

    /// <summary>The values in host memory for reading, without marking them changed (no upload follows).</summary>
    internal abstract float[] ReadHost();

    /// <summary>The device buffer, current, for a kernel to read (and, when <paramref name="write"/>, to change).</summary>
    internal abstract ArrayView<float> View(bool write);

    /// <summary>Whether the memory of this storage has been freed (a device buffer, or a pooled host array handed back).</summary>
    public abstract bool IsDisposed { get; }

    /// <summary>
    /// Frees a device buffer back to its pool, and hands a pooled host array back to <see cref="HostPool"/> (a no-op for
    /// other host storages). Tensors sharing it can no longer be used.
    /// </summary>
    public abstract void Dispose();

    private protected static ObjectDisposedException Released() =>
        new("Storage", "the tensor's memory went back to the pool (its DeviceScope ended, or the scope's MemoryPlan had seen its last use); Keep it in the scope to use it afterwards");
}
