using System.Diagnostics;

namespace Engine.Autograd;

/// <summary>
/// Wall time per op, forward and backward, while a profile is open: <c>using (var p = OpProfile.Start()) step();</c>
/// then <see cref="Entries"/>. Forward ops are timed by their finishing points: every op ends in
/// <see cref="Backprop.Record"/> (with or without grad), and the time since the previous op ended is charged to it
/// (so the glue of the caller between two ops goes to the second). Backward times each node's gradient function.
/// Ops run one after another on the calling thread (their kernels fan out inside), which is what makes this exact.
/// One profile at a time, for the thread that opened it.
/// </summary>
public sealed class OpProfile : IDisposable
{
    /// <summary>One op name's totals: calls and milliseconds in forward and in backward.</summary>
    public sealed record Entry(string Op)
    {
        public int ForwardCalls { get; internal set; }
        public double ForwardMs { get; internal set; }
        public int BackwardCalls { get; internal set; }
        public double BackwardMs { get; internal set; }
    }

    [ThreadStatic] static OpProfile? active;
    readonly Dictionary<string, Entry> entries = new();
    readonly Stopwatch clock = Stopwatch.StartNew();
    long mark;
    bool inBackward;                                                 // ops run by a gradient function are its time, not forward ops

    OpProfile() { }

    /// <summary>Opens a profile on this thread (closing any open one); <see cref="Dispose"/> stops it.</summary>
    public static OpProfile Start() => active = new OpProfile();

    /// <summary>Wall time from <see cref="Start"/> to <see cref="Dispose"/> (or to now, while open), for the share no op accounts for.</summary>
    public double ElapsedMs => clock.Elapsed.TotalMilliseconds;

    /// <summary>The ops seen, most expensive (forward + backward) first.</summary>
    public IReadOnlyList<Entry> Entries => entries.Values.OrderByDescending(e => e.ForwardMs + e.BackwardMs).ToList();

    /// <summary>Restarts the forward clock: time before this point is charged to no op (an optimizer step, say).</summary>
    public static void Skip() { if (active is { } p) p.mark = p.clock.ElapsedTicks; }

    internal static void Forward(string op)
    {
        if (active is not { } p || p.inBackward) return;
        long now = p.clock.ElapsedTicks;
        var e = p.Get(op);
        e.ForwardCalls++;
        e.ForwardMs += (now - p.mark) * 1000.0 / Stopwatch.Frequency;
        p.mark = now;
    }

    /// <summary>Runs <paramref name="node"/>'s backward on <paramref name="gradient"/> made contiguous, timed (both) when a profile is open.</summary>
    internal static void Backward(Node node, Tensor gradient)
    {
        if (active is not { } p) { node.Backward(gradient.Contiguous()); return; }
        long start = p.clock.ElapsedTicks;
        p.inBackward = true;
        try { node.Backward(gradient.Contiguous()); }
        finally { p.inBackward = false; }
        long now = p.clock.ElapsedTicks;
        var e = p.Get(node.Op);
        e.BackwardCalls++;
        e.BackwardMs += (now - start) * 1000.0 / Stopwatch.Frequency;
        p.mark = now;
    }

    Entry Get(string op)
    {
        if (!entries.TryGetValue(op, out var e)) entries[op] = e = new Entry(op);
        return e;
    }

    public void Dispose()
    {
        clock.Stop();
        if (active == this) active = null;
    }
}
