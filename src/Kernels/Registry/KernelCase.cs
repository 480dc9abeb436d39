namespace Kernels.Cpu;

/// <summary>How a buffer of a kernel case starts: random normal (× Scale + Offset), zeros, or NaN (an output the kernel must overwrite).</summary>
public enum Fill { Normal, Zero, NaN }

/// <summary>
/// One buffer of a kernel case, in the order the kernel takes them: its length, how it starts, and whether the case
/// compares it against the reference afterwards (outputs, and state a kernel updates in place).
/// </summary>
public readonly record struct CaseBuffer(string Name, int Length, Fill Fill = Fill.Normal, bool Compared = false, float Scale = 1f, float Offset = 0f)
{
    /// <summary>An output: starts as NaN, compared.</summary>
    public static CaseBuffer Out(string name, int length) => new(name, length, Fill.NaN, Compared: true);
}

/// <summary>
/// How close a variant must come to the reference: each element within <see cref="Relative"/>·(1 + |reference|), plus
/// <see cref="OfRms"/> times the root mean square of the whole reference output (for algorithms whose rounding grows
/// with the size of the whole sum, as Winograd F(4×4, 3×3)'s does).
/// </summary>
public readonly record struct Tolerance(double Relative, double OfRms = 0);

/// <summary>A case made ready for one variant: fresh buffers and the call. <see cref="Run"/> may be called again (to time it).</summary>
public sealed record PreparedCase(string Variant, Action Run, float[][] Buffers, IReadOnlyList<CaseBuffer> Layout)
{
    /// <summary>The compared buffers, by name.</summary>
    public IEnumerable<(string Name, float[] Values)> Compared => Layout.Select((b, i) => (b, i)).Where(p => p.b.Compared).Select(p => (p.b.Name, Buffers[p.i]));
}

/// <summary>
/// One kernel case, declared once (<see cref="KernelCases"/>) and used three ways, as ggml's test-backend-ops does: the
/// NUnit tests check every variant that computes it against the reference, <c>engine kernels</c> races them and reports
/// the one the engine runs, and the BenchmarkDotNet suites time them. A case is a family, a named shape, its buffers
/// (inputs and outputs in the kernel's order), the call, and its work in FLOPs or in bytes moved.
/// </summary>
public abstract class KernelCase(KernelFamily family, string name, double flops, double bytes, Func<string, Tolerance> tolerance)
{
    public KernelFamily Family { get; } = family;
    /// <summary>The shape's name, e.g. <c>W1 28² 32→32 3×3</c>.</summary>
    public string Name { get; } = name;
    /// <summary>Floating-point operations of one call (0 for a memory-bound kernel).</summary>
    public double Flops { get; } = flops;
    /// <summary>Compulsory traffic of one call: every input read once, every output written once (0 when FLOPs are given).</summary>
    public double Bytes { get; } = bytes;
    /// <summary>How close <paramref name="variant"/> must come to the reference.</summary>
    public Tolerance ToleranceOf(string variant) => tolerance(variant);

    /// <summary>The case the error of a race is measured on: this one, or a smaller cut of it where the reference would take too long.</summary>
    public KernelCase ErrorCase { get; protected set; } = null!;

    /// <summary>The variants that compute this case (the reference first): a geometry-ruled family's gates leave some out.</summary>
    public abstract IReadOnlyList<string> Variants { get; }

    /// <summary>The variant the engine runs for this case under the current <see cref="KernelContext"/>.</summary>
    public abstract string Runs { get; }

    /// <summary>Fresh buffers filled from <paramref name="seed"/> and the call of <paramref name="variant"/> on them.</summary>
    public abstract PreparedCase Prepare(string variant, int seed = 1);

    /// <summary>The same buffers and the call of the kernel the engine calls (the family's <c>Fast</c> under the current context).</summary>
    public abstract PreparedCase PrepareEngine(int seed = 1);

