using Engine.Random;

namespace Engine.Nn;

/// <summary>
/// A lookup table of <c>num</c> vectors of width <c>dim</c>, initialised N(0, 1) as in PyTorch. Its parameter is
/// named <c>weight</c> (num, dim). Not a <see cref="Layer"/>: it takes integer ids, not a tensor.
/// </summary>
/// <example><c>var emb = new Embedding(10, 64, g); var e = emb.Forward([3, 1, 4]); // (3, 64)</c></example>
public sealed class Embedding : Module
{
    /// <summary>(num, dim).</summary>
    public Tensor Weight { get; }

    public int Count { get; }
    public int Dim { get; }

    public Embedding(int num, int dim, Generator g)
    {
        if (num <= 0 || dim <= 0)
            throw new ArgumentOutOfRangeException(nameof(num), $"Embedding: sizes must be positive, got num={num}, dim={dim}");
        Count = num;
        Dim = dim;
        Weight = Parameter("weight", Init.Normal(Tensor.Zeros([num, dim]), g));
    }

    /// <summary>The rows for <paramref name="ids"/>: (N) ids → (N, dim). An id outside [0, num) is an <see cref="ArgumentOutOfRangeException"/>.</summary>
    public Tensor Forward(int[] ids)
    {
        foreach (var id in ids)
            if ((uint)id >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(ids), $"Embedding: id {id} is outside [0, {Count}) for weight {Shapes.Format(Weight.Shape)}");
        return Weight.IndexSelect(0, ids); // (N, D)
    }
}
