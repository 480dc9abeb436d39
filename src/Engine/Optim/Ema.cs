using Engine.Nn;

namespace Engine.Optim;

/// <summary>
/// An exponential moving average of a module's parameters (the weights diffusion and GAN samplers use):
/// after each optimizer step, <c>shadow = decay·shadow + (1 − decay)·param</c>. Buffers (running statistics)
/// are copied, not averaged. The shadow weights start as a copy of the module's and are kept by name, so
/// they save and load like a state dict.
/// </summary>
/// <example>
/// <code>
/// var ema = new Ema(model, decay: 0.999f);
/// opt.Step(); ema.Update(model);
/// ema.CopyTo(sampler);   // a second instance of the same architecture
/// </code>
/// </example>
public sealed class Ema
{
    readonly Dictionary<string, Tensor> shadow;
    readonly HashSet<string> bufferNames;

    public float Decay { get; }

    /// <summary>Number of <see cref="Update"/> calls so far.</summary>
    public int Updates { get; private set; }

    public Ema(Module model, float decay = 0.999f)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(decay >= 0f && decay <= 1f)) throw new ArgumentOutOfRangeException(nameof(decay), $"Ema: decay must be in [0, 1], got {decay}");
        Decay = decay;
        shadow = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        bufferNames = model.NamedBuffers().Select(b => b.Name).ToHashSet();
    }

    /// <summary>
    /// The decay of a warmed-up average at update <paramref name="n"/> (0-based): min(<paramref name="decay"/>,
    /// (1 + n)/(10 + n)), so the random initial weights fade out of the average in short runs (with a fixed 0.999 they
    /// would still be a fifth of it after 1,500 updates).
    /// </summary>
    public static float WarmedUp(float decay, int n) => Math.Min(decay, (1f + n) / (10f + n));

    /// <summary>Moves the shadow weights toward <paramref name="model"/>'s current weights.</summary>
    public void Update(Module model) => Update(model, Decay);

    /// <summary>
    /// <see cref="Update(Module)"/> with this step's <paramref name="decay"/> instead of <see cref="Decay"/>
    /// (for a warm-up such as <see cref="WarmedUp"/> that keeps early weights from lingering).
    /// </summary>
    public void Update(Module model, float decay)
    {
        if (!(decay >= 0f && decay <= 1f)) throw new ArgumentOutOfRangeException(nameof(decay), $"Ema.Update: decay must be in [0, 1], got {decay}");
        var current = Matching("Update", model);
        float keep = decay, take = 1f - decay;
        using var _ = Autograd.GradMode.NoGrad();
        foreach (var (name, s) in shadow)
        {
            var src = current[name].Detach();
            if (bufferNames.Contains(name)) { s.CopyFrom(src); continue; }
            s.CopyFrom(keep * s + take * src);                                     // on the backend's kernels, where the weights live
        }
        Updates++;
    }

    /// <summary>Writes the shadow weights into <paramref name="model"/> (same architecture).</summary>
    public void CopyTo(Module model)
    {
        var target = Matching("CopyTo", model);
        foreach (var (name, s) in shadow) target[name].CopyFrom(s);
    }

    /// <summary>The shadow weights by name (the tensors themselves, not copies).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict() => shadow;

    /// <summary>Replaces the shadow weights from a saved state dict; the names and shapes must match exactly.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        var missing = shadow.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !shadow.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new KeyNotFoundException($"Ema.LoadStateDict: missing [{string.Join(", ", missing.Take(10))}]; unexpected [{string.Join(", ", unexpected.Take(10))}]");
        foreach (var (name, s) in shadow)
            if (!Shapes.SameShape(state[name].Shape, s.Shape))
                throw new ShapeMismatchException($"Ema.LoadStateDict: '{name}' has shape {Shapes.Format(state[name].Shape)} in the state but {Shapes.Format(s.Shape)} in the average");
        foreach (var (name, s) in shadow) s.CopyFrom(state[name]);
    }

    Dictionary<string, Tensor> Matching(string op, Module model)
    {
        var state = model.StateDict();
        foreach (var (name, s) in shadow)
        {
            if (!state.TryGetValue(name, out var t))
                throw new KeyNotFoundException($"Ema.{op}: the module has no tensor '{name}'; is it the architecture the average was made from?");
            if (!Shapes.SameShape(t.Shape, s.Shape))
                throw new ShapeMismatchException($"Ema.{op}: '{name}' has shape {Shapes.Format(t.Shape)} in the module but {Shapes.Format(s.Shape)} in the average");
        }
        if (state.Count != shadow.Count)
            throw new KeyNotFoundException($"Ema.{op}: the module has {state.Count} tensors, the average {shadow.Count}; unexpected [{string.Join(", ", state.Keys.Where(k => !shadow.ContainsKey(k)).Take(10))}]");
        return state;
    }
}
