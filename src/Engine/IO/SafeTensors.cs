using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Engine.IO;

/// <summary>The tensors and string metadata read from a safetensors file.</summary>
public sealed record SafeTensorsContent(Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata);

/// <summary>
/// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// (<c>{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}</c>), then the raw
/// little-endian byte buffer. Writes float32; reads F32, F16, BF16, F64 and the integer and bool dtypes, converting
/// them to float32. Loading treats the file as untrusted: every header defect is a <see cref="CorruptFileException"/>.
/// </summary>
/// <example><c>SafeTensors.Save("model.safetensors", model.StateDict(), new Dictionary&lt;string, string&gt; { ["step"] = "1000" });</c></example>
public static class SafeTensors
{
    /// <summary>Largest JSON header accepted on load (the reference implementation uses the same limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>The reserved header key that holds the string-to-string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    const int ChunkElements = 1 << 18;

    /// <summary>Writes <paramref name="tensors"/> (as float32, sorted by name) and optional metadata to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        Validate(tensors, metadata);
        AtomicFile.Write(path, s => Write(s, tensors, metadata));
    }

    /// <summary>Writes the safetensors encoding of <paramref name="tensors"/> to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        RequireLittleEndian();
        Validate(tensors, metadata);
        var ordered = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        byte[] header = EncodeHeader(ordered, metadata);

        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (var (_, t) in ordered)
        {
            ReadOnlySpan<float> values = t.Contiguous().Span;
            for (int i = 0; i < values.Length; i += ChunkElements)
                stream.Write(MemoryMarshal.AsBytes(values.Slice(i, Math.Min(ChunkElements, values.Length - i))));
        }
    }

    /// <summary>Reads every tensor of the file at <paramref name="path"/>, converted to float32, and its metadata.</summary>
    public static SafeTensorsContent Load(string path)
    {
        using var stream = OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>Reads a safetensors encoding from a seekable <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    public static SafeTensorsContent Read(Stream stream, string source = "<stream>")
    {
        RequireLittleEndian();
        if (!stream.CanSeek) throw new ArgumentException($"SafeTensors.Read: stream for {source} must be seekable");
        var header = SafeTensorsHeaderReader.Read(stream, source);
        var tensors = new Dictionary<string, Tensor>(header.Tensors.Count);
        foreach (var info in header.Tensors)
        {
            stream.Position = header.DataStart + info.Begin;
            tensors[info.Name] = Tensor.Wrap(ReadValues(stream, info, source), info.Shape);
        }
        return new SafeTensorsContent(tensors, new Dictionary<string, string>(header.Metadata));
    }

    /// <summary>Reads and validates only the header: names, dtypes, shapes and offsets, without loading any data.</summary>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var stream = OpenRead(path);
        return SafeTensorsHeaderReader.Read(stream, path);
    }

    static FileStream OpenRead(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"SafeTensors: no file at '{path}'", path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    static float[] ReadValues(Stream stream, SafeTensorInfo info, string source)
    {
        var values = new float[info.Numel];
        try
        {
            if (info.DType == "F32")
            {
                for (int i = 0; i < values.Length; i += ChunkElements)
                    stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan(i, Math.Min(ChunkElements, values.Length - i))));
                return values;
            }
            int size = SafeTensorsHeaderReader.DTypeSizes[info.DType];
            var bytes = new byte[Math.Min(values.Length, ChunkElements) * size];
            for (int i = 0; i < values.Length; i += ChunkElements)
            {
                int n = Math.Min(ChunkElements, values.Length - i);
                var chunk = bytes.AsSpan(0, n * size);
                stream.ReadExactly(chunk);
                Convert(info.DType, chunk, values.AsSpan(i, n));
            }
            return values;
        }
        catch (EndOfStreamException)
        {
            throw new CorruptFileException(source, $"safetensors: tensor '{info.Name}' ends before its {info.End - info.Begin} bytes were read");
        }
    }

    /// <summary>Converts little-endian <paramref name="src"/> of <paramref name="dtype"/> to float32.</summary>
    static void Convert(string dtype, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (dtype)
        {
            case "F64": for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]); break;
            case "F16": for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]); break;
            case "BF16": for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]) << 16); break;
            case "I64": for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt64LittleEndian(src[(8 * i)..]); break;
            case "I32": for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt32LittleEndian(src[(4 * i)..]); break;
            case "I16": for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt16LittleEndian(src[(2 * i)..]); break;
            case "I8": for (int i = 0; i < dst.Length; i++) dst[i] = (sbyte)src[i]; break;
            case "U8": for (int i = 0; i < dst.Length; i++) dst[i] = src[i]; break;
            case "BOOL": for (int i = 0; i < dst.Length; i++) dst[i] = src[i] != 0 ? 1f : 0f; break;
            default: throw new InvalidOperationException($"SafeTensors: no conversion for dtype {dtype}");
        }
    }

    static byte[] EncodeHeader(List<KeyValuePair<string, Tensor>> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in ordered)
            {
                long bytes = 4L * t.Numel;
                w.WriteStartObject(name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        // Pad with spaces so the data buffer starts 8-byte aligned, as the reference writer does.
        while ((buffer.Length + 8) % 8 != 0) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    static void Validate(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        foreach (var (name, t) in tensors)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("SafeTensors.Save: tensor names must be non-empty");
            if (name == MetadataKey) throw new ArgumentException($"SafeTensors.Save: '{MetadataKey}' is reserved and cannot name a tensor");
            ArgumentNullException.ThrowIfNull(t, $"tensors[{name}]");
            if (t.Device.Kind != DeviceKind.Cpu)
                throw new DeviceMismatchException($"SafeTensors.Save: tensor '{name}' of shape {Shapes.Format(t.Shape)} is on {t.Device}; copy it to the CPU first");
        }
        if (metadata is null) return;
        foreach (var (k, v) in metadata)
            if (k is null || v is null) throw new ArgumentException("SafeTensors.Save: metadata keys and values must be non-null strings");
    }

    static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("SafeTensors: only little-endian hosts are supported");
    }
}
