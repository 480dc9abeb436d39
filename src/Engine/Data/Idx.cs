using System.Buffers.Binary;
using System.IO.Compression;

namespace Engine.Data;

/// <summary>An IDX array of unsigned bytes: the raw values in row-major order and the shape from the file header.</summary>
public sealed record IdxArray(byte[] Data, int[] Shape);

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST: magic <c>00 00 type dims</c>, <c>dims</c> big-endian int32 sizes,
/// then the values. Files may be gzip-compressed (detected by the <c>1f 8b</c> magic). Only the unsigned-byte
/// type (0x08) is read. Anything malformed or truncated is a <see cref="CorruptFileException"/>.
/// </summary>
/// <example><c>var x = Idx.ReadImages("t10k-images-idx3-ubyte.gz"); // (10000, 1, 28, 28) in [0, 1]</c></example>
public static class Idx
{
    const byte UByte = 0x08;
    const int MaxDims = 8;

    /// <summary>Reads the raw bytes and shape of the IDX file at <paramref name="path"/> (plain or gzip).</summary>
    public static IdxArray ReadRaw(string path)
    {
        if (!File.Exists(path)) throw new MissingDataException($"Idx: no file at '{path}'");
        using var file = File.OpenRead(path);
        return ReadRaw(file, path);
    }

    /// <summary>
    /// A gzip-compressed IDX file may claim at most this many times its own size in data (plus
    /// <see cref="GzipAllowanceBytes"/>); real image and label files expand 2 to 5 times. Beyond that the file is
    /// rejected before anything is allocated, so a small file cannot ask for gigabytes. A plain file has no such
    /// limit: its data must be exactly what its header claims.
    /// </summary>
    public const int MaxGzipExpansion = 32;

    /// <summary>Data a gzip-compressed IDX file may always claim, whatever its size (see <see cref="MaxGzipExpansion"/>).</summary>
    public const long GzipAllowanceBytes = 1L << 20;

    const int GrowthStartBytes = 1 << 20;

