using System.Runtime.CompilerServices;
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
/// <para>
/// A CPU storage is a float array. Made inside a <see cref="DeviceScope"/> (by <see cref="Host"/>), a large one comes
/// from <see cref="HostPool"/> and goes back there when the scope ends, so a training step reuses the last step's
/// arrays instead of asking the garbage collector (and the kernel's page faults) for fresh ones.
/// </para>
/// </summary>
public sealed class Storage : IDisposable
{
    enum Fresh { Host, Device, Both }

    float[]? host;
    readonly DeviceLease? lease;
    readonly GpuDevice? gpu;
    readonly bool pooled;
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

    /// <summary>
    /// A CPU storage of <paramref name="length"/> floats, zeroed unless the caller will write every element
    /// (<paramref name="zeroed"/> false): inside a <see cref="DeviceScope"/>, a large one is an array recycled through
    /// <see cref="HostPool"/> and handed back when the scope ends; otherwise a fresh array.
    /// </summary>
    internal static Storage Host(int length, bool zeroed = true)
    {
        if (!DeviceScope.IsOpen || length < HostPool.MinLength)
            return new Storage(zeroed ? new float[length] : GC.AllocateUninitializedArray<float>(length), Device.Cpu);
        var s = new Storage(HostPool.Rent(length, zeroed));
        DeviceScope.Track(s);
        return s;
    }

    Storage(float[] pooledArray)
    {
        Device = Device.Cpu;
        Length = pooledArray.Length;
        host = pooledArray;
        fresh = Fresh.Host;
        pooled = true;
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
            if (gpu is null) return host ?? throw Released();
            SyncToHost();
            fresh = Fresh.Host;
            return host!;
        }
    }

    /// <summary>A copy of the values, read without marking the host copy as changed (no upload follows).</summary>
    internal float[] ReadHost()
    {
        if (gpu is null) return host ?? throw Released();
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

    /// <summary>Whether the memory of this storage has been freed (a GPU buffer, or a pooled CPU array handed back).</summary>
    public bool IsDisposed => lease?.IsDisposed ?? (pooled && host is null);

    static ObjectDisposedException Released() =>
        new("Storage", "the tensor's memory went back to the pool at the end of its DeviceScope; Keep it in the scope to use it afterwards");

    /// <summary>
    /// Frees a GPU storage's device buffer back to its pool, and hands a pooled CPU array back to <see cref="HostPool"/>
    /// (a no-op for other CPU storages). Tensors sharing it can no longer be used.
    /// </summary>
    public void Dispose()
    {
        lease?.Dispose();
        if (pooled && host is not null) HostPool.Return(host);
        host = gpu is null && !pooled ? host : null;
    }
}

/// <summary>
/// Frees, at its end, every GPU storage created on this thread while it was open, and hands every large CPU array
/// made in it back to <see cref="HostPool"/>, except the tensors passed to <see cref="Keep"/>: a training step's
/// intermediates and gradients go back to the pool at once instead of waiting for the garbage collector, and the
/// next step reuses them. Scopes nest; a kept tensor moves to the enclosing scope. A tensor made in a scope and used
/// after it without <see cref="Keep"/> throws <see cref="ObjectDisposedException"/> — never stale values.
/// Anything that must outlive the step (optimizer state, caches) is made outside the scope or under <see cref="Suspend"/>.
/// The scope holds its storages weakly: a temporary that dies halfway through the step is the garbage collector's to
/// reclaim at once, so the scope never keeps more memory alive than the step itself does.
/// </summary>
/// <example><c>using (var scope = new DeviceScope()) { var loss = Step(model, batch); lossValue = loss.Item(); }</c></example>
public sealed class DeviceScope : IDisposable
{
    [ThreadStatic] static DeviceScope? current;
    readonly DeviceScope? outer;
    readonly List<WeakReference<Storage>> created = [];
    readonly HashSet<Storage> kept = new(ReferenceEqualityComparer.Instance);
    bool closed;

