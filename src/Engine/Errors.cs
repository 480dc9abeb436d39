namespace Engine;

/// <summary>An op was given tensors whose shapes it cannot work with. The message names the op, the shapes and what was expected.</summary>
public sealed class ShapeMismatchException(string message) : ArgumentException(message);

/// <summary>An op was given tensors that live on different devices, or on a device it does not support.</summary>
public sealed class DeviceMismatchException(string message) : InvalidOperationException(message);

/// <summary>A file (safetensors, IDX, PNG, CIFAR batch, checkpoint) is truncated, malformed or hostile.</summary>
public sealed class CorruptFileException(string path, string message)
    : IOException($"{path}: {message}")
{
    public string Path { get; } = path;
}

/// <summary>A value that must be finite (a loss, an input batch) is NaN or infinite.</summary>
public sealed class NonFiniteException(string message) : ArithmeticException(message);

/// <summary>A dataset the caller asked for is not where it was looked for.</summary>
public sealed class MissingDataException(string message) : FileNotFoundException(message);

/// <summary>A device that was asked for (a GPU, or a particular kind or index of one) is not present or cannot be used.</summary>
public sealed class DeviceUnavailableException(string message) : InvalidOperationException(message);

/// <summary>A device allocation failed for lack of memory, even after the engine released the buffers it had cached.</summary>
public sealed class DeviceOutOfMemoryException(string message, Exception? inner = null) : InvalidOperationException(message, inner)
{
    /// <summary>Bytes the failed allocation asked for.</summary>
    public long RequestedBytes { get; init; }
}
