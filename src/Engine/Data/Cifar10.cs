namespace Engine.Data;

/// <summary>
/// CIFAR-10 binary batches (<c>data_batch_1.bin</c> … <c>data_batch_5.bin</c>, <c>test_batch.bin</c>): each record is
/// one label byte followed by 3072 bytes, the 32×32 red plane, then green, then blue. A file whose size is not a
/// positive multiple of 3073 bytes, or a label above 9, is a <see cref="CorruptFileException"/>.
/// </summary>
/// <example><c>var train = Cifar10.LoadDirectory("data/cifar-10-batches-bin", DataSplit.Train); // 50000 × (3, 32, 32)</c></example>
public static class Cifar10
{
    public const int Side = 32;
    public const int ImageBytes = 3 * Side * Side;
    public const int RecordBytes = 1 + ImageBytes;

    /// <summary>The ten classes, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>Reads and concatenates one or more batch files into (N, 3, 32, 32) in [0, 1] with labels.</summary>
    public static ImageDataset Load(params string[] batchFiles)
    {
        if (batchFiles is null || batchFiles.Length == 0) throw new ArgumentException("Cifar10.Load: give at least one batch file");
        var contents = new List<(string Path, byte[] Bytes)>();
        long records = 0;
        foreach (var path in batchFiles)
        {
            if (!File.Exists(path)) throw new MissingDataException($"Cifar10: no batch file at '{path}'");
            var length = new FileInfo(path).Length;
            if (length == 0 || length % RecordBytes != 0)
                throw new CorruptFileException(path, $"CIFAR-10: file is {length} bytes; expected a positive multiple of {RecordBytes} (1 label byte + {ImageBytes} pixel bytes per record)");
            records += length / RecordBytes;
            if (records * ImageBytes > Array.MaxLength)
                throw new ArgumentException($"Cifar10.Load: {records} records do not fit in one tensor");
            contents.Add((path, File.ReadAllBytes(path)));
        }

        var values = new float[records * ImageBytes];                                // (N, 3, 32, 32)
        var labels = new int[records];
        int n = 0;
        foreach (var (path, bytes) in contents)
        {
            if (bytes.Length % RecordBytes != 0)
                throw new CorruptFileException(path, $"CIFAR-10: file changed size while being read ({bytes.Length} bytes)");
            for (int r = 0; r < bytes.Length / RecordBytes; r++, n++)
            {
                int label = bytes[r * RecordBytes];
                if (label >= ClassNames.Count)
                    throw new CorruptFileException(path, $"CIFAR-10: record {r} has label {label}; expected 0 to {ClassNames.Count - 1}");
                labels[n] = label;
                Pixels.ToUnit(bytes.AsSpan(r * RecordBytes + 1, ImageBytes), values.AsSpan(n * ImageBytes, ImageBytes));
            }
        }
        return new ImageDataset(Tensor.Wrap(values, (int)records, 3, Side, Side), labels, ClassNames, string.Join(", ", batchFiles));
    }

    /// <summary>
    /// Reads the standard files from <paramref name="dir"/>: <c>data_batch_1..5.bin</c> for <see cref="DataSplit.Train"/>,
    /// <c>test_batch.bin</c> for <see cref="DataSplit.Test"/>. A missing file is a <see cref="MissingDataException"/>.
    /// </summary>
    public static ImageDataset LoadDirectory(string dir, DataSplit split)
    {
        string[] names = split == DataSplit.Train
            ? [.. Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin")]
            : ["test_batch.bin"];
        var paths = names.Select(f => Path.Combine(dir, f)).ToArray();
        var missing = paths.Where(p => !File.Exists(p)).ToList();
        if (missing.Count > 0) throw new MissingDataException($"Cifar10: missing {string.Join(", ", missing)}");
        return Load(paths);
    }
}

/// <summary>Which part of a dataset to load.</summary>
public enum DataSplit { Train, Test }
