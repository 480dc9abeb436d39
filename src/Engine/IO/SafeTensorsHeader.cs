using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Engine.IO;

/// <summary>One tensor's entry in a safetensors header: its dtype, shape and byte range within the data buffer.</summary>
public sealed record SafeTensorInfo(string Name, string DType, int[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (the product of the shape; 1 for a scalar).</summary>
    public int Numel => Shapes.Numel(Shape);
}

/// <summary>The parsed and validated header of a safetensors file; <see cref="DataStart"/> is where the byte buffer begins.</summary>
public sealed record SafeTensorsHeader(IReadOnlyList<SafeTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart);

/// <summary>Parsing and validation of untrusted safetensors headers. Every defect is a <see cref="CorruptFileException"/>.</summary>
static class SafeTensorsHeaderReader
{
    /// <summary>Byte size of each dtype the reader understands.</summary>
    internal static readonly IReadOnlyDictionary<string, int> DTypeSizes = new Dictionary<string, int>
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2,
        ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1, ["U8"] = 1, ["BOOL"] = 1,
    };

    /// <summary>Reads the length prefix and the JSON header from the start of <paramref name="stream"/> and checks every entry against the stream's length.</summary>
    internal static SafeTensorsHeader Read(Stream stream, string source)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new CorruptFileException(source, $"safetensors: file is {fileLength} bytes, too short for the 8-byte header length");
        Span<byte> prefix = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)SafeTensors.MaxHeaderBytes)
            throw new CorruptFileException(source, $"safetensors: header length {headerLength} exceeds the limit of {SafeTensors.MaxHeaderBytes} bytes");
        if (headerLength > (ulong)(fileLength - 8))
            throw new CorruptFileException(source, $"safetensors: header length {headerLength} extends beyond the end of the file ({fileLength} bytes, {fileLength - 8} after the length prefix)");
        if (headerLength < 2)
            throw new CorruptFileException(source, $"safetensors: header length {headerLength} is too short to hold a JSON object");

        var json = new byte[headerLength];
        stream.ReadExactly(json);
        long dataStart = 8 + (long)headerLength;
        long bufferLength = fileLength - dataStart;
        if (!Utf8.IsValid(json))
        {
            int bad = FirstInvalidUtf8(json);
            throw new CorruptFileException(source, $"safetensors: header is not valid UTF-8 (byte 0x{json[bad]:x2} at header offset {bad} starts no well-formed sequence)");
        }

        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw new CorruptFileException(source, $"safetensors: header is not valid JSON ({e.Message})"); }
        catch (ArgumentException e) { throw new CorruptFileException(source, $"safetensors: header is not valid UTF-8 JSON ({e.Message})"); }

        using (doc)
        {
            try { return ReadEntries(doc.RootElement, dataStart, bufferLength, source); }
            catch (InvalidOperationException e)
            {
                // Thrown by the JSON reader when a name or string it must decode holds an escape of a lone UTF-16
                // surrogate ("\ud800"): valid JSON text, but no Unicode string.
                throw new CorruptFileException(source, $"safetensors: header holds a name or string that is not valid Unicode text ({e.Message})");
            }
        }
    }

    static SafeTensorsHeader ReadEntries(JsonElement root, long dataStart, long bufferLength, string source)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new CorruptFileException(source, $"safetensors: header must be a JSON object, found {root.ValueKind}");

        var tensors = new List<SafeTensorInfo>();
        var metadata = new Dictionary<string, string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var prop in root.EnumerateObject())
        {
            if (!seen.Add(prop.Name))
                throw new CorruptFileException(source, $"safetensors: name '{prop.Name}' appears twice in the header");
            if (prop.Name == SafeTensors.MetadataKey) ReadMetadata(prop.Value, metadata, source);
            else tensors.Add(ReadEntry(prop.Name, prop.Value, bufferLength, source));
        }
        CheckNoOverlap(tensors, source);
        return new SafeTensorsHeader(tensors, metadata, dataStart);
    }

    static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new CorruptFileException(source, $"safetensors: {SafeTensors.MetadataKey} must be an object of strings, found {value.ValueKind}");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw new CorruptFileException(source, $"safetensors: metadata '{m.Name}' must be a string, found {m.Value.ValueKind}");
            if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                throw new CorruptFileException(source, $"safetensors: metadata key '{m.Name}' appears twice");
        }
    }

    static SafeTensorInfo ReadEntry(string name, JsonElement entry, long bufferLength, string source)
    {
        if (name.Length == 0) throw new CorruptFileException(source, "safetensors: a tensor has an empty name");
        if (entry.ValueKind != JsonValueKind.Object)
            throw new CorruptFileException(source, $"safetensors: entry '{name}' must be an object with dtype, shape and data_offsets, found {entry.ValueKind}");

        if (!entry.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' has no string 'dtype'");
        var dtype = dtypeEl.GetString()!;
        if (!DTypeSizes.TryGetValue(dtype, out int elementSize))
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' has unsupported dtype '{dtype}' (expected one of {string.Join(", ", DTypeSizes.Keys)})");

        if (!entry.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' has no 'shape' array");
        if (shapeEl.GetArrayLength() > 64)
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' has {shapeEl.GetArrayLength()} axes; at most 64 are supported");
        var shape = new int[shapeEl.GetArrayLength()];
        double product = 1;                      // exact whenever it is small enough to matter (integers below 2^53, or 0)
        int axis = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long size) || size < 0 || size > int.MaxValue)
                throw new CorruptFileException(source, $"safetensors: tensor '{name}' has an invalid size {d.GetRawText()} on axis {axis} (expected an integer in [0, {int.MaxValue}])");
            shape[axis++] = (int)size;
            product *= size;
        }
        if (product > int.MaxValue)
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' shape {shapeEl.GetRawText()} has more than {int.MaxValue} elements");
        long numel = (long)product;

        if (!entry.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' needs 'data_offsets' as [begin, end]");
        if (offEl[0].ValueKind != JsonValueKind.Number || offEl[1].ValueKind != JsonValueKind.Number
            || !offEl[0].TryGetInt64(out long begin) || !offEl[1].TryGetInt64(out long end) || begin < 0 || end < 0)
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' has data_offsets {offEl.GetRawText()}, expected two non-negative integers");
        if (begin > end)
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' has data_offsets [{begin}, {end}] with begin after end");
        if (end > bufferLength)
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' has data_offsets [{begin}, {end}] outside the data buffer of {bufferLength} bytes");
        long expected = numel * elementSize;
        if (end - begin != expected)
            throw new CorruptFileException(source, $"safetensors: tensor '{name}' spans {end - begin} bytes but {dtype} shape {Shapes.Format(shape)} needs {expected}");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>Offset of the first byte of <paramref name="bytes"/> that does not start a well-formed UTF-8 sequence; -1 when all are well formed.</summary>
    static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length;)
        {
            if (Rune.DecodeFromUtf8(bytes[i..], out _, out int consumed) != OperationStatus.Done) return i;
            i += consumed;
        }
        return -1;
    }

    static void CheckNoOverlap(List<SafeTensorInfo> tensors, string source)
    {
        var sorted = tensors.Where(t => t.End > t.Begin).OrderBy(t => t.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].Begin < sorted[i - 1].End)
                throw new CorruptFileException(source,
                    $"safetensors: tensors '{sorted[i - 1].Name}' [{sorted[i - 1].Begin}, {sorted[i - 1].End}) and '{sorted[i].Name}' [{sorted[i].Begin}, {sorted[i].End}) overlap");
    }
}
