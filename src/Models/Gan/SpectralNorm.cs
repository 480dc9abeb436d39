using Engine;
using Engine.Autograd;
using Engine.Nn;
using Engine.Random;

namespace Models.Gan;

/// <summary>
/// Spectral normalisation (Miyato et al., 2018): a weight W, seen as a matrix (out, rest), is divided by an
/// estimate of its largest singular value σ = uᵀ W v, with u and v from power iteration carried across steps
/// (one iteration per training forward). u and v are constants to the gradient, as in the paper.
/// </summary>
public static class SpectralNorm
{
    /// <summary>W / (uᵀ W v): <paramref name="weight"/> (out, …), <paramref name="u"/> (out), <paramref name="v"/> (rest). Differentiable in the weight.</summary>
    public static Tensor Apply(Tensor weight, Tensor u, Tensor v)
    {
        int rows = weight.Shape[0], cols = weight.Numel / Math.Max(1, rows);
        if (u.Numel != rows || v.Numel != cols)
            throw new ShapeMismatchException($"SpectralNorm: weight {Shapes.Format(weight.Shape)} needs u of {rows} and v of {cols} values, got {Shapes.Format(u.Shape)} and {Shapes.Format(v.Shape)}");
        var sigma = u.Reshape(1, rows).MatMul(weight.Reshape(rows, cols)).MatMul(v.Reshape(cols, 1)); // (1, 1)
        return weight / sigma.Reshape([.. Enumerable.Repeat(1, weight.Rank)]);
    }

    /// <summary>One power-iteration step: v = normalise(Wᵀu), u = normalise(W v); u is updated in place (when <paramref name="update"/>), v returned.</summary>
    public static Tensor PowerIteration(Tensor weight, Tensor u, bool update)
    {
        using var _ = GradMode.NoGrad();
        int rows = weight.Shape[0], cols = weight.Numel / rows;
        var w = weight.Detach().Reshape(rows, cols);
        var v = Normalise(w.T.MatMul(u.Reshape(rows, 1)));                               // (cols, 1)
        if (update) u.CopyFrom(Normalise(w.MatMul(v)).Reshape(rows));
        return v.Reshape(cols);
    }

    static Tensor Normalise(Tensor x) => x / (x.Square().Sum().Sqrt() + 1e-12f);

    internal static Tensor InitialU(int rows, Generator g)
    {
        var u = Tensor.Randn([rows], g);
        using var _ = GradMode.NoGrad();
        return u / u.Square().Sum().Sqrt();
    }
}

/// <summary>A Conv2d whose weight is spectrally normalised at every forward; parameters <c>weight</c>, <c>bias</c>, buffer <c>u</c>.</summary>
public sealed class SnConv2d : Layer
{
    readonly int stride, padding;
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public Tensor U { get; }

    public SnConv2d(int inChannels, int outChannels, int kernel, Generator g, int stride = 1, int padding = 0)
    {
        var conv = new Conv2d(inChannels, outChannels, kernel, g, stride, padding);
        this.stride = stride; this.padding = padding;
        Weight = Parameter("weight", conv.Weight.Detach());
        Bias = Parameter("bias", conv.Bias!.Detach());
        U = Buffer("u", SpectralNorm.InitialU(outChannels, g));
    }

    public override Tensor Forward(Tensor x)
    {
        var v = SpectralNorm.PowerIteration(Weight, U, update: Training);
        return Tensor.Conv2d(x, SpectralNorm.Apply(Weight, U, v), Bias, stride, padding);
    }
}

/// <summary>A Linear layer with a spectrally normalised weight (out, in); parameters <c>weight</c>, <c>bias</c>, buffer <c>u</c>.</summary>
public sealed class SnLinear : Layer
{
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public Tensor U { get; }

    public SnLinear(int inFeatures, int outFeatures, Generator g)
    {
        var linear = new Linear(inFeatures, outFeatures, g);
        Weight = Parameter("weight", linear.Weight.Detach());
        Bias = Parameter("bias", linear.Bias!.Detach());
        U = Buffer("u", SpectralNorm.InitialU(outFeatures, g));
    }

    public override Tensor Forward(Tensor x)
    {
        var v = SpectralNorm.PowerIteration(Weight, U, update: Training);
        return Tensor.MatMul(x, SpectralNorm.Apply(Weight, U, v).T) + Bias;
    }
}
