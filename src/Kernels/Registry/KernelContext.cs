namespace Kernels.Cpu;

/// <summary>
/// The settings a CPU kernel call runs under: how many threads it may use and which variant of each kernel family
/// runs. Each caller can have its own, so two models sampling at once in one process (a web server) neither share a
/// thread budget nor see each other's kernel choice.
/// <para>
/// <see cref="Default"/> is the process-wide context: <see cref="Parallelism.MaxThreads"/>'s setter and the
/// <c>KernelRegistry.FastXxx</c> setters write to it. <see cref="Enter"/> makes another context current on the calling
/// thread and the asynchronous calls, tasks and threads that flow from it (an <see cref="AsyncLocal{T}"/>), until the
/// returned scope is disposed; the worker threads of a parallel region run under the context of the thread that opened it. A context
/// leaves a setting it does not set to <see cref="Default"/>.
/// </para>
/// </summary>
/// <example><code>
/// var ctx = new KernelContext { Threads = 2 };
/// ctx.Use(KernelRegistry.Conv2dForward, "blocked-avx512");
/// using (ctx.Enter()) sampler.Sample(model, ...);
/// </code></example>
public sealed class KernelContext
{
    /// <summary>The process-wide context: every setting not set elsewhere, and the one in force where no other was entered.</summary>
    public static KernelContext Default { get; } = new(Environment.ProcessorCount);

    static readonly AsyncLocal<KernelContext?> entered = new();

    /// <summary>Set on a worker thread while it runs the items of a region opened under this context.</summary>
    [ThreadStatic] static KernelContext? region;

    /// <summary>The context in force here: the one a parallel region runs under, else the one entered, else <see cref="Default"/>.</summary>
    public static KernelContext Current => region ?? entered.Value ?? Default;

    int? threads;
    /// <summary>Family name → the kernel chosen for it here. Replaced whole on each change, so reads need no lock.</summary>
    volatile Dictionary<string, KernelChoice> choices = [];

    /// <summary>A context that takes every setting from <see cref="Default"/> until it is set here.</summary>
    public KernelContext() { }

    KernelContext(int threads) => this.threads = threads;

    /// <summary>How many threads a kernel called under this context may use (the calling thread included); at least 1.</summary>
    public int Threads
    {
        get => threads ?? Default.threads!.Value;
        set => threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), $"Threads must be at least 1, got {value}");
    }

    /// <summary>Makes this context current until the returned scope is disposed (scopes nest; dispose them in reverse order).</summary>
    public Scope Enter()
    {
        var previous = entered.Value;
        entered.Value = this;
        return new Scope(previous);
    }

    /// <summary>Restores the context that was current before <see cref="Enter"/>.</summary>
    public readonly struct Scope(KernelContext? previous) : IDisposable
    {
        public void Dispose() => entered.Value = previous;
    }

    /// <summary>
    /// Runs the registered variant <paramref name="variant"/> of <paramref name="family"/> under this context wherever
    /// it applies (for a family whose variants apply to some geometries only, the family's rule picks the others).
    /// </summary>
    public KernelContext Use<TKernel>(KernelFamily<TKernel> family, string variant) where TKernel : Delegate
    {
        var v = family[variant];
        Set(family.Name, new KernelChoice(v.Name, family.Preferring(v)));
        return this;
    }

    /// <summary>
    /// Runs <paramref name="kernel"/> for the calls of <paramref name="family"/> under this context: a registered variant
    /// as <see cref="Use{TKernel}(KernelFamily{TKernel}, string)"/> does, any other kernel for every call.
    /// </summary>
    public KernelContext Use<TKernel>(KernelFamily<TKernel> family, TKernel kernel) where TKernel : Delegate
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (family.NameOf(kernel) is { } name) return Use(family, name);    // a registered variant: where it applies, as by name
        Set(family.Name, new KernelChoice(null, kernel));
        return this;
    }

    /// <summary>Drops this context's choice for <paramref name="family"/>: it follows <see cref="Default"/> (or, there, the family's rule) again.</summary>
    public KernelContext Reset(KernelFamily family)
    {
        lock (this)
        {
            var next = new Dictionary<string, KernelChoice>(choices);
            next.Remove(family.Name);
            choices = next;
        }
        return this;
    }

    void Set(string family, KernelChoice choice)
    {
        lock (this) choices = new Dictionary<string, KernelChoice>(choices) { [family] = choice };
    }

    /// <summary>The choice for <paramref name="family"/> in force under this context: its own, else <see cref="Default"/>'s.</summary>
    internal KernelChoice? Choice(string family) =>
        choices.TryGetValue(family, out var c) ? c : this != Default && Default.choices.TryGetValue(family, out var d) ? d : null;

    /// <summary>The context of the region whose items this worker thread is running (null between regions).</summary>
    internal static KernelContext? OfRegion { get => region; set => region = value; }
}

/// <summary>A kernel chosen for a family by a context: its variant name (null when not a registered one) and what runs.</summary>
internal sealed record KernelChoice(string? Variant, Delegate Run);
