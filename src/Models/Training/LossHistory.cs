using System.Globalization;
using System.Text;
using Engine.IO;

namespace Models.Training;

/// <summary>One row of <c>loss.csv</c>: the step it belongs to (1-based), the loss and the named parts.</summary>
public sealed record LossRow(int Step, float Loss, float[] Parts);

/// <summary>
/// A run's <c>loss.csv</c>: <c>step,loss[,part…]</c>, one row per step, each row carrying its step number. Read back
/// for a resume, rows after the checkpoint's step are dropped, so the history never runs ahead of the weights.
/// </summary>
public static class LossHistory
{
    public const string FileName = "loss.csv";

    public static void Write(string dir, IReadOnlyList<LossRow> rows, IReadOnlyList<string> partNames)
    {
        var sb = new StringBuilder("step,loss");
        foreach (var n in partNames) sb.Append(',').Append(n);
        sb.Append('\n');
        foreach (var r in rows)
        {
            sb.Append(r.Step.ToString(CultureInfo.InvariantCulture)).Append(',').Append(r.Loss.ToString("R", CultureInfo.InvariantCulture));
            foreach (var p in r.Parts) sb.Append(',').Append(p.ToString("R", CultureInfo.InvariantCulture));
            sb.Append('\n');
        }
        AtomicFile.WriteAllText(Path.Combine(dir, FileName), sb.ToString());
    }

    /// <summary>The rows of steps 1..<paramref name="upToStep"/> from <c>dir/loss.csv</c> (none if it is missing); unreadable rows end the read.</summary>
    public static List<LossRow> Read(string dir, int upToStep) => Read(dir, upToStep, out _);

    /// <summary>As <see cref="Read(string, int)"/>, also giving the names of the parts from the header.</summary>
    public static List<LossRow> Read(string dir, int upToStep, out string[] partNames)
    {
        var path = Path.Combine(dir, FileName);
        var rows = new List<LossRow>();
        partNames = [];
        if (!File.Exists(path)) return rows;
        var header = File.ReadLines(path).FirstOrDefault()?.Split(',') ?? [];
        if (header.Length >= 2) partNames = header[2..];
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var parts = line.Split(',');
            if (parts.Length < 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int step)
                || !float.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var loss)) break;
            if (step > upToStep) break;
            var extra = new float[parts.Length - 2];
            for (int i = 0; i < extra.Length; i++)
                if (!float.TryParse(parts[i + 2], NumberStyles.Float, CultureInfo.InvariantCulture, out extra[i])) extra[i] = float.NaN;
            rows.Add(new LossRow(step, loss, extra));
        }
        return rows;
    }
}
