using System.Buffers.Binary;
using StbImageSharp;
using StbImageWriteSharp;

namespace Engine.IO;

/// <summary>Decoded 8-bit pixels, row-major and interleaved: <c>Pixels[(y * Width + x) * Channels + c]</c>.</summary>
public sealed record PngImage(byte[] Pixels, int Width, int Height, int Channels);

/// <summary>
/// Reading and writing PNG files. Reads check the chunk structure (signature, chunk lengths, CRCs, IHDR first,
/// IEND last) before decoding, so a truncated or damaged file is a <see cref="CorruptFileException"/> naming it
/// rather than a half-decoded image. Writes are atomic (<see cref="AtomicFile"/>).
/// </summary>
/// <example><c>Png.Write("gray.png", new byte[16 * 16], 16, 16, 1);</c></example>
public static class Png
{
    /// <summary>Largest image accepted on read and written by <see cref="ImageGrid"/>, in pixels (4096×4096).</summary>
    public const long MaxPixels = 1L << 24;

    /// <summary>
    /// Largest inflated image data accepted on read, in bytes: a 4096×4096 RGBA image at 8 bits with its filter
    /// bytes fits. With <see cref="MaxPixels"/> this bounds what decoding a small file can allocate.
    /// </summary>
    public const long MaxImageDataBytes = (1L << 26) + (1L << 16);

