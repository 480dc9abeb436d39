using System.Globalization;

namespace Engine.Optim;

/// <summary>
/// Everything an optimizer needs to resume exactly: its per-parameter buffers keyed <c>{index}.{buffer}</c>
/// (<c>0.exp_avg</c>, <c>3.momentum_buffer</c>, in the order the parameters were given), the number of steps
/// taken and the learning rate in use.
/// </summary>
public sealed record OptimizerState(Dictionary<string, Tensor> Tensors, int Step, float LearningRate);

/// <summary>
/// The shared machinery of gradient-descent optimizers: the parameter list, <see cref="Step"/> (check every
/// gradient is finite, then update each parameter that has one, in place, without recording a graph),
/// <see cref="ZeroGrad"/>, an optional learning-rate schedule, and state export/import for checkpoints.
/// Parameters must be contiguous leaves (what <see cref="Nn.Module.Parameters"/> gives).
/// </summary>
/// <example>
/// <code>
/// var opt = new AdamW(model.Parameters(), lr: 1e-3f) { Schedule = LrSchedule.Cosine(1e-3f, 10_000, warmupSteps: 500) };
/// loss.Backward(); opt.Step(); opt.ZeroGrad();
/// </code>
/// </example>
public abstract class Optimizer
{
    readonly Tensor[] parameters;
    readonly Dictionary<string, Tensor>[] state;

