using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Gpu;

/// <summary>
/// Device memory of one GPU, pooled: a freed buffer goes back to a free list by size and is handed out again, so a
/// training loop that allocates the same shapes every step stops allocating after its first step. Buffers are
/// returned by <see cref="Storage.Dispose"/> (deterministic) or, for storages that are simply dropped, by the
/// garbage collector through <see cref="DeviceLease"/>'s finalizer (queued, taken back on the next rent). As the
/// collector does not see device memory, a rent that finds its free list empty after <see cref="CollectAfterBytes"/>
/// of fresh allocations runs a full collection first, so the intermediates a step dropped come back before the device
/// grows (doubling the distance, up to 64×, while collections find nothing). When an allocation fails the pool frees what it caches, collects garbage, and tries once more before throwing
/// <see cref="DeviceOutOfMemoryException"/> with the size asked for.
/// </summary>
internal sealed class BufferPool(Device device, Accelerator accelerator)
{
    /// <summary>Sizes are rounded up to whole 4 KiB, so nearby lengths share a free list.</summary>
    const long Granule = 1024;

    /// <summary>Fresh device bytes after which a rent with an empty free list collects garbage first.</summary>
    public const long CollectAfterBytes = 64L << 20;

    long freshSinceCollection, collectAfter = CollectAfterBytes;

    readonly Dictionary<long, Stack<MemoryBuffer1D<float, Stride1D.Dense>>> free = [];
    readonly ConcurrentQueue<MemoryBuffer1D<float, Stride1D.Dense>> finalized = new();
    readonly HashSet<MemoryBuffer1D<float, Stride1D.Dense>> live = new(ReferenceEqualityComparer.Instance);

    /// <summary>Bytes held by buffers in use.</summary>
    public long BytesInUse { get; private set; }
    /// <summary>Bytes held by free buffers waiting to be reused.</summary>
    public long BytesCached { get; private set; }
    /// <summary>Buffers the device allocated (as opposed to reused).</summary>
    public long Allocations { get; private set; }
    /// <summary>Rents served from the free lists.</summary>
    public long Reuses { get; private set; }

    /// <summary>A buffer of at least <paramref name="length"/> floats (contents undefined), with the lease that gives it back.</summary>
    public DeviceLease Rent(int length)
    {
        lock (free)
        {
            DrainFinalized();
            long size = Math.Max(Granule, (length + Granule - 1) / Granule * Granule);
            MemoryBuffer1D<float, Stride1D.Dense> buffer;
            if ((!free.TryGetValue(size, out var stack) || stack.Count == 0) && freshSinceCollection >= collectAfter)
            {
                // Dropped storages wait for their leases' finalizers: run them now rather than growing the device's memory.
                freshSinceCollection = 0;
                GC.Collect();
                GC.WaitForPendingFinalizers();
                DrainFinalized();
                bool found = free.TryGetValue(size, out stack) && stack.Count > 0;
                collectAfter = found ? CollectAfterBytes : Math.Min(2 * collectAfter, 64 * CollectAfterBytes);
            }
            if (stack is not null && stack.Count > 0)
            {
                buffer = stack.Pop();
                BytesCached -= size * sizeof(float);
                Reuses++;
            }
            else
            {
                buffer = Allocate(size);
                freshSinceCollection += size * sizeof(float);
            }
            live.Add(buffer);
            BytesInUse += size * sizeof(float);
            return new DeviceLease(this, buffer);
        }
    }

    MemoryBuffer1D<float, Stride1D.Dense> Allocate(long size)
    {
        try { Allocations++; return accelerator.Allocate1D<float>(size); }
        catch (Exception first) when (first is AcceleratorException or OutOfMemoryException or InvalidOperationException)
        {
            // Free what the pool caches and what the collector can give back, then try once more.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            DrainFinalized();
            ReleaseCached();
            try { return accelerator.Allocate1D<float>(size); }
            catch (Exception e) when (e is AcceleratorException or OutOfMemoryException or InvalidOperationException)
            {
                throw new DeviceOutOfMemoryException(
                    $"{device}: out of memory allocating {size * sizeof(float):N0} bytes ({size:N0} floats); {BytesInUse:N0} bytes are in use by live tensors. " +
                    "Free tensors you no longer need (Dispose, or a DeviceScope) or use a smaller batch", e)
                { RequestedBytes = size * sizeof(float) };
            }
        }
    }

    /// <summary>Puts a buffer back on its free list (from <see cref="DeviceLease.Dispose"/>).</summary>
    public void Return(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        lock (free)
        {
            if (!live.Remove(buffer)) return;
            long size = buffer.Length;
            BytesInUse -= size * sizeof(float);
            BytesCached += size * sizeof(float);
            if (!free.TryGetValue(size, out var stack)) free[size] = stack = new();
            stack.Push(buffer);
        }
    }

    /// <summary>Called from a finalizer: no locks there, just a queue that the next rent drains.</summary>
    public void ReturnFromFinalizer(MemoryBuffer1D<float, Stride1D.Dense> buffer) => finalized.Enqueue(buffer);

    void DrainFinalized()
    {
        while (finalized.TryDequeue(out var b)) Return(b);
    }

    /// <summary>Frees every cached buffer on the device (the live ones stay).</summary>
    public void ReleaseCached()
    {
        lock (free)
        {
            DrainFinalized();
            foreach (var stack in free.Values)
                while (stack.Count > 0) stack.Pop().Dispose();
            free.Clear();
            BytesCached = 0;
        }
    }
}

/// <summary>
/// The claim of one storage on one pooled buffer. Disposing it (or its being collected) returns the buffer to the
/// pool. The pool keeps every buffer it handed out reachable, so the buffer itself is never finalized under it.
/// </summary>
internal sealed class DeviceLease(BufferPool pool, MemoryBuffer1D<float, Stride1D.Dense> buffer) : IDisposable
{
    MemoryBuffer1D<float, Stride1D.Dense>? buffer = buffer;

    public MemoryBuffer1D<float, Stride1D.Dense> Buffer =>
        buffer ?? throw new ObjectDisposedException("Storage", "the tensor's device memory was freed (Dispose or the end of a DeviceScope); it can no longer be used");

    public bool IsDisposed => buffer is null;

    public void Dispose()
    {
        if (buffer is null) return;
        pool.Return(buffer);
        buffer = null;
        GC.SuppressFinalize(this);
    }

    ~DeviceLease()
    {
        if (buffer is not null) pool.ReturnFromFinalizer(buffer);
    }
}
