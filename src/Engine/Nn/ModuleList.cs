using System.Collections;

namespace Engine.Nn;

/// <summary>
/// A list of modules registered as children named by index (<c>blocks.0.attn.weight</c>), as PyTorch's
/// <c>nn.ModuleList</c>. It has no forward of its own: the owner decides how to call its items.
/// </summary>
/// <example><c>blocks = Child("blocks", new ModuleList&lt;Block&gt;(Enumerable.Range(0, depth).Select(_ => new Block(d, g))));</c></example>
public sealed class ModuleList<T> : Module, IReadOnlyList<T> where T : Module
{
    readonly List<T> items = [];

    public ModuleList(params IEnumerable<T> modules)
    {
        foreach (var m in modules) Add(m);
    }

    /// <summary>Appends a module, named by its position; returns this.</summary>
    public ModuleList<T> Add(T module)
    {
        ArgumentNullException.ThrowIfNull(module);
        items.Add(Child(items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module));
        return this;
    }

    public int Count => items.Count;

    public T this[int index] => items[index];

    public IEnumerator<T> GetEnumerator() => items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