    protected Optimizer(IEnumerable<Tensor> parameters, float learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        this.parameters = parameters.ToArray();
        string op = GetType().Name;
        if (this.parameters.Length == 0) throw new ArgumentException($"{op}: the parameter list is empty");
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < this.parameters.Length; i++)
        {
            var p = this.parameters[i];
            if (!seen.Add(p)) throw new ArgumentException($"{op}: parameter {Describe(i)} appears twice in the list");
            if (!p.IsLeaf || !p.IsContiguous)
                throw new ArgumentException($"{op}: parameter {Describe(i)} {Shapes.Format(p.Shape)} must be a contiguous leaf tensor (a view or an op result cannot be updated in place)");
        }
        CheckLearningRate(learningRate);
        LearningRate = learningRate;
        state = new Dictionary<string, Tensor>[this.parameters.Length];
        for (int i = 0; i < state.Length; i++) state[i] = [];
    }

    public IReadOnlyList<Tensor> Parameters => parameters;

    /// <summary>The learning rate of the next step (set by <see cref="Schedule"/> at each step when one is given).</summary>
    public float LearningRate { get; set; }

    /// <summary>When set, <see cref="Step"/> first sets <see cref="LearningRate"/> to <c>Schedule.At(StepCount)</c>.</summary>
    public ILrSchedule? Schedule { get; set; }

    /// <summary>Number of completed <see cref="Step"/> calls.</summary>
    public int StepCount { get; private set; }

    /// <summary>The names of the per-parameter buffers this optimizer keeps (checked on import).</summary>
    protected abstract IReadOnlyCollection<string> BufferNames { get; }

    /// <summary>
    /// Updates one parameter in place from its (contiguous, same-device) gradient, with the backend's primitives so it
    /// runs where the parameter lives. Called only for parameters whose gradient is set, under no-grad.
    /// </summary>
    protected abstract void Update(int index, Tensor weight, Tensor grad);

    /// <summary>
    /// One update of every parameter that has a gradient. All gradients are checked first: a NaN or infinite
    /// value is a <see cref="NonFiniteException"/> naming the parameter, and no weight is touched.
    /// </summary>
    public void Step()
    {
        string op = GetType().Name;
        var grads = new Tensor?[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            if (p.Grad is null) continue;
            if (!Shapes.SameShape(p.Grad.Shape, p.Shape))
                throw new ShapeMismatchException($"{op}.Step: gradient {Shapes.Format(p.Grad.Shape)} of parameter {Describe(i)} does not match its shape {Shapes.Format(p.Shape)}");
            if (p.Grad.Device != p.Device)
                throw new DeviceMismatchException($"{op}.Step: gradient of parameter {Describe(i)} is on {p.Grad.Device}, the parameter on {p.Device}");
            var g = p.Grad.Contiguous();
            if (!g.AllFinite())
                throw new NonFiniteException($"{op}.Step: gradient of parameter {Describe(i)} {Shapes.Format(p.Shape)} contains NaN or infinity at step {StepCount}; the loss has probably diverged (lower the learning rate or clip gradients)");
            grads[i] = g;
        }
        if (Schedule is not null)
        {
            float lr = Schedule.At(StepCount);
            CheckLearningRate(lr);
            LearningRate = lr;
        }
        using var _ = Autograd.GradMode.NoGrad();
        for (int i = 0; i < parameters.Length; i++)
            if (grads[i] is { } g) Update(i, parameters[i], g);
        StepCount++;
    }

    /// <summary>Clears the gradient of every parameter.</summary>
    public void ZeroGrad()
    {
        foreach (var p in parameters) p.Grad = null;
    }

    /// <summary>The buffer <paramref name="name"/> of parameter <paramref name="index"/>, created as zeros on first use.</summary>
    protected Tensor Buffer(int index, string name)
    {
        // Per-element buffers live beside their parameter; scalars (step counters) stay on the host, where they are read.
        var shape = BufferShape(index, name);
        if (!state[index].TryGetValue(name, out var t))
            using (DeviceScope.Suspend())                                          // state outlives the step that creates it
                state[index][name] = t = Tensor.Zeros(shape, shape.Length == 0 ? Device.Cpu : parameters[index].Device);
        return t;
    }

    /// <summary>The shape of buffer <paramref name="name"/> of parameter <paramref name="index"/>: the parameter's shape unless overridden.</summary>
    protected virtual int[] BufferShape(int index, string name) => parameters[index].Shape;

    /// <summary>Whether parameter <paramref name="index"/> already has buffer <paramref name="name"/>.</summary>
    protected bool HasBuffer(int index, string name) => state[index].ContainsKey(name);

    /// <summary>A copy of the optimizer's state, for a checkpoint.</summary>
    public OptimizerState ExportState()
    {
        var tensors = new Dictionary<string, Tensor>();
        for (int i = 0; i < state.Length; i++)
            foreach (var (name, t) in state[i])
                tensors[string.Create(CultureInfo.InvariantCulture, $"{i}.{name}")] = t.Clone();
        return new OptimizerState(tensors, StepCount, LearningRate);
    }

    /// <summary>
    /// Replaces the optimizer's state with a copy of <paramref name="saved"/>. A key that names no parameter
    /// or buffer is a <see cref="KeyNotFoundException"/>; a buffer whose shape differs from its parameter is
    /// a <see cref="ShapeMismatchException"/>. Nothing changes when either is thrown.
    /// </summary>
    public void ImportState(OptimizerState saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        string op = GetType().Name;
        var fresh = new Dictionary<string, Tensor>[state.Length];
        for (int i = 0; i < fresh.Length; i++) fresh[i] = [];
        foreach (var (key, t) in saved.Tensors)
        {
            int dot = key.IndexOf('.');
            if (dot <= 0 || !int.TryParse(key.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out int i) || i >= parameters.Length)
                throw new KeyNotFoundException($"{op}.ImportState: key '{key}' does not name one of the {parameters.Length} parameters ('index.buffer' expected)");
            var name = key[(dot + 1)..];
            if (!BufferNames.Contains(name))
                throw new KeyNotFoundException($"{op}.ImportState: key '{key}' names buffer '{name}', but this optimizer keeps [{string.Join(", ", BufferNames)}]");
            var want = BufferShape(i, name);
            if (!Shapes.SameShape(t.Shape, want))
                throw new ShapeMismatchException($"{op}.ImportState: '{key}' has shape {Shapes.Format(t.Shape)}, expected {Shapes.Format(want)} for parameter {Describe(i)}");
            fresh[i][name] = t.Clone();
        }
        if (saved.Step < 0) throw new ArgumentOutOfRangeException(nameof(saved), $"{op}.ImportState: step count {saved.Step} is negative");
        Array.Copy(fresh, state, fresh.Length);
        StepCount = saved.Step;
        LearningRate = saved.LearningRate;
    }

    /// <summary>A parameter's name for messages: its hierarchical name when it has one, else its index.</summary>
    protected string Describe(int index) => parameters[index].Name is { } n ? $"'{n}' (#{index})" : $"#{index}";

    void CheckLearningRate(float lr)
    {
        if (!(lr >= 0f) || float.IsInfinity(lr))
            throw new ArgumentOutOfRangeException(nameof(lr), $"{GetType().Name}: learning rate must be finite and non-negative, got {lr}");
    }
}
