using Engine.IO;
using Engine.Random;

namespace Engine.Tests;

public sealed class IoTests
{
    TempDir dir = null!;

    [SetUp] public void SetUp() => dir = new TempDir();
    [TearDown] public void TearDown() => dir.Dispose();

    // ---------------------------------------------------------------- AtomicFile

    [Test]
    public void AtomicFile_replaces_content_and_leaves_no_temp_files()
    {
        var path = dir.File("a.bin");
        AtomicFile.WriteAllBytes(path, [1, 2, 3]);
        AtomicFile.WriteAllBytes(path, [4, 5]);
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 4, 5 }));
        Assert.That(Directory.GetFiles(dir.Path), Has.Length.EqualTo(1));
    }

    [Test]
    public void AtomicFile_failing_writer_leaves_the_old_file_intact()
    {
        var path = dir.File("model.bin");
        File.WriteAllBytes(path, [9, 9, 9, 9]);
        var ex = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write([1, 2]);                     // half-written new content
            throw new InvalidOperationException("disk full");
        }));
        Assert.That(ex!.Message, Is.EqualTo("disk full"));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 9, 9, 9, 9 }));
        Assert.That(Directory.GetFiles(dir.Path), Is.EqualTo(new[] { path }), "the temporary file must be removed");
    }

    [Test]
    public void AtomicFile_creates_missing_directories()
    {
        var path = Path.Combine(dir.Path, "runs", "x", "out.txt");
        AtomicFile.WriteAllText(path, "hello");
        Assert.That(File.ReadAllText(path), Is.EqualTo("hello"));
    }

    // ---------------------------------------------------------------- PNG

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    public void Png_write_then_read_gives_the_same_pixels(int channels)
    {
        int w = 7, h = 5;
        var pixels = new byte[w * h * channels];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 37 % 256);
        var path = dir.File($"img{channels}.png");
        Png.Write(path, pixels, w, h, channels);
        var img = Png.Read(path);
        Assert.That((img.Width, img.Height, img.Channels), Is.EqualTo((w, h, channels)));
        Assert.That(img.Pixels, Is.EqualTo(pixels));
    }

    [Test]
    public void Png_read_converts_grey_to_rgb()
    {
        var path = dir.File("g.png");
        Png.Write(path, [0, 128, 255, 10], 2, 2, 1);
        var img = Png.Read(path, channels: 3);
        Assert.That(img.Channels, Is.EqualTo(3));
        Assert.That(img.Pixels, Is.EqualTo(new byte[] { 0, 0, 0, 128, 128, 128, 255, 255, 255, 10, 10, 10 }));
    }

    [Test]
    public void Png_write_rejects_wrong_byte_count()
    {
        var ex = Assert.Throws<ShapeMismatchException>(() => Png.Write(dir.File("x.png"), new byte[10], 4, 4, 1));
        Assert.That(ex!.Message, Does.Contain("Png.Write").And.Contain("expected 16"));
    }

    [Test]
    public void Png_truncated_file_is_corrupt_and_named()
    {
        var path = dir.File("cut.png");
        var bytes = Png.Encode(RandomBytes(16 * 16 * 3, 1), 16, 16, 3);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 20)]);
        var ex = Assert.Throws<CorruptFileException>(() => Png.Read(path));
        Assert.That(ex!.Path, Is.EqualTo(path));
        Assert.That(ex.Message, Does.Contain(path).And.Contain("truncated"));
    }

    [Test]
    public void Png_damaged_chunk_fails_its_crc()
    {
        var bytes = Png.Encode(RandomBytes(8 * 8, 2), 8, 8, 1);
        bytes[45] ^= 0xFF;                       // inside the IDAT data (IHDR ends at byte 33)
        var ex = Assert.Throws<CorruptFileException>(() => Png.Decode(bytes, "mem.png"));
        Assert.That(ex!.Message, Does.Contain("mem.png").And.Contain("CRC"));
    }

    [Test]
    public void Png_non_png_bytes_are_rejected()
    {
        var ex = Assert.Throws<CorruptFileException>(() => Png.Decode("GIF89a......"u8.ToArray(), "fake.png"));
        Assert.That(ex!.Message, Does.Contain("signature"));
    }

    // ---------------------------------------------------------------- ImageGrid

    [Test]
    public void ImageGrid_places_tiles_with_padding()
    {
        // 3 grey 2x2 tiles, 2 columns, 1 pixel padding: 1 + 2·(2+1) = 7 wide, 7 high.
        var x = Tensor.FromArray([0f, 0f, 0f, 0f, 1f, 1f, 1f, 1f, 0.5f, 0.5f, 0.5f, 0.5f], 3, 1, 2, 2);
        var g = ImageGrid.Compose(x, columns: 2, padding: 1, padValue: 1f);
        Assert.That((g.Width, g.Height, g.Channels), Is.EqualTo((7, 7, 1)));
        byte At(int px, int py) => g.Pixels[py * g.Width + px];
        Assert.That(At(0, 0), Is.EqualTo(255));                   // padding
        Assert.That(At(1, 1), Is.EqualTo(0));                     // tile 0
        Assert.That(At(3, 1), Is.EqualTo(255));                   // padding between columns
        Assert.That(At(4, 2), Is.EqualTo(255));                   // tile 1
        Assert.That(At(1, 4), Is.EqualTo(128));                   // tile 2, second row
        Assert.That(At(5, 5), Is.EqualTo(255));                   // empty slot stays padding
    }

    [Test]
    public void ImageGrid_signed_range_maps_to_bytes_and_rgb_is_interleaved()
    {
        var x = Tensor.FromArray([-1f, 1f, 0f], 1, 3, 1, 1);     // one RGB pixel
        var g = ImageGrid.Compose(x, padding: 0, signedRange: true);
        Assert.That(g.Pixels, Is.EqualTo(new byte[] { 0, 255, 128 }));
    }

    [Test]
    public void ImageGrid_write_round_trips_through_png()
    {
        var x = Tensor.Rand([5, 3, 4, 6], new Generator(3));
        var path = dir.File("grid.png");
        ImageGrid.Write(path, x, columns: 3, padding: 2);
        var expected = ImageGrid.Compose(x, columns: 3, padding: 2);
        var read = Png.Read(path);
        Assert.That((read.Width, read.Height, read.Channels), Is.EqualTo((2 + 3 * 8, 2 + 2 * 6, 3)));
        Assert.That(read.Pixels, Is.EqualTo(expected.Pixels));
    }

    [Test]
    public void ImageGrid_rejects_bad_shapes_and_nan()
    {
        var ex = Assert.Throws<ShapeMismatchException>(() => ImageGrid.Compose(Tensor.Zeros([2, 2, 4, 4])));
        Assert.That(ex!.Message, Does.Contain("ImageGrid").And.Contain("[2, 2, 4, 4]"));
        var nan = Tensor.Zeros([1, 1, 2, 2]);
        nan[0, 0, 1, 1] = float.NaN;
        Assert.Throws<NonFiniteException>(() => ImageGrid.Compose(nan));
    }

    static byte[] RandomBytes(int n, ulong seed)
    {
        var f = new float[n];
        new Generator(seed).FillUniform(f);
        return Array.ConvertAll(f, v => (byte)(v * 255));
    }
}
