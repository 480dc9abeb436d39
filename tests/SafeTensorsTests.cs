using System.Buffers.Binary;
using System.Text;
using Engine.IO;
using Engine.Nn;
using Engine.Random;

namespace Engine.Tests;

public sealed class SafeTensorsTests
{
    TempDir dir = null!;

    [SetUp] public void SetUp() => dir = new TempDir();
    [TearDown] public void TearDown() => dir.Dispose();

    // ---------------------------------------------------------------- round trips

    [Test]
    public void Save_then_load_gives_identical_tensors_and_metadata()
    {
        var g = new Generator(11);
        var tensors = new Dictionary<string, Tensor>
        {
            ["conv.weight"] = Tensor.Randn([4, 3, 3, 3], g),
            ["conv.bias"] = Tensor.Randn([4], g),
            ["scale"] = Tensor.Scalar(-2.5f),
            ["empty"] = Tensor.Zeros([0, 5]),
            ["transposed"] = Tensor.Randn([3, 5], g).Transpose(0, 1),      // non-contiguous view
            ["special"] = Tensor.FromArray([float.NaN, float.PositiveInfinity, -0f, float.Epsilon], 4),
        };
        var meta = new Dictionary<string, string> { ["step"] = "1200", ["model"] = "vae \"tiny\" ✓" };
        var path = dir.File("ckpt.safetensors");
        SafeTensors.Save(path, tensors, meta);

        var (loaded, loadedMeta) = SafeTensors.Load(path);
        Assert.That(loaded.Keys, Is.EquivalentTo(tensors.Keys));
        foreach (var (name, t) in tensors)
        {
            Assert.That(loaded[name].Shape, Is.EqualTo(t.Shape), name);
            var a = t.ToArray(); var b = loaded[name].ToArray();
            for (int i = 0; i < a.Length; i++)
                Assert.That(BitConverter.SingleToInt32Bits(b[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(a[i])), $"{name}[{i}]");
        }
        Assert.That(loadedMeta, Is.EquivalentTo(meta));
    }

    [Test]
    public void Written_file_has_aligned_header_in_the_reference_layout()
    {
        var path = dir.File("a.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["b"] = Tensor.FromArray([1f, 2f], 2), ["a"] = Tensor.Scalar(3f) });
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        Assert.That((8 + n) % 8, Is.EqualTo(0));
        var json = Encoding.UTF8.GetString(bytes, 8, (int)n).TrimEnd(' ');
        Assert.That(json, Is.EqualTo("""{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"""));
        Assert.That(bytes.Length, Is.EqualTo(8 + n + 12));
        Assert.That(BitConverter.ToSingle(bytes, (int)(8 + n)), Is.EqualTo(3f));
    }

    sealed class Tiny : Module
    {
        public readonly Tensor W, Running;
        public Tiny(ulong seed)
        {
            W = Parameter("weight", Tensor.Randn([3, 2], new Generator(seed)));
            Running = Buffer("running_mean", Tensor.Randn([2], new Generator(seed + 1)));
        }
    }

    sealed class Outer : Module
    {
        public readonly Tiny Inner;
        public Outer(ulong seed) { Inner = Child("inner", new Tiny(seed)); }
    }

    [Test]
    public void Module_state_dict_round_trips()
    {
        var a = new Outer(1);
        var path = dir.File("m.safetensors");
        SafeTensors.Save(path, a.StateDict());
        var b = new Outer(99);
        b.LoadStateDict(SafeTensors.Load(path).Tensors);
        Assert.That(b.Inner.W.ToArray(), Is.EqualTo(a.Inner.W.ToArray()));
        Assert.That(b.Inner.Running.ToArray(), Is.EqualTo(a.Inner.Running.ToArray()));
        Assert.That(SafeTensors.ReadHeader(path).Tensors.Select(t => t.Name), Is.EqualTo(new[] { "inner.running_mean", "inner.weight" }));
    }

    [Test]
    public void Reads_other_dtypes_converting_to_float()
    {
        var data = new List<byte>();
        void Add(int size, Action<Span<byte>> put) { var b = new byte[size]; put(b); data.AddRange(b); }
        Add(4, b => { BinaryPrimitives.WriteHalfLittleEndian(b, (Half)1.5f); BinaryPrimitives.WriteHalfLittleEndian(b[2..], (Half)(-0.25f)); });
        Add(4, b => { BinaryPrimitives.WriteUInt16LittleEndian(b, 0x3FC0); BinaryPrimitives.WriteUInt16LittleEndian(b[2..], 0xC2F7); }); // bf16 1.5, -123.5
        Add(8, b => BinaryPrimitives.WriteDoubleLittleEndian(b, Math.PI));
        Add(16, b => { BinaryPrimitives.WriteInt64LittleEndian(b, -7); BinaryPrimitives.WriteInt64LittleEndian(b[8..], 1L << 40); });
        Add(4, b => BinaryPrimitives.WriteInt32LittleEndian(b, 123456));
        Add(2, b => { b[0] = 0xFF; b[1] = 200; });                                        // I8 -1, U8 200
        var json = """
            {"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},
             "bf":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},
             "d":{"dtype":"F64","shape":[],"data_offsets":[8,16]},
             "l":{"dtype":"I64","shape":[2,1],"data_offsets":[16,32]},
             "i":{"dtype":"I32","shape":[1],"data_offsets":[32,36]},
             "s":{"dtype":"I8","shape":[1],"data_offsets":[36,37]},
             "u":{"dtype":"U8","shape":[1],"data_offsets":[37,38]}}
            """;
        var t = SafeTensors.Read(new MemoryStream(Raw(json, [.. data]))).Tensors;
        Assert.That(t["h"].ToArray(), Is.EqualTo(new[] { 1.5f, -0.25f }));
        Assert.That(t["bf"].ToArray(), Is.EqualTo(new[] { 1.5f, -123.5f }));
        Assert.That(t["d"].Item(), Is.EqualTo((float)Math.PI));
        Assert.That(t["l"].Shape, Is.EqualTo(new[] { 2, 1 }));
        Assert.That(t["l"].ToArray(), Is.EqualTo(new[] { -7f, (float)(1L << 40) }));
        Assert.That(t["i"].ToArray(), Is.EqualTo(new[] { 123456f }));
        Assert.That(t["s"].ToArray(), Is.EqualTo(new[] { -1f }));
        Assert.That(t["u"].ToArray(), Is.EqualTo(new[] { 200f }));
    }

    [Test]
    public void Save_rejects_reserved_name()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            SafeTensors.Save(dir.File("x.safetensors"), new Dictionary<string, Tensor> { [SafeTensors.MetadataKey] = Tensor.Scalar(1f) }));
        Assert.That(ex!.Message, Does.Contain("reserved"));
        Assert.That(File.Exists(dir.File("x.safetensors")), Is.False);
    }

