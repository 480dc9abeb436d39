namespace Engine;

/// <summary>
/// The memory behind one or more tensors. Views (reshape, permute, narrow, expand) share a storage and
/// differ only in shape, strides and offset.
/// </summary>
public sealed class Storage(float[] data, Device device)
{
    /// <summary>Host memory of a CPU storage.</summary>
    public float[] Data { get; } = data;
    public Device Device { get; } = device;
    public int Length => Data.Length;
}
