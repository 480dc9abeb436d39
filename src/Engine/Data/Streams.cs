namespace Engine.Data;

/// <summary>A read-only stream that yields a few already-consumed bytes, then the rest of an inner stream (for magic sniffing). Leaves the inner stream open.</summary>
sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
{
    int used;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (used < prefix.Length)
        {
            int n = Math.Min(buffer.Length, prefix.Length - used);
            prefix.AsSpan(used, n).CopyTo(buffer);
            used += n;
            return n;
        }
        return inner.Read(buffer);
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
