namespace Engine;

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
/// <para>
/// Opened with a <see cref="MemoryPlan"/>, a scope that repeats a step also frees each storage right after the op that
/// last reads it (learned on the first step), so a step's peak memory is what it really needs at each op.
/// </para>
/// </summary>
/// <example><c>using (var scope = new DeviceScope()) { var loss = Step(model, batch); lossValue = loss.Item(); }</c></example>
public sealed class DeviceScope : IDisposable
{
    [ThreadStatic] static DeviceScope? current;
    readonly DeviceScope? outer;
    readonly List<WeakReference<Storage>> created = [];
    readonly HashSet<Storage> kept = new(ReferenceEqualityComparer.Instance);
    bool closed;

    // With a plan: the ops run so far, and (recording) each created storage's last read, or (replaying) whether the step still follows the plan.
    readonly MemoryPlan? plan;
    readonly bool recording;
    readonly List<MemoryPlan.OpMark>? ops;
    readonly List<int>? lastRead;
    bool onPlan;
    int opIndex;

    public DeviceScope()
    {
        outer = current;
        current = this;
    }

    /// <summary>A scope for one repetition of a step that <paramref name="plan"/> records on its first use and replays after.</summary>
    public DeviceScope(MemoryPlan plan) : this()
    {
        ArgumentNullException.ThrowIfNull(plan);
        this.plan = plan;
        recording = !plan.IsReady;
        if (recording) { ops = []; lastRead = []; }
        else onPlan = true;
    }

    internal static void Track(Storage s)
    {
        var scope = current;
        if (scope is null) return;
        if (scope.plan is not null) { s.Scope = scope; s.Ordinal = scope.created.Count; scope.lastRead?.Add(-1); }
        scope.created.Add(new WeakReference<Storage>(s));
    }

    /// <summary>A kernel or host code reads or writes <paramref name="s"/> now (during the op that will be recorded next).</summary>
    internal static void NoteUse(Storage s)
    {
        var scope = current;
        if (scope?.lastRead is null || s.Scope != scope) return;
        scope.lastRead[s.Ordinal] = scope.opIndex;
    }

    /// <summary>An op has finished with output <paramref name="result"/>: recorded in the plan, or storages the plan says are done are released.</summary>
    internal static void OpDone(string op, Tensor result)
    {
        var scope = current;
        if (scope?.plan is null) return;
        var mark = new MemoryPlan.OpMark(op, MemoryPlan.HashShape(result.Shape), scope.created.Count);
        if (scope.recording) scope.ops!.Add(mark);
        else if (scope.onPlan)
        {
            var planned = scope.plan.Ops!;
            if (scope.opIndex >= planned.Count || planned[scope.opIndex] != mark) scope.onPlan = false;      // another path: stop releasing
            else
                foreach (var ordinal in scope.plan.ReleaseAt![scope.opIndex])
                    if (scope.created[ordinal].TryGetTarget(out var s) && !scope.kept.Contains(s))
                    {
                        s.Dispose();
                        scope.plan.ReleasedEarly++;
                    }
        }
        scope.opIndex++;
    }

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
        if (plan is not null) FinishPlan();
        foreach (var weak in created)
        {
            if (!weak.TryGetTarget(out var s)) continue;                          // already collected: nothing holds it
            if (kept.Contains(s)) outer?.created.Add(weak);
            else s.Dispose();
        }
    }

    /// <summary>Turns a recording into release lists, or after a replay that left the plan, asks for a new recording.</summary>
    void FinishPlan()
    {
        if (recording)
        {
            var releaseAt = new List<int>[ops!.Count];
            for (int j = 0; j < releaseAt.Length; j++) releaseAt[j] = [];
            for (int ordinal = 0; ordinal < lastRead!.Count; ordinal++)
                if (lastRead[ordinal] >= 0 && lastRead[ordinal] < ops.Count && created[ordinal].TryGetTarget(out var s) && !kept.Contains(s))
                    releaseAt[lastRead[ordinal]].Add(ordinal);
            plan!.Ops = ops;
            plan.ReleaseAt = releaseAt;
            plan.Recordings++;
        }
        else if (onPlan && opIndex == plan!.Ops!.Count) plan.Replays++;
        else { plan!.Ops = null; plan.ReleaseAt = null; }
    }
}
