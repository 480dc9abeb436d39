using System.IO.Compression;
using Engine.Data;
using Engine.IO;
using Engine.Random;

namespace Engine.Tests;

public sealed class DataTests
{
    TempDir dir = null!;

    [SetUp] public void SetUp() => dir = new TempDir();
    [TearDown] public void TearDown() => dir.Dispose();

    // ---------------------------------------------------------------- IDX

    [TestCase(false)]
    [TestCase(true)]
    public void Idx_round_trips_plain_and_gzip(bool gzip)
    {
        var bytes = Enumerable.Range(0, 3 * 4 * 5).Select(i => (byte)(i * 7)).ToArray();
        var path = dir.File(gzip ? "x.gz" : "x");
        Idx.Write(path, bytes, [3, 4, 5], gzip);
        Assert.That(File.ReadAllBytes(path)[0] == 0x1f, Is.EqualTo(gzip));
        var raw = Idx.ReadRaw(path);
        Assert.That(raw.Shape, Is.EqualTo(new[] { 3, 4, 5 }));
        Assert.That(raw.Data, Is.EqualTo(bytes));

        var images = Idx.ReadImages(path);
        Assert.That(images.Shape, Is.EqualTo(new[] { 3, 1, 4, 5 }));
        Assert.That(images[1, 0, 2, 3], Is.EqualTo(bytes[20 + 13] / 255f).Within(1e-7));
    }

    [Test]
    public void Idx_reads_labels()
    {
        var path = dir.File("labels");
        Idx.Write(path, [3, 1, 4, 1, 5], [5]);
        Assert.That(Idx.ReadLabels(path), Is.EqualTo(new[] { 3, 1, 4, 1, 5 }));
        var ex = Assert.Throws<CorruptFileException>(() => Idx.ReadImages(path));
        Assert.That(ex!.Message, Does.Contain("expected (N, H, W)"));
    }

    static IEnumerable<TestCaseData> CorruptIdx()
    {
        TestCaseData Case(string name, byte[] file, string expected) => new TestCaseData(file, expected).SetName("Idx_corrupt_" + name);
        byte[] header = [0, 0, 8, 1, 0, 0, 0, 4];
        yield return Case("empty", [], "shorter than its 4-byte magic");
        yield return Case("bad_magic", [1, 0, 8, 1, 0, 0, 0, 1, 9], "bad magic 01 00 08 01");
        yield return Case("unsupported_type", [0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], "element type 0x0d is not supported");
        yield return Case("zero_dims", [0, 0, 8, 0], "0 dimensions");
        yield return Case("truncated_dims", [0, 0, 8, 3, 0, 0, 0, 4, 0, 0], "header truncated");
        yield return Case("truncated_data", [.. header, 1, 2, 3], "truncated; shape [4] needs 4 data bytes");
        yield return Case("trailing_bytes", [.. header, 1, 2, 3, 4, 5], "trailing bytes");
        yield return Case("huge_dims", [0, 0, 8, 2, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF], "more than an array can hold");
        yield return Case("product_overflows_long", [0, 0, 8, 3, .. Enumerable.Repeat(new byte[] { 0x7F, 0xFF, 0xFF, 0xFF }, 3).SelectMany(b => b)], "more than an array can hold");
        yield return Case("truncated_gzip", Gzip([.. header, 1, 2, 3, 4])[..12], "IDX");
    }

    [TestCaseSource(nameof(CorruptIdx))]
    public void Idx_corrupt_file_is_rejected(byte[] file, string expected)
    {
        var path = dir.File("bad.idx");
        File.WriteAllBytes(path, file);
        var ex = Assert.Throws<CorruptFileException>(() => Idx.ReadRaw(path));
        Assert.That(ex!.Path, Is.EqualTo(path));
        Assert.That(ex.Message, Does.Contain(expected));
    }

    static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    // ---------------------------------------------------------------- CIFAR-10

    static byte[] CifarRecords(params int[] labels)
    {
        var b = new byte[labels.Length * Cifar10.RecordBytes];
        for (int r = 0; r < labels.Length; r++)
        {
            b[r * Cifar10.RecordBytes] = (byte)labels[r];
            for (int i = 0; i < Cifar10.ImageBytes; i++) b[r * Cifar10.RecordBytes + 1 + i] = (byte)((i + 31 * r) % 251);
        }
        return b;
    }

