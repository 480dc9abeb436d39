namespace Engine.Nn;

/// <summary>
/// A building block with named parameters, buffers (non-trained state such as running statistics) and child
/// modules. Names are hierarchical, <c>down.0.conv1.weight</c>, so weights move by name to and from
/// safetensors files written by PyTorch.
/// </summary>
/// <example>
/// <code>
/// sealed class Mlp : Layer
/// {
///     readonly Linear fc1, fc2;
///     public Mlp(Generator g) { fc1 = Child("fc1", new Linear(2, 64, g)); fc2 = Child("fc2", new Linear(64, 2, g)); }
///     public override Tensor Forward(Tensor x) => fc2.Forward(fc1.Forward(x).Relu());
/// }
/// </code>
/// </example>
public abstract class Module
{
    readonly List<(string Name, Tensor Value)> parameters = [];
    readonly List<(string Name, Tensor Value)> buffers = [];
    readonly List<(string Name, Module Value)> children = [];
    readonly List<Tensor> constants = [];

    /// <summary>True in training mode (dropout active, batch statistics used); see <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Registers a trainable tensor under <paramref name="name"/>.</summary>
    protected Tensor Parameter(string name, Tensor value)
    {
        CheckName(name);
        value.RequiresGrad = true;
        value.Name = name;
        parameters.Add((name, value));
        return value;
    }

    /// <summary>Registers saved, non-trained state (running mean, running variance) under <paramref name="name"/>.</summary>
    protected Tensor Buffer(string name, Tensor value)
    {
        CheckName(name);
        value.Name = name;
        buffers.Add((name, value));
        return value;
    }

    /// <summary>
    /// Registers a fixed tensor the forward pass reads (a mask, a table) that is neither trained nor saved: it is built
    /// once, on the host, and moves with the module (<see cref="To"/>), so a pass on a device never uploads it.
    /// </summary>
    protected Tensor Constant(Tensor value)
    {
        constants.Add(value);
        return value;
    }

    /// <summary>Registers a child module; its parameters are named <c>name.param</c>.</summary>
    protected T Child<T>(string name, T module) where T : Module
    {
        CheckName(name);
        children.Add((name, module));
        return module;
    }

    void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.')) throw new ArgumentException($"Module: invalid name '{name}' (non-empty, no dots)");
        if (parameters.Any(p => p.Name == name) || buffers.Any(b => b.Name == name) || children.Any(c => c.Name == name))
            throw new ArgumentException($"Module {GetType().Name}: name '{name}' is registered twice");
    }

    /// <summary>Every parameter with its full hierarchical name, in registration order.</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedParameters(string prefix = "")
    {
        foreach (var (n, p) in parameters) { p.Name = prefix + n; yield return (prefix + n, p); }
        foreach (var (n, c) in children)
            foreach (var item in c.NamedParameters(prefix + n + ".")) yield return item;
    }

    /// <summary>Every buffer with its full hierarchical name.</summary>
    public IEnumerable<(string Name, Tensor Value)> NamedBuffers(string prefix = "")
    {
        foreach (var (n, b) in buffers) yield return (prefix + n, b);
        foreach (var (n, c) in children)
            foreach (var item in c.NamedBuffers(prefix + n + ".")) yield return item;
    }

    public IEnumerable<(string Name, Module Value)> NamedChildren() => children;

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Value);

    /// <summary>
    /// Moves every parameter, buffer and constant to <paramref name="device"/> in place (the same tensor objects, so
    /// optimizers made before or after see them). Returns this module.
    /// </summary>
    /// <example><c>var model = new UNet(config, g).To(Device.Gpu());</c></example>
    public Module To(Device device)
    {
        foreach (var (_, p) in NamedParameters()) p.MoveTo(device);
        foreach (var (_, b) in NamedBuffers()) b.MoveTo(device);
        MoveConstants(device);
        return this;
    }

    void MoveConstants(Device device)
    {
        foreach (var c in constants) c.MoveTo(device);
        foreach (var (_, child) in children) child.MoveConstants(device);
    }

    /// <summary>Total number of trainable values.</summary>
    public long ParameterCount() => Parameters().Sum(p => (long)p.Numel);

    /// <summary>Parameters and buffers by name: what a checkpoint stores.</summary>
    public Dictionary<string, Tensor> StateDict() => NamedParameters().Concat(NamedBuffers()).ToDictionary(p => p.Name, p => p.Value);

    /// <summary>
    /// Copies tensors into this module's parameters and buffers by name. With <paramref name="strict"/>, a
    /// missing or unexpected name is an error; a shape difference always is.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        if (strict)
        {
            var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
            var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new KeyNotFoundException($"LoadStateDict({GetType().Name}): missing [{string.Join(", ", missing.Take(10))}]; unexpected [{string.Join(", ", unexpected.Take(10))}]");
        }
        foreach (var (name, target) in own)
        {
            if (!state.TryGetValue(name, out var src)) continue;
            if (!Shapes.SameShape(src.Shape, target.Shape))
                throw new ShapeMismatchException($"LoadStateDict({GetType().Name}): '{name}' has shape {Shapes.Format(src.Shape)} in the state but {Shapes.Format(target.Shape)} in the module");
            target.CopyFrom(src);
        }
    }

    /// <summary>Sets training mode on this module and all its children; returns this.</summary>
    public Module Train(bool on = true)
    {
        Training = on;
        foreach (var (_, c) in children) c.Train(on);
        return this;
    }

    /// <summary>Evaluation mode: dropout off, running statistics used.</summary>
    public Module Eval() => Train(false);

    /// <summary>Clears the gradients of all parameters.</summary>
    public void ZeroGrad() { foreach (var p in Parameters()) p.Grad = null; }

    /// <summary>One line per parameter: name, shape, count — and the total.</summary>
    public string Summary()
    {
        var lines = NamedParameters().Select(p => $"{p.Name,-40} {Shapes.Format(p.Value.Shape),-20} {p.Value.Numel,10:N0}").ToList();
        lines.Add($"{"total",-40} {"",-20} {ParameterCount(),10:N0}");
        return string.Join('\n', lines);
    }
}

/// <summary>A module with one tensor in and one tensor out: what <see cref="Sequential"/> chains.</summary>
public abstract class Layer : Module
{
    public abstract Tensor Forward(Tensor x);
}
