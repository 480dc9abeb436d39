namespace Engine;

/// <summary>
/// What a repeated step (a sampling step, a training step) learns about its own memory: for each storage it creates, the
/// op after which nothing reads it any more. A <see cref="DeviceScope"/> opened with a plan records this on its first
/// step (every op's name and output shape, the storages made so far, and each storage's last read, kernels' reads and
/// host reads alike); on later steps it releases each storage right after that op, so a forward pass without a graph
/// holds only what it still needs, as a reference-counting allocator would. If a step runs other ops than the recorded
/// ones (a branch taken differently), the plan stops releasing for that step and records afresh on the next.
/// Release is never silent about a mistake: a released tensor that is read again throws <see cref="ObjectDisposedException"/>.
/// </summary>
/// <example><c>var plan = new MemoryPlan(); for (…) { using var scope = new DeviceScope(plan); x = scope.Keep(Step(x)); }</c></example>
public sealed class MemoryPlan
{
    internal readonly record struct OpMark(string Op, int ShapeHash, int Created);

    internal List<OpMark>? Ops;
    internal List<int>[]? ReleaseAt;

    /// <summary>Steps recorded (the first, and any after a step that ran other ops).</summary>
    public int Recordings { get; internal set; }

    /// <summary>Steps that released storages early by the plan.</summary>
    public int Replays { get; internal set; }

    /// <summary>Storages released before the end of their step, over all replays.</summary>
    public long ReleasedEarly { get; internal set; }

    /// <summary>Whether a recorded plan is ready to replay.</summary>
    public bool IsReady => ReleaseAt is not null;

    internal static int HashShape(int[] shape)
    {
        var h = new HashCode();
        foreach (var d in shape) h.Add(d);
        h.Add(shape.Length);
        return h.ToHashCode();
    }
}
