using System.Globalization;

namespace Cli;

/// <summary>A command line error: printed as one line, exit code 2, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>One option a command reads: its name, the kind of value, the default and the accepted range, as help shows them.</summary>
public sealed record OptionInfo(string Name, string Type, string? Default, string? Range, bool Required = false)
{
    public bool IsFlag => Type == "flag";
}

/// <summary>Thrown by <see cref="Args.RejectUnknown"/> of a probing <see cref="Args"/>: every option the command read, in order.</summary>
public sealed class OptionsProbed(IReadOnlyList<OptionInfo> options) : Exception("options probed")
{
    public IReadOnlyList<OptionInfo> Options { get; } = options;
}

/// <summary>
/// Parsed arguments: positionals and <c>--name value</c> / <c>--flag</c> options. Getters convert and
/// validate, and every option a command reads is checked off, so an unknown option is an error.
/// A probing instance (<see cref="Probe"/>) returns the defaults, records each option read (name, type, default, range)
/// and ends the command at <see cref="RejectUnknown"/>: that is how help and the parser learn a command's options.
/// </summary>
public sealed class Args
{
    readonly Dictionary<string, string?> options = new(StringComparer.Ordinal);
    readonly HashSet<string> read = [];
    readonly List<OptionInfo>? probed;
    public List<string> Positionals { get; } = [];

    public Args(IEnumerable<string> argv)
    {
        var list = argv.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a.StartsWith("--"))
            {
                var name = a[2..];
                string? value = null;
                int eq = name.IndexOf('=');
                if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
                else if (i + 1 < list.Count && !list[i + 1].StartsWith("--")) value = list[++i];
                options[name] = value;
            }
            else Positionals.Add(a);
        }
    }

    Args(IReadOnlyDictionary<string, string> given, List<OptionInfo> probed)
    {
        foreach (var (k, v) in given) options[k] = v;
        this.probed = probed;
    }

    /// <summary>An instance that records the options a command reads; <paramref name="given"/> steers branches (e.g. <c>toy</c>).</summary>
    public static Args Probe(IReadOnlyDictionary<string, string>? given = null) => new(given ?? new Dictionary<string, string>(), []);

    public bool IsProbe => probed is not null;

    void Record(string name, string type, string? fallback, string? range = null, bool required = false)
    {
        if (probed is null) return;
        int at = probed.FindIndex(o => o.Name == name);
        var info = new OptionInfo(name, type, fallback, range, required);
        if (at < 0) probed.Add(info);
        else if (probed[at] is { Type: "text", Default: null } && (type != "text" || fallback is not null)) probed[at] = info;   // a later typed read says more
    }

    static string Show(double v) => v switch { int.MaxValue => "∞", int.MinValue => "−∞", _ => v.ToString(CultureInfo.InvariantCulture) };

    static string? RangeText(int min, int max) => min == int.MinValue && max == int.MaxValue ? null : $"[{Show(min)}, {Show(max)}]";

    /// <summary>Whether the option was given (without marking it read).</summary>
    public bool Has(string name) => options.ContainsKey(name);

    public bool Flag(string name)
    {
        read.Add(name);
        Record(name, "flag", null);
        if (!options.TryGetValue(name, out var v)) return false;
        if (v is null) return true;
        // A flag followed by a positional: give the positional back.
        Positionals.Add(v); options[name] = null;
        return true;
    }

    public string? String(string name) => String(name, null, "text");

    string? String(string name, string? fallback, string type)
    {
        read.Add(name);
        Record(name, type, fallback);
        return options.TryGetValue(name, out var v) ? v ?? throw new UsageException($"--{name} needs a value") : fallback;
    }

    public string String(string name, string fallback) => String(name, fallback, "text")!;

    /// <summary>A text option without a default: missing is a usage error (a probe gets a placeholder).</summary>
    public string Required(string name)
    {
        read.Add(name);
        Record(name, "text", null, required: true);
        if (probed is not null) return options.GetValueOrDefault(name) ?? $"<{name}>";
        return options.TryGetValue(name, out var v) ? v ?? throw new UsageException($"--{name} needs a value") : throw new UsageException($"--{name} is required");
    }

    /// <param name="shown">How help shows the default when it depends on the machine (e.g. "all cores").</param>
    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue, string? shown = null)
    {
        read.Add(name);
        Record(name, "int", shown ?? fallback.ToString(CultureInfo.InvariantCulture), RangeText(min, max));
        if (!options.TryGetValue(name, out var s) || probed is not null) return fallback;
        if (s is null) throw new UsageException($"--{name} needs a value (an integer{(RangeText(min, max) is { } r ? " in " + r : "")})");
        if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"--{name}: '{s}' is not an integer{(RangeText(min, max) is { } r2 ? " in " + r2 : "")}");
        if (v < min || v > max) throw new UsageException($"--{name}: {v} is outside [{Show(min)}, {Show(max)}]");
        return v;
    }

    public float Float(string name, float fallback)
    {
        read.Add(name);
        Record(name, "number", fallback.ToString("G", CultureInfo.InvariantCulture));
        if (!options.TryGetValue(name, out var s) || probed is not null) return fallback;
        if (s is null) throw new UsageException($"--{name} needs a value (a finite number)");
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v))
            throw new UsageException($"--{name}: '{s}' is not a finite number");
        return v;
    }

    /// <summary>A comma-separated list of integers in [min, max], e.g. <c>--steps 1,2,4,8</c>; at least one.</summary>
    public int[] IntList(string name, int[] fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        read.Add(name);
        Record(name, "int list", string.Join(",", fallback), RangeText(min, max));
        if (!options.TryGetValue(name, out var s) || probed is not null) return fallback;
        if (s is null) throw new UsageException($"--{name} needs a value (comma-separated integers)");
        var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out values[i]) || values[i] < min || values[i] > max)
                throw new UsageException($"--{name}: '{parts[i]}' is not an integer in [{Show(min)}, {Show(max)}]");
        return values.Length > 0 ? values : throw new UsageException($"--{name}: give at least one value");
    }

    /// <summary>
    /// Throws if an option was given that no getter asked for (a typo, or an option of another command). A probing instance
    /// throws <see cref="OptionsProbed"/> here instead, so the command stops before it does any work.
    /// </summary>
    public void RejectUnknown()
    {
        if (probed is not null) throw new OptionsProbed(probed);
        var unknown = options.Keys.Where(k => !read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option --{unknown[0]}");
    }
}