    /// <summary>
    /// Runs the reference and <paramref name="variant"/> on the same inputs and returns the largest error, and the first
    /// element outside <see cref="Tolerance"/> (null when all are inside).
    /// </summary>
    public (double MaxError, string? Failure) Check(string variant, int seed = 1)
    {
        var reference = Prepare(ReferenceName, seed);
        reference.Run();
        var got = Prepare(variant, seed);
        got.Run();
        double worst = 0;
        string? failure = null;
        var tol = ToleranceOf(variant);
        foreach (var ((name, expected), (_, actual)) in reference.Compared.Zip(got.Compared))
        {
            var finite = expected.Where(float.IsFinite).Select(e => (double)e * e).ToArray();
            double slack = tol.OfRms == 0 || finite.Length == 0 ? 0 : tol.OfRms * Math.Sqrt(finite.Average());
            for (int i = 0; i < expected.Length; i++)
            {
                if (float.IsNaN(expected[i]) && float.IsNaN(actual[i])) continue;      // both left alone (a padding gap between rows)
                double diff = Math.Abs(actual[i] - (double)expected[i]);
                if (!(diff <= tol.Relative * (1 + Math.Abs(expected[i])) + slack))
                    failure ??= $"{this} {variant}: {name}[{i}] is {actual[i]}, reference {expected[i]}";
                worst = Math.Max(worst, double.IsNaN(diff) ? double.PositiveInfinity : diff / (1 + Math.Abs(expected[i])));
            }
        }
        return (worst, failure);
    }

    /// <summary>The name of the family's reference variant.</summary>
    protected abstract string ReferenceName { get; }

    public override string ToString() => $"{Family.Name} {Name}";

    /// <summary>Buffers for <paramref name="layout"/>: normal values from <paramref name="seed"/> (the same for every variant), zeros or NaN.</summary>
    protected static float[][] Allocate(IReadOnlyList<CaseBuffer> layout, int seed)
    {
        var rng = new Random(seed);
        var buffers = new float[layout.Count][];
        for (int b = 0; b < layout.Count; b++)
        {
            var spec = layout[b];
            var a = buffers[b] = new float[spec.Length];
            if (spec.Fill == Fill.NaN) Array.Fill(a, float.NaN);
            else if (spec.Fill == Fill.Normal)
                for (int i = 0; i < a.Length; i++)                                  // Box–Muller
                {
                    double u = 1 - rng.NextDouble(), v = rng.NextDouble();
                    a[i] = (float)(Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v)) * spec.Scale + spec.Offset;
                }
        }
        return buffers;
    }
}

/// <summary>A case of the family <typeparamref name="TKernel"/> belongs to; see <see cref="KernelCases"/> for the declarations.</summary>
public sealed class KernelCase<TKernel> : KernelCase where TKernel : Delegate
{
    readonly KernelFamily<TKernel> family;
    readonly CaseBuffer[] layout;
    readonly Action<TKernel, float[][]> call;
    readonly Action<float[][]>? setup;
    readonly Func<Variant<TKernel>, bool> applies;
    readonly Func<string> runs;

    /// <param name="call">calls a kernel on the buffers, in <paramref name="layout"/>'s order</param>
    /// <param name="setup">derives inputs from the filled ones before the call (say, a backward's saved statistics from the reference forward)</param>
    /// <param name="applies">which variants compute the case (all when null)</param>
    /// <param name="runs">the variant the engine runs for it (the family's default when null)</param>
    public KernelCase(KernelFamily<TKernel> family, string name, CaseBuffer[] layout, Action<TKernel, float[][]> call,
        double flops = 0, double? bytes = null, Func<string, Tolerance>? tolerance = null, Action<float[][]>? setup = null,
        Func<Variant<TKernel>, bool>? applies = null, Func<string>? runs = null, Func<KernelCase>? errorCase = null)
        : base(family, name, flops, flops > 0 ? 0 : bytes ?? 4.0 * layout.Sum(b => (double)b.Length), tolerance ?? (_ => new Tolerance(1e-5)))
    {
        ErrorCase = errorCase is null ? this : errorCase();
        this.family = family;
        this.layout = layout;
        this.call = call;
        this.setup = setup;
        this.applies = applies ?? (_ => true);
        this.runs = runs ?? (() => family.DefaultName);
    }

    public override IReadOnlyList<string> Variants => [.. family.Where(v => v.IsReference || applies(v)).OrderBy(v => !v.IsReference).Select(v => v.Name)];
    public override string Runs => runs();
    protected override string ReferenceName => family.Reference.Name;

    public override PreparedCase Prepare(string variant, int seed = 1)
    {
        var v = family[variant];
        var buffers = Allocate(layout, seed);
        setup?.Invoke(buffers);
        return new PreparedCase(v.Name, () => call(v.Run, buffers), buffers, layout);
    }

    public override PreparedCase PrepareEngine(int seed = 1)
    {
        var fast = family.Fast;
        var buffers = Allocate(layout, seed);
        setup?.Invoke(buffers);
        return new PreparedCase(Runs, () => call(fast, buffers), buffers, layout);
    }
}