    [Test]
    public void Cifar10_reads_and_concatenates_batches()
    {
        var a = dir.File("data_batch_1.bin"); File.WriteAllBytes(a, CifarRecords(3, 9));
        var b = dir.File("data_batch_2.bin"); File.WriteAllBytes(b, CifarRecords(0));
        var ds = Cifar10.Load(a, b);
        Assert.That(ds.Images.Shape, Is.EqualTo(new[] { 3, 3, 32, 32 }));
        Assert.That(ds.Labels, Is.EqualTo(new[] { 3, 9, 0 }));
        // Record 1, green plane (channel 1), row 2, column 5: byte index 1024 + 2·32 + 5 of the image.
        int i = 1024 + 2 * 32 + 5;
        Assert.That(ds.Images[1, 1, 2, 5], Is.EqualTo(((i + 31) % 251) / 255f).Within(1e-7));
        Assert.That(ds.Images[2, 0, 0, 0], Is.EqualTo(0f));
        Assert.That(ds.ClassNames[ds.Labels[0]], Is.EqualTo("cat"));
    }

    [Test]
    public void Cifar10_wrong_size_or_label_is_corrupt()
    {
        var path = dir.File("short.bin");
        File.WriteAllBytes(path, CifarRecords(1)[..3000]);
        var ex = Assert.Throws<CorruptFileException>(() => Cifar10.Load(path));
        Assert.That(ex!.Message, Does.Contain("3000 bytes").And.Contain("multiple of 3073"));

        File.WriteAllBytes(path, CifarRecords(2, 10));
        ex = Assert.Throws<CorruptFileException>(() => Cifar10.Load(path));
        Assert.That(ex!.Message, Does.Contain("record 1 has label 10"));
    }

    [Test]
    public void Cifar10_directory_with_missing_batches_names_them()
    {
        File.WriteAllBytes(dir.File("data_batch_1.bin"), CifarRecords(1));
        var ex = Assert.Throws<MissingDataException>(() => Cifar10.LoadDirectory(dir.Path, DataSplit.Train));
        Assert.That(ex!.Message, Does.Contain("data_batch_2.bin").And.Not.Contain("data_batch_1.bin"));
    }

    // ---------------------------------------------------------------- ImageFolder

    [Test]
    public void ImageFolder_uses_subfolders_as_classes()
    {
        Directory.CreateDirectory(dir.File("cat"));
        Directory.CreateDirectory(dir.File("dog"));
        Png.Write(dir.File("dog/b.png"), [10, 20, 30, 40, 50, 60], 2, 1, 3);
        Png.Write(dir.File("cat/a.png"), [255, 0, 0, 0, 255, 0], 2, 1, 3);
        Png.Write(dir.File("dog/a.png"), [0, 0, 0, 255, 255, 255], 2, 1, 3);
        File.WriteAllText(dir.File("dog/notes.txt"), "ignored");

        var ds = ImageFolder.Load(dir.Path, channels: 3, labelsFromSubfolders: true);
        Assert.That(ds.ClassNames, Is.EqualTo(new[] { "cat", "dog" }));
        Assert.That(ds.Labels, Is.EqualTo(new[] { 0, 1, 1 }));
        Assert.That(ds.Images.Shape, Is.EqualTo(new[] { 3, 3, 1, 2 }));
        Assert.That(ds.Images.ToArray()[..6], Is.EqualTo(new[] { 1f, 0f, 0f, 1f, 0f, 0f }));   // planar R, G, B of cat/a
        Assert.That(ds.Images[2, 1, 0, 1], Is.EqualTo(50f / 255f).Within(1e-7));             // dog/b, green, x = 1

        var grey = ImageFolder.Load(dir.File("dog"), channels: 1);
        Assert.That(grey.Images.Shape, Is.EqualTo(new[] { 2, 1, 1, 2 }));
        Assert.That(grey.Images[0, 0, 0, 1], Is.EqualTo(1f));
    }

    [Test]
    public void ImageFolder_truncated_png_names_the_file()
    {
        Png.Write(dir.File("a.png"), new byte[16], 4, 4, 1);
        var bytes = Png.Encode(new byte[16], 4, 4, 1);
        File.WriteAllBytes(dir.File("b.png"), bytes[..(bytes.Length / 2)]);
        var ex = Assert.Throws<CorruptFileException>(() => ImageFolder.Load(dir.Path, channels: 1));
        Assert.That(ex!.Path, Is.EqualTo(dir.File("b.png")));
        Assert.That(ex.Message, Does.Contain("b.png").And.Contain("truncated"));
    }

