using Engine;
using Engine.Nn;
using Engine.Random;

namespace Models.Dit;

/// <summary>
/// Timestep embedding of the reference DiT (<c>t_embedder</c>): sinusoidal features of width F (F/2 sines, then
/// F/2 cosines, frequencies exp(−ln(10000)·i/(F/2))) → Linear(F, D) → SiLU → Linear(D, D), as <c>mlp.0</c>, <c>mlp.2</c>.
/// Timesteps are real numbers, so the same embedder serves discrete diffusion steps (0..999) and rectified-flow
/// times (t·1000).
/// </summary>
public sealed class TimestepEmbedder : Module
{
    readonly Sequential mlp;
    readonly Linear first;
    public int FrequencyDim { get; }

    public TimestepEmbedder(int width, Generator g, int frequencyDim = 256)
    {
        FrequencyDim = frequencyDim;
        first = new Linear(frequencyDim, width, g);
        mlp = Child("mlp", new Sequential(first, new Silu(), new Linear(width, width, g)));
        foreach (var l in mlp.OfType<Linear>()) { Init.Normal(l.Weight, g, 0f, 0.02f); Init.Zeros(l.Bias!); }
    }

    /// <summary>t (B) → (B, D).</summary>
    public Tensor Forward(float[] t) => mlp.Forward(Frequencies(t, FrequencyDim).To(first.Weight.Device));   // made on the host, used where the weights are

    /// <summary>(B, F): sin(t·f_i) then cos(t·f_i). The products are rounded to float first, as PyTorch computes them.</summary>
    public static Tensor Frequencies(float[] t, int dim)
    {
        int half = dim / 2;
        var v = new float[t.Length * dim];
        for (int b = 0; b < t.Length; b++)
        {
            if (!float.IsFinite(t[b])) throw new NonFiniteException($"TimestepEmbedder: timestep {b} is {t[b]}");
            for (int i = 0; i < half; i++)
            {
                float f = (float)Math.Exp(-Math.Log(10000) * i / half);
                double a = t[b] * f;
                v[b * dim + i] = (float)Math.Sin(a);
                v[b * dim + half + i] = (float)Math.Cos(a);
            }
        }
        return Tensor.Wrap(v, [t.Length, dim]);
    }
}

/// <summary>Class embedding of the reference DiT (<c>y_embedder.embedding_table</c>): classes + 1 rows, the last meaning 'no class'.</summary>
public sealed class LabelEmbedder : Module
{
    readonly Embedding table;
    public int Classes { get; }

    public LabelEmbedder(int classes, int width, Generator g)
    {
        Classes = classes;
        table = Child("embedding_table", new Embedding(classes + 1, width, g));
        Init.Normal(table.Weight, g, 0f, 0.02f);
    }

    /// <summary>y (B) in [0, classes] → (B, D).</summary>
    public Tensor Forward(int[] y) => table.Forward(y);
}

/// <summary>Fixed 2-D sine-cosine position features (MAE/DiT): per token [sin(j·ω), cos(j·ω), sin(i·ω), cos(i·ω)], row i, column j.</summary>
public static class SinCos2d
{
    /// <summary>(1, gridH·gridW, D) with D a multiple of 4, tokens in raster order.</summary>
    public static Tensor Table(int width, int gridH, int gridW)
    {
        if (width % 4 != 0) throw new ArgumentException($"SinCos2d: width {width} must be a multiple of 4");
        int q = width / 4;
        var v = new float[gridH * gridW * width];
        for (int i = 0; i < gridH; i++)
            for (int j = 0; j < gridW; j++)
            {
                int o = (i * gridW + j) * width;
                for (int k = 0; k < q; k++)
                {
                    double omega = 1.0 / Math.Pow(10000, (double)k / q);
                    v[o + k] = (float)Math.Sin(j * omega);
                    v[o + q + k] = (float)Math.Cos(j * omega);
                    v[o + 2 * q + k] = (float)Math.Sin(i * omega);
                    v[o + 3 * q + k] = (float)Math.Cos(i * omega);
                }
            }
        return Tensor.Wrap(v, [1, gridH * gridW, width]);
    }
}
