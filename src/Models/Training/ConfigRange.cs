using System.Globalization;

namespace Models.Training;

/// <summary>Range checks for config values, run before anything is allocated from them.</summary>
public static class ConfigRange
{
    /// <summary>Throws an <see cref="ArgumentException"/> naming the first field outside its range, its value and the range.</summary>
    /// <example><c>ConfigRange.Check("DitConfig", ("Width", 256, 4, 8192), ("Depth", 6, 0, 128));</c></example>
    public static void Check(string owner, params (string Name, double Value, double Min, double Max)[] fields)
    {
        foreach (var (name, value, min, max) in fields)
            if (!(value >= min && value <= max))
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{owner}: {name} = {value} is outside [{min}, {max}]"));
    }
}
