using System.Runtime.CompilerServices;

namespace Engine;

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
