using System.Globalization;
using Engine;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;

namespace Models.Training;

/// <summary>
/// Everything a training run needs to continue bit for bit: tensors by name (<c>model.*</c>, <c>ema.*</c>,
/// <c>optim.*</c>, and a family's own) and scalar values (optimizer step and rate, random-stream positions, counters).
/// A family fills one in <see cref="ITrainingRun.SaveState"/> and reads it back in <see cref="ITrainingRun.LoadState"/>;
/// <see cref="RunCheckpoint"/> stores it. A missing or misfitting entry is an <see cref="InvalidDataException"/>
/// naming it (the checkpoint reader adds the file name).
/// </summary>
/// <example><c>var s = new RunState(); s.AddModule("model", net); s.AddOptimizer("optim", adam); s.AddGenerator("rng", g);</c></example>
public sealed class RunState
{
    /// <summary>Tensors by full name, e.g. <c>model.conv_in.weight</c>.</summary>
    public Dictionary<string, Tensor> Tensors { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The state most runs keep: weights under <c>model</c>, the EMA under <c>ema</c> (when there is one), the optimizer
    /// under <c>optim</c>, a random stream under <paramref name="rngName"/> (when there is one) and the step.
    /// </summary>
    public static RunState Of(Module model, Ema? ema, Optimizer optimizer, string? rngName, Generator? rng, int step)
    {
        var s = new RunState();
        s.AddModule("model", model);
        if (ema is not null) s.AddEma("ema", ema);
        s.AddOptimizer("optim", optimizer);
        if (rngName is not null && rng is not null) s.AddGenerator(rngName, rng);
        s.SetInt("step", step);
        return s;
    }

    /// <summary>Restores what <see cref="Of"/> wrote into a run built from the same config; returns the step.</summary>
    public int LoadInto(Module model, Ema? ema, Optimizer optimizer, string? rngName, Generator? rng)
    {
        LoadModule("model", model);
        if (ema is not null) LoadEma("ema", ema);
        LoadOptimizer("optim", optimizer);
        if (rngName is not null && rng is not null) LoadGenerator(rngName, rng);
        return Int("step");
    }

    /// <summary>Scalars by name, stored as invariant-culture strings.</summary>
    public Dictionary<string, string> Values { get; } = new(StringComparer.Ordinal);

    public void AddModule(string prefix, Module module)
    {
        foreach (var (n, t) in module.StateDict()) Tensors[prefix + "." + n] = t;
    }

    public void AddEma(string prefix, Ema ema)
    {
        foreach (var (n, t) in ema.StateDict()) Tensors[prefix + "." + n] = t;
    }

    /// <summary>The optimizer's buffers as <c>prefix.i.name</c>, its step count and learning rate as values.</summary>
    public void AddOptimizer(string prefix, Optimizer optimizer)
    {
        var s = optimizer.ExportState();
        foreach (var (n, t) in s.Tensors) Tensors[prefix + "." + n] = t;
        SetInt(prefix + ".step", s.Step);
        Values[prefix + ".lr"] = s.LearningRate.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>The generator's seed and position (the seed is checked on load, the position restored).</summary>
    public void AddGenerator(string name, Generator g)
    {
        Values["rng." + name + ".seed"] = g.Seed.ToString(CultureInfo.InvariantCulture);
        Values["rng." + name + ".offset"] = g.Offset.ToString(CultureInfo.InvariantCulture);
    }

    public void SetInt(string name, int value) => Values[name] = value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Copies <c>prefix.*</c> into <paramref name="module"/>; names or shapes that do not fit are an <see cref="InvalidDataException"/>.</summary>
    public void LoadModule(string prefix, Module module)
    {
        try { module.LoadStateDict(Prefixed(prefix)); }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException)
        {
            throw new InvalidDataException($"'{prefix}.*' tensors do not fit the network its config describes: {e.Message}", e);
        }
    }

    public void LoadEma(string prefix, Ema ema)
    {
        try { ema.LoadStateDict(Prefixed(prefix)); }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException)
        {
            throw new InvalidDataException($"'{prefix}.*' tensors do not fit the averaged network: {e.Message}", e);
        }
    }

    public void LoadOptimizer(string prefix, Optimizer optimizer)
    {
        var lr = Values.TryGetValue(prefix + ".lr", out var s) && float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && float.IsFinite(v)
            ? v : throw new InvalidDataException($"value '{prefix}.lr' is missing or not a finite number");
        try { optimizer.ImportState(new OptimizerState(Prefixed(prefix), Int(prefix + ".step"), lr)); }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException)
        {
            throw new InvalidDataException($"'{prefix}.*' optimizer state does not fit the parameters: {e.Message}", e);
        }
    }

    /// <summary>Restores <paramref name="g"/>'s position; a generator saved with another seed is an <see cref="InvalidDataException"/>.</summary>
    public void LoadGenerator(string name, Generator g)
    {
        ulong seed = ULong("rng." + name + ".seed");
        if (seed != g.Seed) throw new InvalidDataException($"random stream '{name}' was saved with seed {seed}, the config gives {g.Seed}");
        g.Offset = ULong("rng." + name + ".offset");
    }

    public int Int(string name) =>
        Values.TryGetValue(name, out var s) && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw new InvalidDataException($"value '{name}' is missing or not a non-negative integer");

    ulong ULong(string name) =>
        Values.TryGetValue(name, out var s) && ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw new InvalidDataException($"value '{name}' is missing or not a non-negative integer");

    /// <summary>The tensors under <c>prefix.</c>, with the prefix removed.</summary>
    public Dictionary<string, Tensor> Prefixed(string prefix)
    {
        string p = prefix + ".";
        return Tensors.Where(kv => kv.Key.StartsWith(p, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[p.Length..], kv => kv.Value);
    }
}
