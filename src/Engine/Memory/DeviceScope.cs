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