    public DeviceScope()
    {
        outer = current;
        current = this;
    }

    internal static void Track(Storage s) => current?.created.Add(new WeakReference<Storage>(s));

    /// <summary>Whether a scope is open on this thread.</summary>
    public static bool IsOpen => current is not null;

    /// <summary>Until disposed, tensors made on this thread belong to no scope (for state created lazily inside a step).</summary>
    public static IDisposable Suspend() => new Suspension();

    sealed class Suspension : IDisposable
    {
        readonly DeviceScope? saved = current;
        bool done;
        public Suspension() => current = null;
        public void Dispose()
        {
            if (done) return;
            done = true;
            current = saved;
        }
    }

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
        foreach (var weak in created)
        {
            if (!weak.TryGetTarget(out var s)) continue;                          // already collected: nothing holds it
            if (kept.Contains(s)) outer?.created.Add(weak);
            else s.Dispose();
        }
    }
}

/// <summary>
/// Recycled CPU arrays for <see cref="DeviceScope"/>, kept by exact length (a training or sampling loop asks for the
/// same shapes every step). Arrays below <see cref="MinLength"/> floats are not pooled. The pool holds at most
/// <see cref="CapacityBytes"/>; when full, it lets go of the lengths asked for least recently (a sampler after a
/// training loop needs other shapes).
/// <para>
/// An array comes back in one of two ways. A storage still alive when its scope ends hands its array back then. A
/// temporary that dies halfway through the step (most of a no-grad forward pass, a gradient once added) is found by
/// the garbage collector: each rented array carries a sentinel, held only through the array (a
/// <see cref="ConditionalWeakTable{TKey,TValue}"/> entry), whose finalizer puts the array back. The sentinel is
/// finalized only once nothing at all can reach the array — no tensor, no storage, no local of a running kernel — so
/// a recycled array is never still in use. As the large-object heap is collected rarely, a rent that finds its free
/// list empty after <see cref="CollectAfterBytes"/> of fresh arrays runs a full collection first.
/// </para>
/// </summary>
public static class HostPool
{
    /// <summary>Arrays shorter than this (64 KiB) come from the garbage collector's small-object heap, which is cheap.</summary>
    public const int MinLength = 16 * 1024;

    /// <summary>Fresh bytes handed out after which an empty free list runs a full collection first (to find the dead temporaries); doubled, up to 64×, while collections find nothing.</summary>
    public const long CollectAfterBytes = 16L << 20;

    sealed class Bucket
    {
        public readonly Stack<float[]> Arrays = new();
        public long LastRent;
    }

    static readonly Dictionary<int, Bucket> free = [];
    static readonly ConditionalWeakTable<float[], Sentinel> sentinels = new();
    static long bytes, rents, hits, misses, missBytes, collected, freshSinceCollection, inducedCollections;
    static long collectAfter = CollectAfterBytes;
    static int generation;

    /// <summary>The most the pool keeps: a quarter of the memory available to the process, at most 8 GiB.</summary>
    public static long CapacityBytes { get; } = Math.Min(8L << 30, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4);

    /// <summary>Bytes held for reuse now.</summary>
    public static long PooledBytes { get { lock (free) return bytes; } }

    /// <summary>Rents served from the pool, process-wide.</summary>
    public static long Hits => Interlocked.Read(ref hits);
    /// <summary>Rents that had to ask the garbage collector for a fresh array, process-wide, and the bytes they asked for.</summary>
    public static long Misses => Interlocked.Read(ref misses);
    /// <inheritdoc cref="Misses"/>
    public static long MissBytes => Interlocked.Read(ref missBytes);
    /// <summary>Arrays handed back by their sentinel (found unreachable by the garbage collector), process-wide.</summary>
    public static long Collected => Interlocked.Read(ref collected);
    /// <summary>Full collections the pool ran because a free list was empty, process-wide.</summary>
    public static long InducedCollections => Interlocked.Read(ref inducedCollections);

