using Engine;
using Engine.Random;

namespace Models.Flows;

/// <summary>
/// Glow's invertible 1×1 convolution, LU-parametrised: W = P·L·(U + diag(sign·exp(logS))) with P a fixed
/// permutation, L unit lower triangular and U strictly upper triangular. log|det W| = Σ logS is then free, and
/// the layer's log|det| is H·W·Σ logS. Initialised from a random rotation. Works on (B, C, H, W) (a 1×1
/// convolution) and on (B, D) (an invertible linear map).
/// </summary>
public sealed class InvertibleConv1x1 : FlowLayer
{
    readonly Tensor permutation, sign;                                              // buffers (C, C), (C)
    readonly Tensor lower, upper, logS;                                             // parameters (C, C), (C, C), (C)

    public int Channels { get; }

    public InvertibleConv1x1(int channels, Generator g)
    {
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels), $"InvertibleConv1x1: channels must be positive, got {channels}");
        Channels = channels;
        int c = channels;
        var rotation = RandomRotation(c, g);
        var lu = (double[])rotation.Clone();
        var perm = new int[c];
        LinearAlgebra.LuDecompose(lu, c, perm);                                   // rows perm[i] of W = (L U)[i]
        var p = new float[c * c]; var l = new float[c * c]; var u = new float[c * c];
        var s = new float[c]; var sg = new float[c];
        for (int i = 0; i < c; i++)
        {
            p[perm[i] * c + i] = 1f;                                               // W = P·L·U with P[perm[i], i] = 1
            for (int j = 0; j < c; j++)
            {
                if (j < i) l[i * c + j] = (float)lu[i * c + j];
                else if (j > i) u[i * c + j] = (float)lu[i * c + j];
            }
            double d = lu[i * c + i];
            sg[i] = d < 0 ? -1f : 1f;
            s[i] = (float)Math.Log(Math.Abs(d));
        }
        permutation = Buffer("permutation", Tensor.Wrap(p, c, c));
        sign = Buffer("sign", Tensor.Wrap(sg, c));
        lower = Parameter("lower", Tensor.Wrap(l, c, c));
        upper = Parameter("upper", Tensor.Wrap(u, c, c));
        logS = Parameter("log_s", Tensor.Wrap(s, c));
        eye = Constant(Tensor.Eye(c));                                              // moves with the layer
    }

    readonly Tensor eye;

    /// <summary>An orthogonal matrix from Gram–Schmidt on Gaussian columns, row-major, in double.</summary>
    static double[] RandomRotation(int n, Generator g)
    {
        var q = Tensor.Randn([n, n], g).ToArray().Select(v => (double)v).ToArray();
        for (int j = 0; j < n; j++)
        {
            for (int k = 0; k < j; k++)
            {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += q[i * n + j] * q[i * n + k];
                for (int i = 0; i < n; i++) q[i * n + j] -= dot * q[i * n + k];
            }
            double norm = 0;
            for (int i = 0; i < n; i++) norm += q[i * n + j] * q[i * n + j];
            norm = Math.Sqrt(norm);
            for (int i = 0; i < n; i++) q[i * n + j] /= norm;
        }
        return q;
    }

    /// <summary>The current weight matrix W (C, C): y = W·x per position.</summary>
    public Tensor Weight()
    {
        var l = lower.Tril(-1) + eye;
        var u = upper.Triu(1) + eye * (sign * logS.Exp());                       // diag(sign·exp(logS)) on the diagonal
        return Tensor.MatMul(permutation, Tensor.MatMul(l, u));
    }

    void Check(Tensor x)
    {
        if (x.Rank is not (2 or 4) || x.Shape[1] != Channels)
            throw new ShapeMismatchException($"InvertibleConv1x1: input {Shapes.Format(x.Shape)} should be (B, {Channels}) or (B, {Channels}, H, W)");
    }

    static Tensor Apply(Tensor x, Tensor w) =>
        x.Rank == 2 ? Tensor.MatMul(x, w.T) : Tensor.Conv2d(x, w.Reshape(w.Shape[0], w.Shape[1], 1, 1), null);

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x)
    {
        Check(x);
        return (Apply(x, Weight()), PerSample(logS.Sum() * SpatialSize(x), x.Shape[0]));
    }

    public override Tensor Inverse(Tensor y)
    {
        Check(y);
        return Apply(y, Weight().Inverse());
    }
}