    static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Writes 8-bit interleaved pixels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA channels) as a PNG at <paramref name="path"/>, atomically.</summary>
    public static void Write(string path, byte[] pixels, int width, int height, int channels)
    {
        var encoded = Encode(pixels, width, height, channels);
        AtomicFile.WriteAllBytes(path, encoded);
    }

    /// <summary>The PNG encoding of 8-bit interleaved pixels.</summary>
    public static byte[] Encode(byte[] pixels, int width, int height, int channels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width <= 0 || height <= 0) throw new ArgumentException($"Png.Write: size {width}x{height} must be positive");
        if (channels is < 1 or > 4) throw new ArgumentException($"Png.Write: {channels} channels; expected 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA)");
        long expected = (long)width * height * channels;
        if (pixels.Length != expected)
            throw new ShapeMismatchException($"Png.Write: {pixels.Length} bytes for a {width}x{height}x{channels} image; expected {expected}");
        var components = channels switch
        {
            1 => StbImageWriteSharp.ColorComponents.Grey,
            2 => StbImageWriteSharp.ColorComponents.GreyAlpha,
            3 => StbImageWriteSharp.ColorComponents.RedGreenBlue,
            _ => StbImageWriteSharp.ColorComponents.RedGreenBlueAlpha,
        };
        using var ms = new MemoryStream();
        new ImageWriter().WritePng(pixels, width, height, components, ms);
        return ms.ToArray();
    }

    /// <summary>Reads the PNG at <paramref name="path"/>; <paramref name="channels"/> 0 keeps the stored channel count, 1–4 converts.</summary>
    public static PngImage Read(string path, int channels = 0)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Png.Read: no file at '{path}'", path);
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes)
            throw new CorruptFileException(path, $"PNG: file is {length} bytes, above the limit of {MaxFileBytes}");
        return Decode(File.ReadAllBytes(path), path, channels);
    }

    /// <summary>Decodes PNG <paramref name="bytes"/>; <paramref name="source"/> names them in errors.</summary>
    public static PngImage Decode(byte[] bytes, string source, int channels = 0)
    {
        if (channels is < 0 or > 4) throw new ArgumentException($"Png.Read: {channels} channels requested; expected 0 (as stored) or 1–4");
        ValidateStructure(bytes, source);
        var wanted = channels switch
        {
            0 => StbImageSharp.ColorComponents.Default,
            1 => StbImageSharp.ColorComponents.Grey,
            2 => StbImageSharp.ColorComponents.GreyAlpha,
            3 => StbImageSharp.ColorComponents.RedGreenBlue,
            _ => StbImageSharp.ColorComponents.RedGreenBlueAlpha,
        };
        ImageResult img;
        try { img = ImageResult.FromMemory(bytes, wanted); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or NullReferenceException)
        {
            throw new CorruptFileException(source, $"PNG: cannot decode image data ({e.Message})");
        }
        int comp = (int)img.Comp;
        if (img.Data is null || img.Data.Length != (long)img.Width * img.Height * comp)
            throw new CorruptFileException(source, "PNG: decoder returned no or incomplete pixel data");
        return new PngImage(img.Data, img.Width, img.Height, comp);
    }

    /// <summary>Largest PNG file accepted on read, in bytes.</summary>
    public const long MaxFileBytes = 1L << 30;

    /// <summary>
    /// Walks the chunk list: signature, IHDR first with valid fields and a size within <see cref="MaxPixels"/>, every
    /// chunk inside the file with a matching CRC, at least one IDAT, and IEND at the very end; then inflates the image
    /// data into a scratch buffer to check it yields exactly the bytes the header needs, stopping as soon as it yields
    /// more (so a decompression bomb costs no memory). Throws <see cref="CorruptFileException"/> naming <paramref name="source"/>.
    /// </summary>
    public static void ValidateStructure(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.Length < Signature.Length || !bytes[..Signature.Length].SequenceEqual(Signature))
            throw new CorruptFileException(source, "PNG: missing the 8-byte PNG signature (not a PNG file)");
        int pos = Signature.Length;
        PngImageData.Header? header = null;
        var idat = new List<(int Offset, int Length)>();
        long idatBytes = 0;
        while (true)
        {
            if (bytes.Length - pos < 12)
                throw new CorruptFileException(source, $"PNG: truncated at byte {pos} of {bytes.Length} (chunk header or IEND missing)");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(bytes[pos..]);
            var type = bytes.Slice(pos + 4, 4);
            string typeName = ChunkName(type);
            if (length > int.MaxValue || length > (ulong)(bytes.Length - pos - 12))
                throw new CorruptFileException(source, $"PNG: chunk '{typeName}' at byte {pos} claims {length} bytes but only {bytes.Length - pos - 12} remain (file truncated)");
            var data = bytes.Slice(pos + 8, (int)length);
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(bytes[(pos + 8 + (int)length)..]);
            uint actual = Crc32.Compute(bytes.Slice(pos + 4, 4 + (int)length));
            if (stored != actual)
                throw new CorruptFileException(source, $"PNG: chunk '{typeName}' at byte {pos} has CRC {stored:x8}, computed {actual:x8} (damaged data)");
            if (header is null)
            {
                if (typeName != "IHDR" || length != 13)
                    throw new CorruptFileException(source, $"PNG: first chunk is '{typeName}' ({length} bytes); expected IHDR (13 bytes)");
                header = PngImageData.ReadHeader(data, source);
            }
            else if (typeName == "IHDR")
                throw new CorruptFileException(source, $"PNG: a second IHDR chunk at byte {pos}");
            if (typeName == "IDAT")
            {
                idat.Add((pos + 8, (int)length));
                idatBytes += length;
            }
            pos += 12 + (int)length;
            if (typeName == "IEND")
            {
                if (idat.Count == 0) throw new CorruptFileException(source, "PNG: no IDAT chunk before IEND (no image data)");
                var compressed = new byte[idatBytes];
                int at = 0;
                foreach (var (offset, n) in idat) { bytes.Slice(offset, n).CopyTo(compressed.AsSpan(at)); at += n; }
                PngImageData.CheckInflatedSize(header.Value, compressed, source);
                return;
            }
        }
    }

    /// <summary>A chunk type for messages: its four letters when they are ASCII letters, else their hex codes.</summary>
    static string ChunkName(ReadOnlySpan<byte> type)
    {
        foreach (var b in type)
            if (!char.IsAsciiLetter((char)b)) return Convert.ToHexString(type);
        return System.Text.Encoding.ASCII.GetString(type);
    }
}

/// <summary>CRC-32 (ISO-HDLC, as PNG uses), table driven.</summary>
static class Crc32
{
    static readonly uint[] Table = Build();

    static uint[] Build()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}
