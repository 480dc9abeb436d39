using System.Buffers.Binary;
using System.IO.Compression;

namespace Engine.IO;

/// <summary>
/// The size checks of a PNG's header and compressed image data, made before the decoder sees them. The header
/// fixes exactly how many bytes the image data inflates to (one filter byte plus the packed samples per row, per
/// Adam7 pass when interlaced); the zlib stream is inflated into a small scratch buffer and rejected as soon as it
/// yields more than that, so a small file cannot make the decoder inflate gigabytes (a decompression bomb).
/// </summary>
static class PngImageData
{
    /// <summary>The fields of an IHDR chunk that fix the size of the image data.</summary>
    internal readonly record struct Header(uint Width, uint Height, int BitDepth, int ColorType, bool Interlaced)
    {
        /// <summary>Samples per pixel for the colour type: grey 1, RGB 3, palette index 1, grey+alpha 2, RGBA 4.</summary>
        public int Samples => ColorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };

        /// <summary>Bytes of filtered scanlines the image data must inflate to.</summary>
        public long InflatedBytes
        {
            get
            {
                if (!Interlaced) return Rows(Width, Height);
                // Adam7: the seven passes of (x0, y0, dx, dy); an empty pass has no rows and no filter bytes.
                ReadOnlySpan<int> pass = [0, 0, 8, 8, 4, 0, 8, 8, 0, 4, 4, 8, 2, 0, 4, 4, 0, 2, 2, 4, 1, 0, 2, 2, 0, 1, 1, 2];
                long total = 0;
                for (int p = 0; p < 7; p++)
                {
                    long w = (Width - pass[4 * p] + (long)pass[4 * p + 2] - 1) / pass[4 * p + 2];
                    long h = (Height - pass[4 * p + 1] + (long)pass[4 * p + 3] - 1) / pass[4 * p + 3];
                    if (w > 0 && h > 0) total += Rows(w, h);
                }
                return total;
            }
        }

        long Rows(long w, long h) => h * (1 + (w * Samples * BitDepth + 7) / 8);
    }

    /// <summary>Parses the 13 data bytes of IHDR and checks each field against the PNG specification and <see cref="Png.MaxPixels"/>.</summary>
    internal static Header ReadHeader(ReadOnlySpan<byte> ihdr, string source)
    {
        uint w = BinaryPrimitives.ReadUInt32BigEndian(ihdr), h = BinaryPrimitives.ReadUInt32BigEndian(ihdr[4..]);
        if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue || (ulong)w * h > Png.MaxPixels)
            throw new CorruptFileException(source, $"PNG: image size {w}x{h} is empty or above the limit of {Png.MaxPixels} pixels");
        int depth = ihdr[8], color = ihdr[9];
        bool allowed = color switch
        {
            0 => depth is 1 or 2 or 4 or 8 or 16,
            3 => depth is 1 or 2 or 4 or 8,
            2 or 4 or 6 => depth is 8 or 16,
            _ => false,
        };
        if (!allowed)
            throw new CorruptFileException(source, $"PNG: colour type {color} with bit depth {depth} is not a valid combination");
        if (ihdr[10] != 0 || ihdr[11] != 0)
            throw new CorruptFileException(source, $"PNG: compression method {ihdr[10]} / filter method {ihdr[11]}; only 0 / 0 exist");
        if (ihdr[12] > 1)
            throw new CorruptFileException(source, $"PNG: interlace method {ihdr[12]}; expected 0 (none) or 1 (Adam7)");
        var header = new Header(w, h, depth, color, ihdr[12] == 1);
        if (header.InflatedBytes > Png.MaxImageDataBytes)
            throw new CorruptFileException(source, $"PNG: a {w}x{h} image of colour type {color}, depth {depth} needs {header.InflatedBytes} bytes of image data, above the limit of {Png.MaxImageDataBytes}");
        return header;
    }

    /// <summary>
    /// Inflates the concatenated IDAT data without keeping it and checks that it yields exactly the bytes the header
    /// needs; stops reading as soon as it yields more.
    /// </summary>
    internal static void CheckInflatedSize(Header header, byte[] compressed, string source)
    {
        long expected = header.InflatedBytes;
        var scratch = new byte[(int)Math.Min(1 << 16, expected + 1)];
        long total = 0;
        try
        {
            using var z = new ZLibStream(new MemoryStream(compressed, writable: false), CompressionMode.Decompress);
            int n;
            while ((n = z.Read(scratch)) > 0)
            {
                total += n;
                if (total > expected)
                    throw new CorruptFileException(source,
                        $"PNG: image data inflates to more than the {expected} bytes a {header.Width}x{header.Height} image of colour type {header.ColorType}, depth {header.BitDepth} needs (decompression bomb or damaged data); stopped after {total} bytes from {compressed.Length} compressed");
            }
        }
        catch (Exception e) when (e is InvalidDataException || e is IOException && e is not CorruptFileException)
        {
            // The inflater reads from memory, so an IOException can only be zlib refusing the data (its ZLibException).
            throw new CorruptFileException(source, $"PNG: image data is not a valid zlib stream ({e.Message})");
        }
        if (total < expected)
            throw new CorruptFileException(source,
                $"PNG: image data inflates to {total} bytes but a {header.Width}x{header.Height} image of colour type {header.ColorType}, depth {header.BitDepth} needs {expected} (truncated or damaged data)");
    }
}
