using Engine;
using Engine.Autograd;

namespace Models;

/// <summary>
/// Without a graph (sampling under <see cref="GradMode.NoGrad"/>), a forward pass's intermediates are dead as soon as
/// the next op has read them: handing their arrays back to the pool then lets the next op reuse them, instead of
/// fresh memory while they wait for the garbage collector. With a graph, backward still needs them and nothing is freed.
/// </summary>
internal static class Intermediates
{
    /// <summary>
    /// Frees <paramref name="used"/> when no graph is recorded, and returns <paramref name="result"/> (computed from it);
    /// a result that is a view of <paramref name="used"/> keeps it.
    /// </summary>
    public static Tensor Free(Tensor used, Tensor result)
    {
        if (!ReferenceEquals(used.Storage, result.Storage)) Free(used);
        return result;
    }

    public static void Free(Tensor used)
    {
        if (!GradMode.Enabled) used.Dispose();
    }
}