    // ---------------------------------------------------------------- hostile files

    const string Ok = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";

    static IEnumerable<TestCaseData> CorruptCases()
    {
        TestCaseData Case(string name, byte[] file, string expected) => new TestCaseData(file, expected).SetName("Corrupt_" + name);
        var eight = new byte[8];

        yield return Case("shorter_than_length_prefix", [1, 2, 3], "too short");
        yield return Case("header_length_beyond_file", Prefix(1000, [.. "{}"u8]), "extends beyond the end of the file");
        yield return Case("header_length_above_limit", Prefix(200_000_000, []), "exceeds the limit");
        yield return Case("truncated_header", Raw(Ok, eight)[..20], "extends beyond the end of the file");
        yield return Case("bad_json", Raw("""{"a": {"dtype": "F32", """, eight), "not valid JSON");
        yield return Case("invalid_utf8", Prefix(4, [(byte)'{', 0xC3, 0x28, (byte)'}']), "not valid UTF-8");
        yield return Case("root_not_object", Raw("[1, 2]", eight), "must be a JSON object");
        yield return Case("entry_not_object", Raw("""{"a": 5}""", eight), "must be an object");
        yield return Case("unknown_dtype", Raw("""{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}""", eight), "unsupported dtype 'Q7'");
        yield return Case("missing_dtype", Raw("""{"a":{"shape":[2],"data_offsets":[0,8]}}""", eight), "no string 'dtype'");
        yield return Case("negative_shape", Raw("""{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", eight), "invalid size -2");
        yield return Case("fractional_shape", Raw("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}""", eight), "invalid size 1.5");
        yield return Case("element_count_overflow", Raw("""{"a":{"dtype":"F32","shape":[100000,100000,100000],"data_offsets":[0,8]}}""", eight), "more than 2147483647 elements");
        yield return Case("zero_axis_after_huge_ones_is_empty_not_overflow", Raw("""{"a":{"dtype":"F32","shape":[100000,100000,100000,0],"data_offsets":[0,8]}}""", eight), "spans 8 bytes but F32 shape [100000, 100000, 100000, 0] needs 0");
        yield return Case("offsets_out_of_range", Raw("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", eight), "outside the data buffer of 8 bytes");
        yield return Case("offsets_begin_after_end", Raw("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}""", eight), "begin after end");
        yield return Case("offsets_negative", Raw("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}""", eight), "non-negative integers");
        yield return Case("offsets_not_a_pair", Raw("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", eight), "[begin, end]");
        yield return Case("byte_length_mismatch", Raw("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", eight), "spans 8 bytes but F32 shape [3] needs 12");
        yield return Case("overlapping_ranges", Raw("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", eight), "overlap");
        yield return Case("duplicate_names", Raw("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", eight), "appears twice");
        yield return Case("metadata_not_strings", Raw("""{"__metadata__":{"step":12}}""", []), "metadata 'step' must be a string");
    }

    [TestCaseSource(nameof(CorruptCases))]
    public void Hostile_file_is_rejected_with_a_clear_message(byte[] file, string expected)
    {
        var path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, file);
        var ex = Assert.Throws<CorruptFileException>(() => SafeTensors.Load(path));
        Assert.That(ex!.Path, Is.EqualTo(path));
        Assert.That(ex.Message, Does.Contain(expected));
        Assert.That(ex.Message, Does.StartWith(path));
    }

    [Test]
    public void Well_formed_hand_written_file_loads()
    {
        var data = new byte[8];
        BitConverter.TryWriteBytes(data.AsSpan(0), 1.25f);
        BitConverter.TryWriteBytes(data.AsSpan(4), -2f);
        var t = SafeTensors.Read(new MemoryStream(Raw(Ok + "   ", data))).Tensors;
        Assert.That(t["a"].ToArray(), Is.EqualTo(new[] { 1.25f, -2f }));
    }

    static byte[] Raw(string json, byte[] data) => Prefix((ulong)Encoding.UTF8.GetByteCount(json), [.. Encoding.UTF8.GetBytes(json), .. data]);

    static byte[] Prefix(ulong headerLength, byte[] rest)
    {
        var b = new byte[8 + rest.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(b, headerLength);
        rest.CopyTo(b, 8);
        return b;
    }
}
