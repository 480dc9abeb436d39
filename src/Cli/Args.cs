namespace Cli;

/// <summary>A command line error: printed as one line, exit code 2, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Parsed arguments: positionals and <c>--name value</c> / <c>--flag</c> options. Getters convert and
/// validate, and every option a command reads is checked off, so an unknown option is an error.
/// </summary>
public sealed class Args
{
    readonly Dictionary<string, string?> options = new(StringComparer.Ordinal);
    readonly HashSet<string> read = [];
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

    /// <summary>Whether the option was given (without marking it read).</summary>
    public bool Has(string name) => options.ContainsKey(name);

    public bool Flag(string name)
    {
        read.Add(name);
        if (!options.TryGetValue(name, out var v)) return false;
        if (v is null) return true;
        // A flag followed by a positional: give the positional back.
        Positionals.Add(v); options[name] = null;
        return true;
    }

    public string? String(string name) { read.Add(name); return options.TryGetValue(name, out var v) ? v ?? throw new UsageException($"--{name} needs a value") : null; }
    public string String(string name, string fallback) => String(name) ?? fallback;

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = String(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, out var v)) throw new UsageException($"--{name}: '{s}' is not an integer");
        if (v < min || v > max) throw new UsageException($"--{name}: {v} is outside [{min}, {max}]");
        return v;
    }

    public float Float(string name, float fallback)
    {
        var s = String(name);
        if (s is null) return fallback;
        if (!float.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v))
            throw new UsageException($"--{name}: '{s}' is not a finite number");
        return v;
    }

    /// <summary>A comma-separated list of integers in [min, max], e.g. <c>--steps 1,2,4,8</c>; at least one.</summary>
    public int[] IntList(string name, int[] fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = String(name);
        if (s is null) return fallback;
        var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out values[i]) || values[i] < min || values[i] > max)
                throw new UsageException($"--{name}: '{parts[i]}' is not an integer in [{min}, {max}]");
        return values.Length > 0 ? values : throw new UsageException($"--{name}: give at least one value");
    }

    /// <summary>Throws if an option was given that no getter asked for (a typo, or an option of another command).</summary>
    public void RejectUnknown()
    {
        var unknown = options.Keys.Where(k => !read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option --{unknown[0]}");
    }
}