    /// <summary>
    /// Reads an IDX array from <paramref name="stream"/> (plain or gzip); <paramref name="source"/> names it in errors.
    /// When the stream can seek, the sizes in the header are checked against its length before memory is allocated
    /// (exactly for a plain file, within <see cref="MaxGzipExpansion"/> for a gzip one); otherwise the buffer grows
    /// only as data arrives.
    /// </summary>
    public static IdxArray ReadRaw(Stream stream, string source)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long? remaining = stream.CanSeek ? Math.Max(0, stream.Length - stream.Position) : null;
        var buffered = new BufferedStream(stream, 1 << 16);
        int b0 = buffered.ReadByte(), b1 = buffered.ReadByte();
        if (b0 < 0 || b1 < 0) throw new CorruptFileException(source, "IDX: file is shorter than its 4-byte magic");
        Stream body = new PrefixedStream([(byte)b0, (byte)b1], buffered);
        bool gzip = b0 == 0x1f && b1 == 0x8b;
        if (gzip) body = new GZipStream(body, CompressionMode.Decompress);
        try { return ReadBody(body, source, gzip, remaining); }
        catch (InvalidDataException e) { throw new CorruptFileException(source, $"IDX: gzip stream is damaged ({e.Message})"); }
        catch (IOException e) when (e is not CorruptFileException && e.GetType().Namespace == typeof(GZipStream).Namespace)
        {
            // zlib refusing the data surfaces as System.IO.Compression's non-public ZLibException, an IOException;
            // an IOException from the file itself (a failing disk) is left as it is.
            throw new CorruptFileException(source, $"IDX: gzip stream is damaged ({e.Message})");
        }
        finally { body.Dispose(); }
    }

    /// <summary>Reads the header and the data; <paramref name="fileBytes"/> is the length of the (possibly compressed) file when known.</summary>
    static IdxArray ReadBody(Stream s, string source, bool gzip, long? fileBytes)
    {
        Span<byte> magic = stackalloc byte[4];
        if (!TryReadExactly(s, magic)) throw new CorruptFileException(source, "IDX: file is shorter than its 4-byte magic");
        if (magic[0] != 0 || magic[1] != 0)
            throw new CorruptFileException(source, $"IDX: bad magic {magic[0]:x2} {magic[1]:x2} {magic[2]:x2} {magic[3]:x2}; expected 00 00 <type> <dims>");
        if (magic[2] != UByte)
            throw new CorruptFileException(source, $"IDX: element type 0x{magic[2]:x2} is not supported; expected 0x08 (unsigned byte)");
        int dims = magic[3];
        if (dims is < 1 or > MaxDims)
            throw new CorruptFileException(source, $"IDX: {dims} dimensions; expected 1 to {MaxDims}");

        var sizes = new byte[4 * dims];
        if (!TryReadExactly(s, sizes)) throw new CorruptFileException(source, $"IDX: header truncated; expected {dims} dimension sizes");
        var shape = new int[dims];
        double product = 1;                      // exact whenever it is small enough to matter (integers below 2^53, or 0)
        for (int i = 0; i < dims; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(sizes.AsSpan(4 * i));
            if (d > int.MaxValue) throw new CorruptFileException(source, $"IDX: dimension {i} has size {d}, above {int.MaxValue}");
            shape[i] = (int)d;
            product *= d;
        }
        if (product > Array.MaxLength)
            throw new CorruptFileException(source, $"IDX: shape {Shapes.Format(shape)} has {product:G4} elements, more than an array can hold");
        long count = (long)product;
        long headerBytes = 4 + 4L * dims;

        if (fileBytes is long length && !gzip)
        {
            long held = length - headerBytes;
            if (count > held)
                throw new CorruptFileException(source, $"IDX: truncated; shape {Shapes.Format(shape)} needs {count} data bytes but the file holds {held} after its {headerBytes}-byte header");
            if (count < held)
                throw new CorruptFileException(source, $"IDX: {held - count} trailing bytes after the {count} data bytes of shape {Shapes.Format(shape)}");
        }
        if (fileBytes is long compressed && gzip)
        {
            long allowed = compressed >= long.MaxValue / (2L * MaxGzipExpansion) ? long.MaxValue : compressed * MaxGzipExpansion + GzipAllowanceBytes;
            if (headerBytes + count > allowed)
                throw new CorruptFileException(source,
                    $"IDX: shape {Shapes.Format(shape)} claims {count} data bytes, more than a gzip file of {compressed} bytes may expand to ({allowed} bytes: {MaxGzipExpansion} times its size plus {GzipAllowanceBytes}); decompress it and read the plain file to lift this limit");
        }

        var data = fileBytes is null ? ReadGrowing(s, count) : new byte[count];
        if (fileBytes is not null && !TryReadExactly(s, data))
            throw new CorruptFileException(source, $"IDX: truncated; shape {Shapes.Format(shape)} needs {count} data bytes");
        if (data.Length < count)
            throw new CorruptFileException(source, $"IDX: truncated; shape {Shapes.Format(shape)} needs {count} data bytes but the stream ends after {data.Length}");
        if (s.ReadByte() >= 0)
            throw new CorruptFileException(source, $"IDX: trailing bytes after the {count} data bytes of shape {Shapes.Format(shape)}");
        return new IdxArray(data, shape);
    }

    /// <summary>
    /// Reads up to <paramref name="count"/> bytes from a stream of unknown length into a buffer that doubles as data
    /// arrives, so memory follows the data actually present rather than the size a header claims. Returns fewer
    /// bytes when the stream ends first.
    /// </summary>
    static byte[] ReadGrowing(Stream s, long count)
    {
        var buffer = new byte[Math.Min(count, GrowthStartBytes)];
        int filled = 0;
        while (filled < count)
        {
            if (filled == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
            int n = s.Read(buffer, filled, buffer.Length - filled);
            if (n == 0) { Array.Resize(ref buffer, filled); break; }
            filled += n;
        }
        return buffer;
    }

    /// <summary>Reads an images file of shape (N, H, W) as a tensor (N, 1, H, W) scaled to [0, 1].</summary>
    public static Tensor ReadImages(string path) => ToImages(ReadRaw(path), path);

    /// <summary>Reads a labels file of shape (N) as class indices.</summary>
    public static int[] ReadLabels(string path) => ToLabels(ReadRaw(path), path);

    /// <summary>Converts a raw (N, H, W) array to a tensor (N, 1, H, W) in [0, 1].</summary>
    public static Tensor ToImages(IdxArray raw, string source)
    {
        if (raw.Shape.Length != 3)
            throw new CorruptFileException(source, $"IDX: images file has shape {Shapes.Format(raw.Shape)}; expected (N, H, W)");
        var values = new float[raw.Data.Length];
        Pixels.ToUnit(raw.Data, values);
        return Tensor.Wrap(values, raw.Shape[0], 1, raw.Shape[1], raw.Shape[2]);      // (N, 1, H, W)
    }

    /// <summary>Converts a raw (N) array to class indices.</summary>
    public static int[] ToLabels(IdxArray raw, string source)
    {
        if (raw.Shape.Length != 1)
            throw new CorruptFileException(source, $"IDX: labels file has shape {Shapes.Format(raw.Shape)}; expected (N)");
        return Array.ConvertAll(raw.Data, b => (int)b);
    }

    /// <summary>Writes unsigned bytes of <paramref name="shape"/> as an IDX file, gzip-compressed when <paramref name="gzip"/>; atomic.</summary>
    public static void Write(string path, byte[] data, int[] shape, bool gzip = false)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (shape.Length is < 1 or > MaxDims || shape.Any(d => d < 0))
            throw new ShapeMismatchException($"Idx.Write: shape {Shapes.Format(shape)} needs 1 to {MaxDims} non-negative sizes");
        if (data.Length != Shapes.Numel(shape))
            throw new ShapeMismatchException($"Idx.Write: {data.Length} bytes do not fill shape {Shapes.Format(shape)}");
        IO.AtomicFile.Write(path, file =>
        {
            if (!gzip) { WriteBody(file, data, shape); return; }
            using var gz = new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true);
            WriteBody(gz, data, shape);
        });
    }

    static void WriteBody(Stream s, byte[] data, int[] shape)
    {
        s.Write([0, 0, UByte, (byte)shape.Length]);
        Span<byte> d = stackalloc byte[4];
        foreach (var size in shape) { BinaryPrimitives.WriteInt32BigEndian(d, size); s.Write(d); }
        s.Write(data);
    }

    static bool TryReadExactly(Stream s, Span<byte> buffer)
    {
        try { s.ReadExactly(buffer); return true; }
        catch (EndOfStreamException) { return false; }
    }
}
