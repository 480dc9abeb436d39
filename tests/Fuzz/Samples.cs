using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Engine.IO;

namespace Engine.Tests.Fuzz;

/// <summary>A PNG as its list of chunks, so a campaign can change one chunk and still give it a valid CRC.</summary>
sealed class PngChunks
{
    public List<(string Type, byte[] Data)> Chunks { get; } = [];

    public byte[] ToBytes()
    {
        using var ms = new MemoryStream();
        ms.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        Span<byte> word = stackalloc byte[4];
        foreach (var (type, data) in Chunks)
        {
            BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
            ms.Write(word);
            byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
            ms.Write(typed);
            BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Compute(typed));
            ms.Write(word);
        }
        return ms.ToArray();
    }

    /// <summary>Bytes of filtered scanlines a PNG of this geometry holds (one filter byte per row, per Adam7 pass when interlaced).</summary>
    public static long ScanlineBytes(int width, int height, int colorType, int depth, bool interlaced)
    {
        int samples = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        long Rows(long w, long h) => w == 0 || h == 0 ? 0 : h * (1 + (w * samples * depth + 7) / 8);
        if (!interlaced) return Rows(width, height);
        (int X, int Y, int Dx, int Dy)[] passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
        return passes.Sum(p => Rows(Math.Max(0, (width - p.X + p.Dx - 1) / p.Dx), Math.Max(0, (height - p.Y + p.Dy - 1) / p.Dy)));
    }

    /// <summary>A valid PNG of the given geometry with random pixels (filter type 0 on every row, so any bytes are valid).</summary>
    public static PngChunks Random(Mutator m, int width, int height, int colorType, int depth, bool interlaced)
    {
        var png = new PngChunks();
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = (byte)depth; ihdr[9] = (byte)colorType; ihdr[12] = (byte)(interlaced ? 1 : 0);
        png.Chunks.Add(("IHDR", ihdr));
        if (colorType == 3)
        {
            var palette = new byte[3 * (1 << Math.Min(depth, 8))];
            for (int i = 0; i < palette.Length; i++) palette[i] = (byte)m.Next();
            png.Chunks.Add(("PLTE", palette));
        }
        var raw = new byte[ScanlineBytes(width, height, colorType, depth, interlaced)];
        for (int i = 0; i < raw.Length; i++) raw[i] = (byte)m.Next();
        // Random samples, then filter type 0 ("none") at the start of every row, so any sample bytes are valid.
        FilterZero(raw, width, height, colorType, depth, interlaced);
        png.Chunks.Add(("IDAT", Zlib(raw)));
        png.Chunks.Add(("IEND", []));
        return png;
    }

    /// <summary>A random valid geometry: size 1–16, any colour type with an allowed bit depth, interlaced or not.</summary>
    public static PngChunks RandomValid(Mutator m)
    {
        int color = m.Pick([0, 2, 3, 4, 6]);
        int depth = color switch { 0 => m.Pick([1, 2, 4, 8, 16]), 3 => m.Pick([1, 2, 4, 8]), _ => m.Pick([8, 16]) };
        return Random(m, 1 + m.Below(16), 1 + m.Below(16), color, depth, m.Chance(0.3));
    }

    static void FilterZero(byte[] raw, int width, int height, int colorType, int depth, bool interlaced)
    {
        int samples = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        (int X, int Y, int Dx, int Dy)[] passes = interlaced
            ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            : [(0, 0, 1, 1)];
        long at = 0;
        foreach (var p in passes)
        {
            long w = Math.Max(0, (width - p.X + p.Dx - 1) / p.Dx), h = Math.Max(0, (height - p.Y + p.Dy - 1) / p.Dy);
            if (w == 0 || h == 0) continue;
            long row = 1 + (w * samples * depth + 7) / 8;
            for (long y = 0; y < h; y++, at += row) raw[at] = 0;
        }
    }

    public static byte[] Zlib(ReadOnlySpan<byte> data)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Fastest, leaveOpen: true)) z.Write(data);
        return ms.ToArray();
    }
}

/// <summary>
/// Compressed streams that inflate to far more than they hold, built without compressing the whole payload: a
/// deflate block that encodes 1 MiB of zeros only by references to earlier zeros is repeated as often as wanted.
/// </summary>
static class Bombs
{
    const int Mebibyte = 1 << 20;
    static readonly Lazy<(byte[] Head, byte[] Repeat)> Segments = new(BuildSegments);

    static (byte[], byte[]) BuildSegments()
    {
        var zeros = new byte[Mebibyte];
        using var ms = new MemoryStream();
        using var z = new ZLibStream(ms, CompressionLevel.SmallestSize, leaveOpen: true);
        z.Write(zeros); z.Flush();                                        // sync flush: byte aligned, not final
        int head = (int)ms.Length;
        z.Write(zeros); z.Flush();
        var all = ms.ToArray();
        return (all[..head], all[head..]);
    }

    /// <summary>A zlib stream (with its Adler-32) of <paramref name="mebibytes"/> MiB of zeros.</summary>
    public static byte[] ZlibZeros(int mebibytes)
    {
        var (head, repeat) = Segments.Value;
        long n = (long)mebibytes * Mebibyte;
        using var ms = new MemoryStream();
        ms.Write(head);
        for (int i = 1; i < mebibytes; i++) ms.Write(repeat);
        ms.Write([0x03, 0x00]);                                          // a final, empty block with fixed codes
        Span<byte> adler = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(adler, (uint)((n % 65521) << 16 | 1));   // a = 1 + Σ 0, b = Σ a = n
        ms.Write(adler);
        return ms.ToArray();
    }

    public static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    /// <summary>A gzip stream of an IDX header claiming <paramref name="shape"/> followed by <paramref name="zeros"/> zero bytes, compressed a mebibyte at a time.</summary>
    public static byte[] GzipIdx(int[] shape, long zeros)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(IdxHeader(shape));
            var block = new byte[Mebibyte];
            for (long left = zeros; left > 0; left -= block.Length) gz.Write(block, 0, (int)Math.Min(block.Length, left));
        }
        return ms.ToArray();
    }

    public static byte[] IdxHeader(int[] shape)
    {
        var h = new byte[4 + 4 * shape.Length];
        h[2] = 0x08; h[3] = (byte)shape.Length;
        for (int i = 0; i < shape.Length; i++) BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4 + 4 * i), shape[i]);
        return h;
    }
}