    [Test]
    public void ImageFolder_rejects_mixed_sizes_and_empty_folders()
    {
        var ex = Assert.Throws<MissingDataException>(() => ImageFolder.Load(dir.Path));
        Assert.That(ex!.Message, Does.Contain("no .png files"));
        Png.Write(dir.File("a.png"), new byte[16], 4, 4, 1);
        Png.Write(dir.File("b.png"), new byte[12], 4, 3, 1);
        var shape = Assert.Throws<ShapeMismatchException>(() => ImageFolder.Load(dir.Path, channels: 1));
        Assert.That(shape!.Message, Does.Contain("b.png").And.Contain("4x3").And.Contain("4x4"));
    }

    // ---------------------------------------------------------------- FashionMnist

    static readonly Lazy<ImageDataset> Embedded = new(FashionMnist.LoadEmbedded);

    [Test]
    public void FashionMnist_embedded_test_split_loads()
    {
        var ds = Embedded.Value;
        Assert.That(ds.Images.Shape, Is.EqualTo(new[] { 10000, 1, 28, 28 }));
        Assert.That(ds.ClassNames, Has.Count.EqualTo(10));
        float min = float.MaxValue, max = float.MinValue;
        double sum = 0;
        foreach (var x in ds.Images.Span) { min = Math.Min(min, x); max = Math.Max(max, x); sum += x; }
        Assert.That((min, max), Is.EqualTo((0f, 1f)));
        Assert.That(sum / ds.Images.Numel, Is.InRange(0.2, 0.4));          // mean pixel of the test split ≈ 0.286
        var perClass = ds.Labels.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
        Assert.That(perClass.Keys.Order(), Is.EqualTo(Enumerable.Range(0, 10)));
        Assert.That(perClass.Values, Is.All.EqualTo(1000));
    }

    [Test]
    public void FashionMnist_falls_back_to_embedded_split_into_train_and_test()
    {
        var absent = dir.File("absent");
        var train = FashionMnist.Load(null, DataSplit.Train, systemDirectory: absent);
        var test = FashionMnist.Load(null, DataSplit.Test, systemDirectory: absent);
        Assert.That(train.Count, Is.EqualTo(FashionMnist.EmbeddedTrainCount));
        Assert.That(test.Count, Is.EqualTo(10000 - FashionMnist.EmbeddedTrainCount));
        Assert.That(train.Source, Does.Contain("embedded"));
        var all = Embedded.Value;
        Assert.That(test.Images.Span[..784].ToArray(), Is.EqualTo(all.Images.Span.Slice(9000 * 784, 784).ToArray()));
        Assert.That(test.Labels, Is.EqualTo(all.Labels[9000..]));
        Assert.That(train.Labels, Is.EqualTo(all.Labels[..9000]));
    }

    [Test]
    public void Pixel_conversion_matches_the_reference_on_odd_sizes()
    {
        foreach (var n in new[] { 0, 1, 7, 33, 257, 1031 })
        {
            var src = Enumerable.Range(0, n).Select(i => (byte)(i * 97 + 13)).ToArray();
            var fast = new float[n]; var reference = new float[n];
            Pixels.ToUnit(src, fast);
            Pixels.ToUnitReference(src, reference);
            Assert.That(fast, Is.EqualTo(reference), $"n = {n}");
        }
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var v = new float[256];
        Pixels.ToUnit(all, v);
        Assert.That(v.Select((x, i) => x == (float)(i / 255.0)), Is.All.True);
    }

    [Test]
    public void FashionMnist_reads_a_given_directory_and_reports_missing_files()
    {
        var ex = Assert.Throws<MissingDataException>(() => FashionMnist.Load(dir.Path, DataSplit.Train));
        Assert.That(ex!.Message, Does.Contain("train-images-idx3-ubyte"));

        var pixels = new byte[2 * 28 * 28];
        pixels[28 * 28 + 5] = 255;
        Idx.Write(dir.File("train-images-idx3-ubyte.gz"), pixels, [2, 28, 28], gzip: true);
        Idx.Write(dir.File("train-labels-idx1-ubyte"), [9, 0], [2]);
        var ds = FashionMnist.Load(dir.Path, DataSplit.Train);
        Assert.That(ds.Labels, Is.EqualTo(new[] { 9, 0 }));
        Assert.That(ds.Images[1, 0, 0, 5], Is.EqualTo(1f));

        Idx.Write(dir.File("train-labels-idx1-ubyte"), [9, 0, 1], [3]);
        var corrupt = Assert.Throws<CorruptFileException>(() => FashionMnist.Load(dir.Path, DataSplit.Train));
        Assert.That(corrupt!.Message, Does.Contain("3 labels for 2 images"));
    }
}
