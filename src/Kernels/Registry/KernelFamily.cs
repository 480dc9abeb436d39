using System.Collections;
using Kernels.Gpu;

namespace Kernels.Cpu;

/// <summary>A named implementation of a kernel; the reference is the one every other variant is checked against.</summary>
public sealed record Variant<TKernel>(string Name, TKernel Run, bool IsReference = false) where TKernel : Delegate;

/// <summary>What every kernel family says about itself, whatever its signature: for listings (<c>engine info</c>, <c>engine kernels</c>).</summary>
public abstract class KernelFamily(string name)
{
    /// <summary>The family's name in the table and in a context's choices, e.g. <c>conv2d-forward</c>.</summary>
    public string Name { get; } = name;
    /// <summary>The names of the variants registered here (the GPU one included when a GPU is open).</summary>
    public abstract IReadOnlyList<string> VariantNames { get; }
    /// <summary>The variant the engine runs under the current context when no geometry decides (see <see cref="KernelFamily{TKernel, TShape}.Choose"/>).</summary>
    public abstract string DefaultName { get; }
    /// <summary>The rule in words, e.g. "winograd4-avx512 where it applies, else winograd-avx512, else blocked-avx512".</summary>
    public abstract string Rule { get; }
}

/// <summary>
/// One kernel family: its reference, its variants, and the rule that picks the variant the engine runs — the first of
/// an ordered preference that is registered here (<see cref="Isa"/> registers only the vector widths this CPU
/// accelerates). <see cref="Fast"/> is what the engine calls: the current <see cref="KernelContext"/>'s choice, else
/// the rule's. The family is also the list of its variants (reference first, the GPU one last when a GPU is open), so
/// tests, races and benchmarks enumerate it.
/// </summary>
public class KernelFamily<TKernel> : KernelFamily, IReadOnlyList<Variant<TKernel>> where TKernel : Delegate
{
    readonly Variant<TKernel>[] cpu;
    readonly Func<GpuVariants, Variant<TKernel>>? gpu;
    readonly string[] preference;

    /// <param name="name">the family's name</param>
    /// <param name="variants">the CPU variants, exactly one of them the reference</param>
    /// <param name="preference">variant names in the order the rule prefers them; the first registered one is the default (the reference when none is)</param>
    /// <param name="gpu">how to find the family's variant among the GPU's, when it has one</param>
    public KernelFamily(string name, IEnumerable<Variant<TKernel>> variants, IEnumerable<string> preference, Func<GpuVariants, Variant<TKernel>>? gpu = null)
        : base(name)
    {
        cpu = [.. variants];
        if (cpu.Count(v => v.IsReference) != 1) throw new ArgumentException($"kernel family {name}: exactly one reference variant needed");
        if (cpu.Select(v => v.Name).Distinct().Count() != cpu.Length) throw new ArgumentException($"kernel family {name}: variant names repeat");
        this.gpu = gpu;
        this.preference = [.. preference.Where(p => cpu.Any(v => v.Name == p))];
        Reference = cpu.Single(v => v.IsReference);
        Default = this.preference.Length > 0 ? cpu.First(v => v.Name == this.preference[0]) : Reference;
    }

    /// <summary>The plain scalar implementation every variant is checked against.</summary>
    public Variant<TKernel> Reference { get; }

    /// <summary>The variant the rule picks (for a geometry-ruled family: the one it prefers where it applies).</summary>
    public Variant<TKernel> Default { get; }

    /// <summary>The variants registered here: the CPU ones, then the GPU one when a GPU is open.</summary>
    public IReadOnlyList<Variant<TKernel>> Variants =>
        gpu is not null && GpuVariants.Registered is { } g ? [.. cpu, gpu(g)] : cpu;

    /// <summary>The CPU variants in order of the rule's preference (those it never picks left out).</summary>
    protected IEnumerable<Variant<TKernel>> Preferred => preference.Select(p => cpu.First(v => v.Name == p));

    /// <summary>The registered variant named <paramref name="name"/>.</summary>
    public Variant<TKernel> this[string name] => Variants.FirstOrDefault(v => v.Name == name)
        ?? throw new ArgumentException($"kernel family {Name}: no variant '{name}' (registered: {string.Join(", ", VariantNames)})");

    /// <summary>The kernel the engine calls: the current context's choice for this family, else the rule's.</summary>
    public TKernel Fast => KernelContext.Current.Choice(Name) is { } c ? (TKernel)c.Run : RuleKernel;

