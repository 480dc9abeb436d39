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

    /// <summary>
    /// Reads and concatenates one or more batch files into (N, 3, 32, 32) in [0, 1] with labels. Every file's length
    /// is checked before anything is allocated; the files are then streamed a few records at a time, so memory is
    /// the output tensor and one small buffer.
    /// </summary>
    public static ImageDataset Load(params string[] batchFiles)
    {
        if (batchFiles is null || batchFiles.Length == 0) throw new ArgumentException("Cifar10.Load: give at least one batch file");
        var counts = new long[batchFiles.Length];
        long records = 0;
        for (int f = 0; f < batchFiles.Length; f++)
        {
            var path = batchFiles[f];
            if (!File.Exists(path)) throw new MissingDataException($"Cifar10: no batch file at '{path}'");
            var length = new FileInfo(path).Length;
            if (length == 0 || length % RecordBytes != 0)
                throw new CorruptFileException(path, $"CIFAR-10: file is {length} bytes; expected a positive multiple of {RecordBytes} (1 label byte + {ImageBytes} pixel bytes per record)");
            counts[f] = length / RecordBytes;
            records += counts[f];
            if (records > Array.MaxLength / ImageBytes)
                throw new CorruptFileException(path, $"CIFAR-10: {records} records up to and including this file are more than one tensor holds ({Array.MaxLength / ImageBytes} images)");
        }

        var values = new float[records * ImageBytes];                                // (N, 3, 32, 32)
        var labels = new int[records];
        const int RecordsPerRead = 64;
        var buffer = new byte[RecordsPerRead * RecordBytes];
        long n = 0;
        for (int f = 0; f < batchFiles.Length; f++)
        {
            var path = batchFiles[f];
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            for (long r = 0; r < counts[f];)
            {
                int batch = (int)Math.Min(RecordsPerRead, counts[f] - r);
                var chunk = buffer.AsSpan(0, batch * RecordBytes);
                try { file.ReadExactly(chunk); }
                catch (EndOfStreamException) { throw new CorruptFileException(path, $"CIFAR-10: file shrank while being read (ends inside record {r})"); }
                for (int i = 0; i < batch; i++, r++, n++)
                {
                    int label = chunk[i * RecordBytes];
                    if (label >= ClassNames.Count)
                        throw new CorruptFileException(path, $"CIFAR-10: record {r} has label {label}; expected 0 to {ClassNames.Count - 1}");
                    labels[n] = label;
                    Pixels.ToUnit(chunk.Slice(i * RecordBytes + 1, ImageBytes), values.AsSpan((int)(n * ImageBytes), ImageBytes));
                }
            }
            if (file.ReadByte() >= 0)
                throw new CorruptFileException(path, $"CIFAR-10: file grew while being read (more than its {counts[f]} records)");
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
