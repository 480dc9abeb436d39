using Engine;
using Engine.Autograd;
using Engine.Data;
using Engine.Nn;
using Engine.Random;
using Models.Evaluation;

namespace Models.Flows;

/// <summary>
/// A flow with a standard-normal prior: exact log-likelihood by the change of variables,
/// log p(x) = log N(f(x)) + log|det ∂f/∂x|, and sampling by x = f⁻¹(z).
/// </summary>
/// <example><c>var flow = NormalizingFlow.RealNvp2D(new Generator(0)); var nll = -flow.LogProb(points).Mean();</c></example>
public sealed class NormalizingFlow : Module
{
    public FlowLayer Body { get; }

    /// <summary>Per-sample shape of the data (and of the latent, flattened or not).</summary>
    public int[] DataShape { get; }

    public NormalizingFlow(FlowLayer body, int[] dataShape)
    {
        Body = Child("flow", body);
        DataShape = (int[])dataShape.Clone();
    }

    /// <summary>RealNVP for 2D points: <paramref name="blocks"/> × [ActNorm → LU linear → affine coupling (alternating halves)].</summary>
    public static NormalizingFlow RealNvp2D(Generator g, int blocks = 8, int hidden = 64)
    {
        var layers = new List<FlowLayer>();
        for (int i = 0; i < blocks; i++)
        {
            layers.Add(new ActNorm(2));
            layers.Add(new InvertibleConv1x1(2, g));
            layers.Add(new AffineCoupling([2], CouplingMask.Channel, i % 2 == 1, new CouplingMlp(2, hidden, g)));
        }
        return new NormalizingFlow(new FlowSequence(layers), [2]);
    }

    /// <summary>The multi-scale image flow of <see cref="MultiScaleFlow"/> (data in [0, 1]).</summary>
    public static NormalizingFlow Image(MultiScaleFlowConfig config, Generator g) =>
        new(new MultiScaleFlow(config, g), [config.Channels, config.Height, config.Width]);

    public int Dims => Shapes.Numel(DataShape);

    /// <summary>log p(x) in nats per sample, (B).</summary>
    public Tensor LogProb(Tensor x)
    {
        var (z, logDet) = Body.Forward(x);
        return StandardNormal.LogProb(z) + logDet;
    }

    /// <summary><paramref name="n"/> samples f⁻¹(T·z), z ~ N(0, I); a temperature T below 1 trades diversity for quality.</summary>
    public Tensor Sample(int n, Generator g, float temperature = 1f)
    {
        using var _ = GradMode.NoGrad();
        int[] latent = Body is MultiScaleFlow ? [n, Dims] : [n, .. DataShape];
        return Body.Inverse(Tensor.Randn(latent, g) * temperature);
    }

    /// <summary>
    /// Bits per dimension of 8-bit images (values k/255) under the model: uniformly dequantised with
    /// <paramref name="g"/>, evaluated in batches, converted by <see cref="BitsPerDim.FromContinuousNll"/> (range 1).
    /// </summary>
    public double BitsPerDimension(Tensor images, Generator g, int batch = 250)
    {
        using var _ = GradMode.NoGrad();
        double total = 0;
        int n = images.Shape[0];
        for (int i = 0; i < n; i += batch)
        {
            int b = Math.Min(batch, n - i);
            var y = Dequantization.Uniform(images.Narrow(0, i, b), g);
            var lp = LogProb(y).ToArray();
            foreach (var v in lp) total -= v;
        }
        var nll = total / n;
        if (!double.IsFinite(nll)) throw new NonFiniteException($"NormalizingFlow: the NLL of {n} images is {nll}");
        return BitsPerDim.FromContinuousNll(nll, Dims, 1.0);
    }
}