    /// <summary>What runs when no context chose: the default variant itself, or a dispatcher that applies the rule per geometry.</summary>
    protected virtual TKernel RuleKernel => Default.Run;

    /// <summary>What a context that prefers <paramref name="v"/> runs: <paramref name="v"/> (a geometry-ruled family checks where it applies).</summary>
    internal virtual Delegate Preferring(Variant<TKernel> v) => v.Run;

    /// <summary>The registered name of <paramref name="kernel"/>, or null when it is none of the variants.</summary>
    internal string? NameOf(TKernel kernel) => Variants.FirstOrDefault(v => v.Run == kernel)?.Name;

    public override IReadOnlyList<string> VariantNames => [.. Variants.Select(v => v.Name)];
    public override string DefaultName => KernelContext.Current.Choice(Name) is { } c ? c.Variant ?? "(custom)" : Default.Name;
    public override string Rule => Default == Reference ? "reference (nothing faster registered here)" : Default.Name;

    public int Count => Variants.Count;
    public Variant<TKernel> this[int index] => Variants[index];
    public IEnumerator<Variant<TKernel>> GetEnumerator() => Variants.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// A kernel family whose variants each compute only some geometries (Winograd only 3×3 stride-1 convolutions, say):
/// each variant may carry a gate, and the rule is the first variant of the preference whose gate admits the geometry
/// (a variant without a gate admits all; the reference admits all). A variant called on a geometry its gate refuses
/// throws, so what runs is always what the rule says.
/// </summary>
public sealed class KernelFamily<TKernel, TShape> : KernelFamily<TKernel> where TKernel : Delegate
{
    readonly IReadOnlyDictionary<string, Func<TShape, bool>> gates;
    readonly Variant<TKernel>[] order;
    readonly TKernel dispatch;

    /// <param name="gates">variant name → the geometries it computes (variants not named compute all)</param>
    /// <param name="dispatcher">wraps a shape → variant choice into the family's kernel signature</param>
    public KernelFamily(string name, IEnumerable<Variant<TKernel>> variants, IEnumerable<string> preference,
        IReadOnlyDictionary<string, Func<TShape, bool>> gates, Func<Func<TShape, TKernel>, TKernel> dispatcher,
        Func<GpuVariants, Variant<TKernel>>? gpu = null)
        : base(name, variants, preference, gpu)
    {
        this.gates = gates;
        order = [.. Preferred, Reference];
        dispatch = dispatcher(s => Choose(s).Run);
        this.dispatcher = dispatcher;
    }

    readonly Func<Func<TShape, TKernel>, TKernel> dispatcher;

    /// <summary>Whether <paramref name="v"/> computes <paramref name="shape"/> (a GPU variant and the reference compute all).</summary>
    public bool Applies(Variant<TKernel> v, TShape shape) => !gates.TryGetValue(v.Name, out var gate) || v.IsReference || gate(shape);

    /// <summary>The variant the rule picks for <paramref name="shape"/>, ignoring any context.</summary>
    public Variant<TKernel> Choose(TShape shape)
    {
        foreach (var v in order)
            if (Applies(v, shape)) return v;
        return Reference;
    }

    /// <summary>
    /// The variant that runs for <paramref name="shape"/> under the current context: its choice where that applies,
    /// else the rule's. A kernel set that is not a registered variant is reported by the name "(custom)".
    /// </summary>
    public Variant<TKernel> Resolve(TShape shape)
    {
        if (KernelContext.Current.Choice(Name) is not { } c) return Choose(shape);
        if (c.Variant is null) return new Variant<TKernel>("(custom)", (TKernel)c.Run);
        var v = this[c.Variant];
        return Applies(v, shape) ? v : Choose(shape);
    }

    protected override TKernel RuleKernel => dispatch;

    internal override Delegate Preferring(Variant<TKernel> v) => dispatcher(s => (Applies(v, s) ? v : Choose(s)).Run);

    public override string Rule
    {
        get
        {
            var steps = new List<string>();
            foreach (var v in order)
            {
                bool gated = gates.ContainsKey(v.Name) && !v.IsReference;
                steps.Add(gated ? $"{v.Name} where it applies" : v.Name);
                if (!gated) break;
            }
            return string.Join(", else ", steps);
        }
    }
}
