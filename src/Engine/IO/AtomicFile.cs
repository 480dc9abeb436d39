namespace Engine.IO;

/// <summary>
/// Writes a file so that a crash or an exception mid-save never destroys the previous version: the bytes go to
/// a temporary file in the same directory, are flushed to disk, and only then is the temporary file renamed over
/// the target (a rename within one directory replaces the target in one step). On failure the temporary file is
/// deleted and the old file is left as it was.
/// </summary>
/// <example><c>AtomicFile.Write("model.safetensors", stream => SafeTensors.Write(stream, state));</c></example>
public static class AtomicFile
{
    /// <summary>Runs <paramref name="write"/> on a fresh stream and, when it returns, puts the result at <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"AtomicFile: '{path}' has no directory");
        if (Directory.Exists(full)) throw new IOException($"AtomicFile: '{full}' is a directory");
        Directory.CreateDirectory(dir);

        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, s => s.Write(bytes));

    /// <summary>Writes <paramref name="text"/> as UTF-8 to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));

    static void TryDelete(string temp)
    {
        try { File.Delete(temp); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
