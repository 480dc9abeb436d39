using System.Text;

namespace Engine.Tests.Fuzz;

/// <summary>
/// Seeded mutations of file bytes for the reader campaigns: bit flips, byte overwrites, insertions, deletions,
/// truncations, duplicated ranges and integers overwritten with edge values. The generator is a SplitMix64 stream
/// of its own, so a case number and a seed give the same file on every platform and .NET version. Every mutation
/// applied is written to <see cref="Log"/>, which a failing case prints so it can be reproduced by hand.
/// </summary>
sealed class Mutator(ulong seed)
{
    ulong state = seed;

    /// <summary>What was done to the input, in order.</summary>
    public List<string> Log { get; } = [];

    /// <summary>Integers that make readers misbehave: signs, powers of two and their neighbours, type limits.</summary>
    public static readonly long[] Interesting =
    [
        0, 1, 2, 3, 7, 8, 13, 16, 255, 256, 1023, 1024, 3073, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 1 << 20, 1 << 24,
        0x7FFFFFC7, int.MaxValue, 1L << 31, uint.MaxValue, 1L << 32, 1L << 40, (1L << 53) + 1, long.MaxValue,
        -1, -2, -256, int.MinValue, long.MinValue,
    ];

    public ulong Next()
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, <paramref name="n"/>); 0 when <paramref name="n"/> ≤ 0.</summary>
    public int Below(int n) => n <= 0 ? 0 : (int)(Next() % (ulong)n);

    public bool Chance(double p) => (Next() >> 11) * (1.0 / (1UL << 53)) < p;

    public T Pick<T>(IReadOnlyList<T> items) => items[Below(items.Count)];

    public long InterestingValue() => Pick(Interesting);

    /// <summary>Applies one to <paramref name="maxOps"/> random byte-level mutations to a copy of <paramref name="input"/>.</summary>
    public byte[] Mutate(byte[] input, int maxOps = 4)
    {
        var bytes = new List<byte>(input);
        int ops = 1 + Below(maxOps);
        for (int k = 0; k < ops; k++) MutateOnce(bytes);
        return [.. bytes];
    }

    void MutateOnce(List<byte> b)
    {
        int pos = Below(b.Count);
        switch (Below(9))
        {
            case 0 when b.Count > 0:
                int bit = Below(8);
                b[pos] ^= (byte)(1 << bit);
                Log.Add($"flip bit {bit} of byte {pos}");
                break;
            case 1 when b.Count > 0:
                byte v = Pick<byte>([0x00, 0x01, 0x7F, 0x80, 0xFF, (byte)'"', (byte)'\\', (byte)'{', (byte)'[', (byte)'-']);
                b[pos] = v;
                Log.Add($"set byte {pos} to 0x{v:x2}");
                break;
            case 2:
                int at = Below(b.Count + 1), n = 1 + Below(Chance(0.2) ? 4096 : 16);
                byte fill = (byte)Next();
                bool random = Chance(0.5);
                b.InsertRange(at, Enumerable.Range(0, n).Select(_ => random ? (byte)Next() : fill));
                Log.Add($"insert {n} {(random ? "random bytes" : $"bytes 0x{fill:x2}")} at {at}");
                break;
            case 3 when b.Count > 0:
                int len = 1 + Below(Math.Min(64, b.Count - pos));
                b.RemoveRange(pos, len);
                Log.Add($"delete {len} bytes at {pos}");
                break;
            case 4:
                int keep = Below(b.Count);
                b.RemoveRange(keep, b.Count - keep);
                Log.Add($"truncate to {keep} bytes");
                break;
            case 5 when b.Count > 0:
                int dl = 1 + Below(Math.Min(256, b.Count - pos)), to = Below(b.Count + 1);
                b.InsertRange(to, b.GetRange(pos, dl));
                Log.Add($"copy {dl} bytes from {pos} to {to}");
                break;
            case 6 when b.Count >= 4:
                OverwriteInteger(b, Below(b.Count - 3), 4, Chance(0.5));
                break;
            case 7 when b.Count >= 8:
                OverwriteInteger(b, Below(b.Count - 7), 8, Chance(0.5));
                break;
            default:
                int extra = 1 + Below(64);
                for (int i = 0; i < extra; i++) b.Add((byte)Next());
                Log.Add($"append {extra} random bytes");
                break;
        }
    }

    /// <summary>Writes an edge value as a <paramref name="width"/>-byte integer at <paramref name="offset"/>.</summary>
    public void OverwriteInteger(IList<byte> b, int offset, int width, bool bigEndian)
    {
        long value = InterestingValue();
        if (Chance(0.3)) value += Below(5) - 2;
        var raw = BitConverter.GetBytes(value);                // little-endian hosts only, as the engine
        for (int i = 0; i < width; i++) b[offset + i] = raw[bigEndian ? width - 1 - i : i];
        Log.Add($"write {value} as {width}-byte {(bigEndian ? "big" : "little")}-endian at {offset}");
    }

    /// <summary>Replaces one run of digits in <paramref name="text"/> with an edge value (or its float spelling).</summary>
    public string ReplaceNumber(string text)
    {
        var runs = new List<(int Start, int Length)>();
        for (int i = 0; i < text.Length;)
        {
            if (!char.IsAsciiDigit(text[i])) { i++; continue; }
            int s = i;
            while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
            runs.Add((s, i - s));
        }
        if (runs.Count == 0) return text;
        var (start, length) = Pick(runs);
        string replacement = Chance(0.15)
            ? Pick(["1e300", "1.5", "-0", "18446744073709551616", "9223372036854775808", "1E2", "0x10", "NaN", "\"7\""])
            : InterestingValue().ToString();
        Log.Add($"replace number '{text.Substring(start, length)}' at {start} with {replacement}");
        return text[..start] + replacement + text[(start + length)..];
    }

    /// <summary>Inserts <paramref name="piece"/> at a random position inside a random string literal of JSON <paramref name="text"/> (or anywhere when there is none).</summary>
    public string InsertInString(string text, string piece)
    {
        var quotes = new List<int>();
        for (int i = 0; i < text.Length; i++) if (text[i] == '"') quotes.Add(i);
        int at = quotes.Count > 0 ? Pick(quotes) + 1 : Below(text.Length + 1);
        Log.Add($"insert {Escape(piece)} at {at}");
        return text[..at] + piece + text[at..];
    }

    /// <summary>Inserts raw bytes into UTF-8 <paramref name="text"/> just after a random quote (so inside a name or string).</summary>
    public byte[] InsertBytesInString(string text, byte[] piece)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        var quotes = new List<int>();
        for (int i = 0; i < utf8.Length; i++) if (utf8[i] == '"') quotes.Add(i);
        int at = quotes.Count > 0 ? Pick(quotes) + 1 : Below(utf8.Length + 1);
        Log.Add($"insert bytes {Convert.ToHexString(piece)} at {at}");
        return [.. utf8[..at], .. piece, .. utf8[at..]];
    }

    static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\0", "\\0");
}