    /// <summary>
    /// An array of exactly <paramref name="length"/> floats, recycled when one is free; it comes back when unreachable.
    /// Zeroed, unless <paramref name="zeroed"/> is false: then a recycled array still holds its last values, for a
    /// caller that overwrites every element.
    /// </summary>
    public static float[] Rent(int length, bool zeroed = true)
    {
        var a = TakeFree(length);
        if (a is null && Interlocked.Read(ref freshSinceCollection) >= Volatile.Read(ref collectAfter))
        {
            // The free list ran dry while the step's dead temporaries wait for the next full collection: run it now, so
            // their sentinels hand them back, rather than growing the heap. A collection that finds nothing (a step that
            // really holds that much) doubles the distance to the next one, so a large working set is not collected over and over.
            Interlocked.Exchange(ref freshSinceCollection, 0);
            Interlocked.Increment(ref inducedCollections);
            long before = Collected;
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
            GC.WaitForPendingFinalizers();
            Volatile.Write(ref collectAfter, Collected > before ? CollectAfterBytes : Math.Min(2 * collectAfter, 64 * CollectAfterBytes));
            a = TakeFree(length);
        }
        if (a is null)
        {
            long size = (long)length * sizeof(float);
            Interlocked.Increment(ref misses);
            Interlocked.Add(ref missBytes, size);
            Interlocked.Add(ref freshSinceCollection, size);
            a = new float[length];
        }
        else
        {
            Interlocked.Increment(ref hits);
            if (zeroed) Array.Clear(a);
        }
        // A fresh sentinel for each rent: the last one may have been finalized already (a finalizer runs once).
        var sentinel = new Sentinel(a, Volatile.Read(ref generation));
        lock (sentinels)
        {
            if (sentinels.TryGetValue(a, out var old)) old.Disarm();
            sentinels.AddOrUpdate(a, sentinel);
        }
        return a;
    }

    static float[]? TakeFree(int length)
    {
        lock (free)
        {
            if (!free.TryGetValue(length, out var bucket)) free[length] = bucket = new Bucket();
            bucket.LastRent = ++rents;
            if (bucket.Arrays.Count == 0) return null;
            bytes -= (long)length * sizeof(float);
            return bucket.Arrays.Pop();
        }
    }

    /// <summary>
    /// Keeps <paramref name="array"/> for a later <see cref="Rent"/> of its length. A full pool first lets go of arrays of
    /// the lengths rented least recently; if it still has no room, the array is left to the garbage collector.
    /// </summary>
    public static void Return(float[] array)
    {
        long size = (long)array.Length * sizeof(float);
        lock (free)
        {
            if (!free.TryGetValue(array.Length, out var bucket)) free[array.Length] = bucket = new Bucket();
            while (bytes + size > CapacityBytes)
            {
                Bucket? stalest = null;
                foreach (var b in free.Values)
                    if (b != bucket && b.Arrays.Count > 0 && b.LastRent < bucket.LastRent && (stalest is null || b.LastRent < stalest.LastRent))
                        stalest = b;
                if (stalest is null) return;
                var dropped = stalest.Arrays.Pop();
                bytes -= (long)dropped.Length * sizeof(float);
            }
            bucket.Arrays.Push(array);
            bytes += size;
        }
    }

    /// <summary>Lets every pooled array go to the garbage collector (arrays rented before are not taken back either).</summary>
    public static void Clear()
    {
        lock (free) { free.Clear(); bytes = 0; generation++; }
    }

    /// <summary>Reachable only through its array: finalized once the array is unreachable, which it then hands back.</summary>
    sealed class Sentinel(float[] array, int generation)
    {
        bool disarmed;

        /// <summary>The array was rented again and has a new sentinel: this one must not hand it back.</summary>
        public void Disarm() => Volatile.Write(ref disarmed, true);

        ~Sentinel()
        {
            if (Volatile.Read(ref disarmed) || generation != Volatile.Read(ref HostPool.generation)) return;
            Interlocked.Increment(ref collected);
            Return(array);
        }
    }
}
