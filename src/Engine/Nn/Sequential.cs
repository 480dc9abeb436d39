using System.Collections;

namespace Engine.Nn;

/// <summary>
/// Layers applied one after another. Children are named by position, so parameters read <c>0.weight</c>,
/// <c>2.bias</c>, and a nested Sequential gives <c>1.0.weight</c> — PyTorch's <c>nn.Sequential</c> names.
/// </summary>
/// <example><c>var mlp = new Sequential(new Linear(2, 64, g), new Relu(), new Linear(64, 2, g));</c></example>
public sealed class Sequential : Layer, IEnumerable<Layer>
{
    readonly List<Layer> layers = [];

    public Sequential(params IEnumerable<Layer> layers)
    {
        foreach (var l in layers) Add(l);
    }

    /// <summary>Appends a layer, named by its position; returns this.</summary>
    public Sequential Add(Layer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        layers.Add(Child(layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer));
        return this;
    }

    public int Count => layers.Count;

    public Layer this[int index] => layers[index];

    public override Tensor Forward(Tensor x)
    {
        foreach (var l in layers) x = l.Forward(x);
        return x;
    }

    public IEnumerator<Layer> GetEnumerator() => layers.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
