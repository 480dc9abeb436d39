using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Engine.Data;
using Engine.IO;
using Engine.Tests.Fuzz;

namespace Engine.Tests;

/// <summary>
/// Hostile files that once got past the readers' checks: strings that are not Unicode in a safetensors header, a
/// PNG decompression bomb, IDX headers that claim gigabytes. Each must be a <see cref="CorruptFileException"/>
/// naming the file, decided before the memory the file asks for is allocated.
/// </summary>
public sealed class ReaderLimitTests
{
    TempDir dir = null!;

    [SetUp] public void SetUp() => dir = new TempDir();
    [TearDown] public void TearDown() => dir.Dispose();

    static CorruptFileException Rejects(string path, Action read, long maxAllocated, params string[] expected)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<CorruptFileException>(() => read())!;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(ex.Path, Is.EqualTo(path));
        Assert.That(ex.Message, Does.StartWith(path));
        foreach (var e in expected) Assert.That(ex.Message, Does.Contain(e));
        Assert.That(allocated, Is.LessThan(maxAllocated), $"allocated {allocated} bytes to reject {path}");
        return ex;
    }

    // ---------------------------------------------------------------- safetensors

    string Safetensors(byte[] header, int dataBytes = 0)
    {
        var path = dir.File("model.safetensors");
        var file = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        File.WriteAllBytes(path, file);
        return path;
    }

    [Test]
    public void Safetensors_name_with_invalid_utf8_is_corrupt()
    {
        byte[] header = [.. "{\"a"u8, 0xFF, .. "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"u8];
        var path = Safetensors(header, 4);
        Rejects(path, () => SafeTensors.Load(path), 1 << 20, "not valid UTF-8", "byte 0xff at header offset 3");
    }

    [Test]
    public void Safetensors_utf8_encoded_surrogate_is_corrupt()
    {
        byte[] header = [.. "{\"__metadata__\":{\"k\":\""u8, 0xED, 0xA0, 0x80, .. "\"}}"u8];
        var path = Safetensors(header);
        Rejects(path, () => SafeTensors.Load(path), 1 << 20, "not valid UTF-8");
    }

    [TestCase("""{"\ud800":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}""", TestName = "Safetensors_lone_surrogate_escape_in_a_tensor_name_is_corrupt")]
    [TestCase("""{"a":{"dt\udc00ype":"F32","shape":[0],"data_offsets":[0,0]}}""", TestName = "Safetensors_lone_surrogate_escape_in_an_entry_key_is_corrupt")]
    [TestCase("""{"a":{"dtype":"F3\ud800","shape":[0],"data_offsets":[0,0]}}""", TestName = "Safetensors_lone_surrogate_escape_in_a_dtype_is_corrupt")]
    [TestCase("""{"__metadata__":{"step":"\udfff\ud800"}}""", TestName = "Safetensors_reversed_surrogate_escapes_in_metadata_are_corrupt")]
    public void Safetensors_lone_surrogate_escape_is_corrupt(string json)
    {
        var path = Safetensors(Encoding.ASCII.GetBytes(json));
        Rejects(path, () => SafeTensors.Load(path), 1 << 20, "not valid Unicode");
        Rejects(path, () => SafeTensors.ReadHeader(path), 1 << 20, "not valid Unicode");
    }

    [Test]
    public void Safetensors_paired_surrogate_escape_is_a_valid_name()
    {
        var path = Safetensors(Encoding.ASCII.GetBytes("""{"\ud83d\ude00":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"""), 4);
        Assert.That(SafeTensors.Load(path).Tensors.Keys, Is.EqualTo(new[] { "\U0001F600" }));
    }

    // ---------------------------------------------------------------- PNG

    static byte[] Png1x1(byte[] idat)
    {
        var png = new PngChunks();
        png.Chunks.Add(("IHDR", [0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]));      // 1x1, grey, 8 bits
        png.Chunks.Add(("IDAT", idat));
        png.Chunks.Add(("IEND", []));
        return png.ToBytes();
    }

    [Test]
    public void Bomb_helper_inflates_to_exactly_what_it_claims()
    {
        using var z = new ZLibStream(new MemoryStream(Bombs.ZlibZeros(3)), CompressionMode.Decompress);
        var buffer = new byte[1 << 16];
        long total = 0, nonZero = 0;
        for (int n; (n = z.Read(buffer)) > 0; total += n) nonZero += buffer.AsSpan(0, n).IndexOfAnyExcept((byte)0) >= 0 ? 1 : 0;
        Assert.That((total, nonZero), Is.EqualTo((3L << 20, 0L)));
    }

    [Test]
    public void Png_decompression_bomb_is_rejected_without_inflating_it()
    {
        // A 1x1 picture needs 2 bytes of image data (filter byte + grey sample); this one's inflate to 1.5 GiB.
        var path = dir.File("bomb.png");
        File.WriteAllBytes(path, Png1x1(Bombs.ZlibZeros(1536)));
        Assert.That(new FileInfo(path).Length, Is.InRange(1_000_000, 2_000_000));
        Rejects(path, () => Png.Read(path), 16 << 20, "inflates to more than the 2 bytes", "decompression bomb");
    }

    [Test]
    public void Png_with_too_little_or_too_much_image_data_is_corrupt()
    {
        var path = dir.File("short.png");
        File.WriteAllBytes(path, Png1x1(PngChunks.Zlib([0])));
        Rejects(path, () => Png.Read(path), 1 << 20, "inflates to 1 bytes", "needs 2");
        File.WriteAllBytes(path, Png1x1(PngChunks.Zlib([0, 7, 7])));
        Rejects(path, () => Png.Read(path), 1 << 20, "more than the 2 bytes");
        File.WriteAllBytes(path, Png1x1([0x78, 0x9C, 0xFF, 0xFF]));
        Rejects(path, () => Png.Read(path), 1 << 20, "not a valid zlib stream");
        // A zlib header asking for a preset dictionary (FDICT): zlib stops with "need dictionary", which .NET
        // reports as an IOException of its own rather than InvalidDataException.
        File.WriteAllBytes(path, Png1x1([0x78, 0x20, 0, 0, 0, 1, .. PngChunks.Zlib([0, 0])[2..]]));
        Rejects(path, () => Png.Read(path), 1 << 20, "not a valid zlib stream");
    }

    [Test]
    public void Png_header_needing_more_image_data_than_the_limit_is_corrupt()
    {
        // 4096x4096 RGBA at 16 bits: within MaxPixels, but 128 MiB of image data.
        var png = new PngChunks();
        png.Chunks.Add(("IHDR", [0, 0, 0x10, 0, 0, 0, 0x10, 0, 16, 6, 0, 0, 0]));
        png.Chunks.Add(("IDAT", PngChunks.Zlib([0])));
        png.Chunks.Add(("IEND", []));
        var path = dir.File("huge.png");
        File.WriteAllBytes(path, png.ToBytes());
        Rejects(path, () => Png.Read(path), 1 << 20, "4096x4096", "above the limit of " + Png.MaxImageDataBytes);
    }

    [Test]
    public void Png_invalid_header_fields_are_corrupt()
    {
        var path = dir.File("fields.png");
        foreach (var (ihdr, expected) in new (byte[], string)[]
        {
            ([0, 0, 0, 1, 0, 0, 0, 1, 16, 3, 0, 0, 0], "colour type 3 with bit depth 16"),
            ([0, 0, 0, 1, 0, 0, 0, 1, 8, 5, 0, 0, 0], "colour type 5"),
            ([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 1, 0, 0], "compression method 1"),
            ([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 2], "interlace method 2"),
            ([0x80, 0, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0], "above the limit"),
        })
        {
            var png = new PngChunks();
            png.Chunks.Add(("IHDR", ihdr));
            png.Chunks.Add(("IDAT", PngChunks.Zlib([0, 0])));
            png.Chunks.Add(("IEND", []));
            File.WriteAllBytes(path, png.ToBytes());
            Rejects(path, () => Png.Read(path), 1 << 20, expected);
        }
    }

    [Test]
    public void Png_every_valid_geometry_passes_the_image_data_check()
    {
        // The exact-size check must agree with the decoder for every colour type, bit depth, interlacing and odd size.
        var m = new Mutator(7);
        var path = dir.File("ok.png");
        foreach (int color in new[] { 0, 2, 3, 4, 6 })
            foreach (int depth in color switch { 0 => new[] { 1, 2, 4, 8, 16 }, 3 => [1, 2, 4, 8], _ => [8, 16] })
                foreach (bool interlaced in new[] { false, true })
                    foreach (var (w, h) in new[] { (1, 1), (3, 1), (1, 5), (7, 9), (9, 2), (17, 13) })
                    {
                        File.WriteAllBytes(path, PngChunks.Random(m, w, h, color, depth, interlaced).ToBytes());
                        var img = Png.Read(path);
                        Assert.That((img.Width, img.Height), Is.EqualTo((w, h)), $"colour {color}, depth {depth}, interlaced {interlaced}");
                    }
    }

    // ---------------------------------------------------------------- IDX

    [Test]
    public void Idx_header_claiming_two_gigabytes_is_rejected_before_allocating()
    {
        var path = dir.File("huge-idx1-ubyte");
        File.WriteAllBytes(path, [.. Bombs.IdxHeader([0x7FFFFF00]), 1, 2, 3]);
        Rejects(path, () => Idx.ReadRaw(path), 1 << 20, "truncated", "needs 2147483392 data bytes but the file holds 3");
        File.WriteAllBytes(path, Bombs.IdxHeader([32768, 256, 256]));
        Rejects(path, () => Idx.ReadImages(path), 1 << 20, "more than an array can hold");
    }

    [Test]
    public void Idx_gzip_claiming_more_than_it_may_expand_to_is_rejected_before_allocating()
    {
        // 48 MiB of zeros compress to ~48 KB: an honest file, but one that expands ~1000 times.
        var path = dir.File("bomb-idx1-ubyte.gz");
        File.WriteAllBytes(path, Bombs.GzipIdx([48 << 20], 48 << 20));
        Rejects(path, () => Idx.ReadRaw(path), 1 << 20, "may expand to", "decompress it");
        // A header claiming ~2 GiB over 1 MiB of data.
        File.WriteAllBytes(path, Bombs.GzipIdx([0x7FFFFF00], 1 << 20));
        Rejects(path, () => Idx.ReadRaw(path), 1 << 20, "may expand to");
    }

    [Test]
    public void Idx_gzip_within_the_expansion_allowance_loads()
    {
        var path = dir.File("zeros-idx1-ubyte.gz");
        File.WriteAllBytes(path, Bombs.GzipIdx([(int)Idx.GzipAllowanceBytes - 8], Idx.GzipAllowanceBytes - 8));
        Assert.That(Idx.ReadRaw(path).Shape, Is.EqualTo(new[] { (int)Idx.GzipAllowanceBytes - 8 }));
    }

    /// <summary>A stream that hides its length, as a pipe or network stream does.</summary>
    sealed class Unseekable(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Idx_stream_of_unknown_length_allocates_only_what_arrives(bool gzip)
    {
        byte[] body = [.. Bombs.IdxHeader([0x7FFFFF00]), .. new byte[100_000]];
        var file = gzip ? Bombs.Gzip(body) : body;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<CorruptFileException>(() => Idx.ReadRaw(new Unseekable(new MemoryStream(file)), "pipe"))!;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(ex.Message, Does.StartWith("pipe: IDX: truncated").And.Contain("ends after 100000"));
        Assert.That(allocated, Is.LessThan(8 << 20));

        var ok = Idx.ReadRaw(new Unseekable(new MemoryStream(gzip ? Bombs.Gzip([.. Bombs.IdxHeader([3, 2]), 1, 2, 3, 4, 5, 6]) : [.. Bombs.IdxHeader([3, 2]), 1, 2, 3, 4, 5, 6])), "pipe");
        Assert.That(ok.Data, Is.EqualTo(new byte[] { 1, 2, 3, 4, 5, 6 }));
    }

    // ---------------------------------------------------------------- CIFAR-10

    [Test]
    public void Cifar10_streams_records_across_read_boundaries()
    {
        // 130 records span three of the loader's 64-record reads.
        var bytes = new byte[130 * Cifar10.RecordBytes];
        for (int r = 0; r < 130; r++)
        {
            bytes[r * Cifar10.RecordBytes] = (byte)(r % 10);
            bytes[r * Cifar10.RecordBytes + 1 + 1024 + 33] = (byte)r;                     // green plane, row 1, column 1
        }
        var path = dir.File("data_batch_1.bin");
        File.WriteAllBytes(path, bytes);
        var ds = Cifar10.Load(path, path);
        Assert.That(ds.Count, Is.EqualTo(260));
        Assert.That(ds.Labels[129], Is.EqualTo(9));
        Assert.That(ds.Labels[130 + 64], Is.EqualTo(4));
        Assert.That(ds.Images[129, 1, 1, 1], Is.EqualTo(129 / 255f));
        Assert.That(ds.Images[130 + 65, 1, 1, 1], Is.EqualTo(65 / 255f));
        Assert.That(ds.Images[130 + 65, 1, 1, 2], Is.EqualTo(0f));
    }
}
