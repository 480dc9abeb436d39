using System.Buffers.Binary;
using System.Text;
using Engine.Data;
using Engine.IO;

namespace Engine.Tests.Fuzz;

/// <summary>
/// Seeded mutation campaigns against every file reader: safetensors, IDX (plain and gzip), PNG, CIFAR-10 batches
/// and image folders. Each case writes a mutated file and reads it through the public API; see
/// <see cref="FuzzHarness"/> for what counts as an allowed outcome. CI runs a few thousand cases in all; a release runs
/// <c>ENGINE_FUZZ_CASES=100000 dotnet test tests -c Release --filter TestCategory=Fuzz</c> (that many per reader).
/// </summary>
[Category("Fuzz")]
public sealed class ReaderFuzzTests
{
    TempDir dir = null!;

    [SetUp] public void SetUp() => dir = new TempDir();
    [TearDown] public void TearDown() => dir.Dispose();

    // ---------------------------------------------------------------- safetensors

    static readonly string[] DTypes = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"];
    static readonly Dictionary<string, int> DTypeBytes = new()
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1, ["U8"] = 1, ["BOOL"] = 1,
    };

    /// <summary>A valid safetensors file as its JSON header and data buffer: one to three tensors of any dtype, maybe metadata.</summary>
    static (string Json, byte[] Data) SafetensorsSeed(Mutator m)
    {
        var json = new StringBuilder("{");
        var data = new List<byte>();
        if (m.Chance(0.4)) json.Append("\"__metadata__\":{\"step\":\"12\",\"family\":\"ddpm\"},");
        int count = 1 + m.Below(3);
        for (int t = 0; t < count; t++)
        {
            string dtype = m.Pick(DTypes);
            int[] shape = m.Below(4) switch { 0 => [], 1 => [m.Below(5)], 2 => [1 + m.Below(3), 1 + m.Below(4)], _ => [2, 0, 3] };
            long bytes = DTypeBytes[dtype] * shape.Aggregate(1L, (a, b) => a * b);
            json.Append($"\"w{t}.weight\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{data.Count},{data.Count + bytes}]}}");
            if (t < count - 1) json.Append(',');
            for (long i = 0; i < bytes; i++) data.Add((byte)m.Next());
        }
        json.Append('}');
        return (json.ToString(), [.. data]);
    }

    static byte[] SafetensorsFile(byte[] header, byte[] data, ulong? claimedLength = null)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, claimedLength ?? (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    internal static byte[] MutatedSafetensors(Mutator m)
    {
        var (json, data) = SafetensorsSeed(m);
        byte[] header = Encoding.UTF8.GetBytes(json);
        switch (m.Below(8))
        {
            case 0:
                return m.Mutate(SafetensorsFile(header, data));
            case 1:                                                          // header length lies
            {
                ulong claim = m.Chance(0.5) ? (ulong)m.InterestingValue() : (ulong)(header.Length + m.Below(17) - 8);
                m.Log.Add($"header length {claim} for {header.Length} bytes");
                return SafetensorsFile(header, data, claim);
            }
            case 2:                                                          // shapes and offsets that overflow
            case 3:
                for (int k = 1 + m.Below(3); k > 0; k--) json = m.ReplaceNumber(json);
                header = Encoding.UTF8.GetBytes(json);
                break;
            case 4:                                                          // escapes that name no character
                json = m.InsertInString(json, m.Pick(["\\ud800", "\\udfff", "\\udc00\\ud800", "\\ud800\\u0041", "\\u0000", "\\uffff", "\\ud83d\\ude00", "\\", "\\x41", "\\u12", "\\\"", "\n"]));
                header = Encoding.UTF8.GetBytes(json);
                break;
            case 5:                                                          // invalid UTF-8
                header = m.InsertBytesInString(json, m.Pick<byte[]>([[0xFF], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0xE2, 0x82], [0x80], [0xEF, 0xBF, 0xBE]]));
                break;
            case 6:                                                          // structure: dtypes, shapes, offsets, nesting
            {
                (string Key, string Value)[] edits =
                [
                    ("dtype", $"\"{m.Pick(["F8", "f32", "", "U64", "F32\\u0000", "COMPLEX"])}\""),
                    ("shape", m.Pick(["{}", "null", "[[1]]", "[" + string.Join(",", Enumerable.Repeat("1", 65)) + "]", "[\"2\"]", "[2147483647,2147483647]", "[4294967296]"])),
                    ("data_offsets", m.Pick(["[0]", "[0,8,16]", "[9223372036854775807,9223372036854775807]", "[-1,7]", "null", "[1e3,2e3]"])),
                    ("__metadata__", m.Pick(["[]", "{\"a\":1}", "{\"a\":{\"b\":\"c\"}}", "\"x\""])),
                ];
                var (key, value) = m.Pick(edits);
                int at = json.IndexOf($"\"{key}\":", StringComparison.Ordinal);
                if (m.Chance(0.1))
                {
                    int depth = 20 + m.Below(200);
                    json = json.Insert(1, $"\"deep\":{new string('[', depth)}{new string(']', m.Chance(0.5) ? depth : 3)},");
                    m.Log.Add($"nest {depth} arrays");
                }
                else if (at >= 0)
                {
                    int colon = json.IndexOf(':', at);
                    int end = json[colon + 1] switch
                    {
                        '[' => json.IndexOf(']', colon) + 1,
                        '{' => json.IndexOf('}', colon) + 1,
                        _ => json.IndexOfAny([',', '}'], colon + 2),
                    };
                    json = json[..(colon + 1)] + value + json[end..];
                    m.Log.Add($"set {key} to {(value.Length > 40 ? value[..40] + "…" : value)}");
                }
                else
                {
                    json = json.Insert(1, $"\"{key}\":{value},");
                    m.Log.Add($"add {key}: {value}");
                }
                header = Encoding.UTF8.GetBytes(json);
                break;
            }
            default:                                                         // data buffer cut or grown
                int keep = m.Below(data.Length + 1);
                m.Log.Add($"data buffer cut to {keep} of {data.Length} bytes, {(m.Chance(0.5) ? "then grown" : "")}");
                data = [.. data[..keep], .. new byte[m.Below(3) * 4]];
                break;
        }
        if (m.Chance(0.15)) { var f = SafetensorsFile(header, data); return m.Mutate(f, 2); }
        return SafetensorsFile(header, data);
    }

    [Test]
    public void Safetensors_survives_mutations()
    {
        var path = dir.File("model.safetensors");
        FuzzHarness.Run("safetensors", FuzzHarness.Cases(800), m =>
        {
            File.WriteAllBytes(path, MutatedSafetensors(m));
            return new FuzzCase("SafeTensors.Load", [path], () => SafeTensors.Load(path));
        });
    }

    // ---------------------------------------------------------------- IDX

    static byte[] IdxSeed(Mutator m, out bool images)
    {
        images = m.Chance(0.6);
        int[] shape = images ? [1 + m.Below(4), 1 + m.Below(6), 1 + m.Below(6)] : [1 + m.Below(12)];
        long n = shape.Aggregate(1L, (a, b) => a * b);
        var data = new byte[n];
        for (int i = 0; i < n; i++) data[i] = (byte)(images ? m.Next() : (ulong)m.Below(10));
        return [.. Bombs.IdxHeader(shape), .. data];
    }

    /// <summary>Mutates an uncompressed IDX file: header fields (magic, type, dimension count, sizes) or any bytes.</summary>
    static byte[] MutatedIdxBody(Mutator m, byte[] idx)
    {
        var b = (byte[])idx.Clone();
        int dims = b[3];
        switch (m.Below(4))
        {
            case 0:
                m.OverwriteInteger(b, 4 + 4 * m.Below(dims), 4, bigEndian: true);
                return b;
            case 1:
                int field = m.Below(4);
                b[field] = (byte)m.Pick([0, 1, 2, 3, 8, 9, 0x0D, 0x80, 0xFF]);
                m.Log.Add($"set header byte {field} to {b[field]}");
                return b;
            default:
                return m.Mutate(b);
        }
    }

    [Test]
    public void Idx_plain_survives_mutations()
    {
        var path = dir.File("train-images-idx3-ubyte");
        FuzzHarness.Run("IDX", FuzzHarness.Cases(500), m =>
        {
            var seed = IdxSeed(m, out bool images);
            File.WriteAllBytes(path, MutatedIdxBody(m, seed));
            return new FuzzCase(images ? "Idx.ReadImages" : "Idx.ReadLabels", [path],
                images ? () => Idx.ReadImages(path) : () => Idx.ReadLabels(path));
        });
    }

    static readonly Lazy<byte[][]> IdxBombs = new(() =>
    [
        Bombs.GzipIdx([1 << 20], 1 << 20),                 // within the allowance: loads
        Bombs.GzipIdx([4 << 20], 4 << 20),                 // claims 4 MiB from ~4 KB
        Bombs.GzipIdx([48 << 20], 48 << 20),               // claims 48 MiB from ~48 KB
        Bombs.GzipIdx([16], 64 << 20),                     // honest header, then 64 MiB of trailing zeros
        Bombs.GzipIdx([0x7FFFFF00], 1 << 20),              // claims ~2 GiB, holds 1 MiB
        Bombs.GzipIdx([32768, 256, 256], 0),               // claims 2 GiB, holds nothing
    ]);

    [Test]
    public void Idx_gzip_survives_mutations()
    {
        var path = dir.File("train-images-idx3-ubyte.gz");
        FuzzHarness.Run("IDX gzip", FuzzHarness.Cases(400), m =>
        {
            var seed = IdxSeed(m, out bool images);
            byte[] file;
            switch (m.Below(4))
            {
                case 0: file = Bombs.Gzip(MutatedIdxBody(m, seed)); m.Log.Add("then gzip"); break;
                case 1: file = m.Mutate(Bombs.Gzip(seed)); m.Log.Add("of the gzip stream"); break;
                case 2:
                    int k = m.Below(IdxBombs.Value.Length);
                    file = IdxBombs.Value[k];
                    images = false;
                    m.Log.Add($"bomb {k}");
                    if (m.Chance(0.3)) file = m.Mutate(file, 2);
                    break;
                default:
                    var body = MutatedIdxBody(m, seed);
                    file = Bombs.Gzip([.. body[..Math.Min(body.Length, 4 + 4 * seed[3])], .. new byte[m.Below(4096)]]);
                    m.Log.Add("header kept, data replaced by zeros, gzip");
                    break;
            }
            File.WriteAllBytes(path, file);
            return new FuzzCase(images ? "Idx.ReadImages" : "Idx.ReadRaw", [path],
                images ? () => Idx.ReadImages(path) : () => Idx.ReadRaw(path));
        });
    }

    // ---------------------------------------------------------------- PNG

    static readonly Dictionary<int, byte[]> ZlibBombs = [];

    static byte[] ZlibBomb(int mebibytes)
    {
        if (!ZlibBombs.TryGetValue(mebibytes, out var bomb)) ZlibBombs[mebibytes] = bomb = Bombs.ZlibZeros(mebibytes);
        return bomb;
    }

    /// <summary>A random valid PNG, then one structure-aware change (most keep the CRCs right so the change reaches the decoder).</summary>
    internal static byte[] MutatedPng(Mutator m, PngChunks? png = null)
    {
        png ??= PngChunks.RandomValid(m);
        var chunks = png.Chunks;
        switch (m.Below(7))
        {
            case 0:
                return m.Mutate(png.ToBytes());
            case 1:                                                          // any chunk's data, CRC recomputed
            {
                int k = m.Below(chunks.Count);
                m.Log.Add($"in chunk {chunks[k].Type}:");
                chunks[k] = (chunks[k].Type, m.Mutate(chunks[k].Data));
                break;
            }
            case 2:                                                          // header fields that lie
            {
                var ihdr = (byte[])chunks[0].Data.Clone();
                if (m.Chance(0.5)) m.OverwriteInteger(ihdr, 4 * m.Below(2), 4, bigEndian: true);
                else
                {
                    int field = 8 + m.Below(5);
                    ihdr[field] = (byte)m.Pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 255]);
                    m.Log.Add($"set IHDR byte {field} to {ihdr[field]}");
                }
                chunks[0] = ("IHDR", ihdr);
                break;
            }
            case 3:                                                          // image data of the wrong size, or a bomb
            {
                int k = chunks.FindIndex(c => c.Type == "IDAT");
                byte[] idat;
                if (m.Chance(0.4))
                {
                    int mib = m.Pick([1, 2, 16, 64, 1536]);
                    idat = ZlibBomb(mib);
                    m.Log.Add($"IDAT inflates to {mib} MiB of zeros");
                }
                else
                {
                    var ihdr = chunks[0].Data;
                    long need = PngChunks.ScanlineBytes(BinaryPrimitives.ReadInt32BigEndian(ihdr), BinaryPrimitives.ReadInt32BigEndian(ihdr.AsSpan(4)), ihdr[9], ihdr[8], ihdr[12] == 1);
                    long size = Math.Max(0, m.Pick([0L, need - 1, need + 1, 2 * need, need * 1000, need - m.Below(8)]));
                    var raw = new byte[size];
                    for (int i = 0; i < raw.Length; i++) raw[i] = (byte)(m.Chance(0.5) ? 0 : m.Next());
                    idat = PngChunks.Zlib(raw);
                    m.Log.Add($"IDAT inflates to {size} bytes, header needs {need}");
                }
                chunks[k] = ("IDAT", idat);
                break;
            }
            case 4:                                                          // chunks removed, repeated, reordered, unknown
            {
                int k = m.Below(chunks.Count);
                switch (m.Below(4))
                {
                    case 0: m.Log.Add($"remove chunk {chunks[k].Type}"); chunks.RemoveAt(k); break;
                    case 1: m.Log.Add($"repeat chunk {chunks[k].Type}"); chunks.Insert(m.Below(chunks.Count + 1), chunks[k]); break;
                    case 2:
                        int j = m.Below(chunks.Count);
                        m.Log.Add($"swap chunks {k} and {j}");
                        (chunks[k], chunks[j]) = (chunks[j], chunks[k]);
                        break;
                    default:
                        string type = m.Pick(["tEXt", "zTXt", "iCCP", "tRNS", "gAMA", "PLTE", "zzZZ", "ZZZZ", "CgBI", "acTL"]);
                        var data = new byte[m.Below(40)];
                        for (int i = 0; i < data.Length; i++) data[i] = (byte)m.Next();
                        chunks.Insert(1 + m.Below(chunks.Count - 1), (type, data));
                        m.Log.Add($"insert chunk {type} of {data.Length} bytes");
                        break;
                }
                break;
            }
            case 5:                                                          // image data split over several IDAT chunks
            {
                int k = chunks.FindIndex(c => c.Type == "IDAT");
                var all = chunks[k].Data;
                chunks.RemoveAt(k);
                int parts = 1 + m.Below(4);
                for (int p = 0, at = 0; p < parts; p++)
                {
                    int end = p == parts - 1 ? all.Length : at + m.Below(all.Length - at + 1);
                    chunks.Insert(k + p, ("IDAT", all[at..end]));
                    at = end;
                }
                m.Log.Add($"IDAT split in {parts}");
                break;
            }
            default:
                m.Log.Add("unchanged");
                break;
        }
        var bytes = png.ToBytes();
        return m.Chance(0.05) ? m.Mutate(bytes, 2) : bytes;
    }

    [Test]
    public void Png_survives_mutations()
    {
        var path = dir.File("image.png");
        FuzzHarness.Run("PNG", FuzzHarness.Cases(800), m =>
        {
            File.WriteAllBytes(path, MutatedPng(m));
            int channels = m.Below(5);
            return new FuzzCase($"Png.Read(channels: {channels})", [path], () => Png.Read(path, channels));
        });
    }

    // ---------------------------------------------------------------- CIFAR-10

    static byte[] CifarSeed(Mutator m)
    {
        var b = new byte[(1 + m.Below(3)) * Cifar10.RecordBytes];
        for (int i = 0; i < b.Length; i++) b[i] = i % Cifar10.RecordBytes == 0 ? (byte)m.Below(10) : (byte)m.Next();
        return b;
    }

    [Test]
    public void Cifar10_survives_mutations()
    {
        string a = dir.File("data_batch_1.bin"), b = dir.File("data_batch_2.bin");
        FuzzHarness.Run("CIFAR-10", FuzzHarness.Cases(300), m =>
        {
            var file = CifarSeed(m);
            switch (m.Below(3))
            {
                case 0: file = m.Mutate(file); break;
                case 1:
                    int r = m.Below(file.Length / Cifar10.RecordBytes);
                    file[r * Cifar10.RecordBytes] = (byte)m.Pick([9, 10, 11, 127, 128, 255]);
                    m.Log.Add($"label of record {r} set to {file[r * Cifar10.RecordBytes]}");
                    break;
                default:
                    int cut = m.Below(2 * Cifar10.RecordBytes) - Cifar10.RecordBytes;
                    file = cut < 0 ? file[..Math.Max(0, file.Length + cut)] : [.. file, .. new byte[cut]];
                    m.Log.Add($"length changed by {cut}");
                    break;
            }
            bool two = m.Chance(0.4);
            File.WriteAllBytes(a, two ? CifarSeed(m) : file);
            if (two) File.WriteAllBytes(b, file);
            return two
                ? new FuzzCase("Cifar10.Load(a, b)", [a, b], () => Cifar10.Load(a, b))
                : new FuzzCase("Cifar10.Load(a)", [a], () => Cifar10.Load(a));
        });
    }

    // ---------------------------------------------------------------- image folders

    [Test]
    public void ImageFolder_survives_mutations()
    {
        FuzzHarness.Run("image folder", FuzzHarness.Cases(300), m =>
        {
            bool classes = m.Chance(0.5);
            // The same file names every case, overwritten: no stale file can linger in the folder a case loads.
            string root = dir.File(classes ? "classes" : "flat");
            var paths = new List<string>();
            int side = 1 + m.Below(6);
            for (int i = 0; i < 3; i++)
            {
                string sub = classes ? Path.Combine(root, i % 2 == 0 ? "cat" : "dog") : root;
                Directory.CreateDirectory(sub);
                string path = Path.Combine(sub, $"img{i}.png");
                int color = m.Pick([0, 2, 3, 4, 6]);
                int depth = color is 0 or 3 ? 8 : m.Pick([8, 16]);
                var png = PngChunks.Random(m, m.Chance(0.1) ? side + 1 : side, side, color, depth, m.Chance(0.2));
                File.WriteAllBytes(path, i == 1 ? MutatedPng(m, png) : png.ToBytes());
                paths.Add(path);
            }
            int channels = m.Chance(0.5) ? 1 : 3;
            return new FuzzCase($"ImageFolder.Load(channels: {channels}, labelsFromSubfolders: {classes})", paths,
                () => ImageFolder.Load(root, channels, classes));
        }, allowedOther: e => e is ShapeMismatchException);
    }
}
