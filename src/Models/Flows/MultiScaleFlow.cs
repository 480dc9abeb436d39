using Engine;
using Engine.Nn;
using Engine.Random;

namespace Models.Flows;

/// <summary>Settings of <see cref="MultiScaleFlow"/>.</summary>
/// <param name="CheckerboardCouplings">Checkerboard couplings (each after an ActNorm) at full resolution, before the first squeeze.</param>
/// <param name="StepsPerScale">Glow steps (ActNorm → 1×1 conv → channel coupling) after each squeeze.</param>
/// <param name="Scales">Squeeze levels; after each but the last, half of the channels leave for the prior.</param>
public sealed record MultiScaleFlowConfig(
    int Channels = 1, int Height = 28, int Width = 28, int Hidden = 32,
    int CheckerboardCouplings = 2, int StepsPerScale = 4, int Scales = 2, float LogitAlpha = 0.05f);

/// <summary>
/// A RealNVP/Glow multi-scale flow for images in [0, 1], one bijection (B, C, H, W) → (B, C·H·W):
/// logit transform → checkerboard couplings → per scale [squeeze → Glow steps → split half the channels off]
/// → the remaining channels. The latent is the factored-out parts and the last one, flattened and concatenated.
/// </summary>
public sealed class MultiScaleFlow : FlowLayer
{
    readonly LogitTransform logit;
    readonly FlowSequence pre;
    readonly ModuleList<FlowSequence> scales;
    readonly Squeeze squeeze = new();
    readonly int[][] scaleShapes;                                                  // (C, H, W) after each squeeze

    public MultiScaleFlowConfig Config { get; }

    public MultiScaleFlow(MultiScaleFlowConfig config, Generator g)
    {
        Config = config;
        int c = config.Channels, h = config.Height, w = config.Width;
        if (c <= 0 || h <= 0 || w <= 0 || config.Scales < 1 || config.Hidden <= 0)
            throw new ArgumentException($"MultiScaleFlow: invalid config {config}");
        logit = Child("logit", new LogitTransform(config.LogitAlpha));
        var preLayers = new List<FlowLayer>();
        for (int i = 0; i < config.CheckerboardCouplings; i++)
        {
            preLayers.Add(new ActNorm(c));
            preLayers.Add(new AffineCoupling([c, h, w], CouplingMask.Checkerboard, i % 2 == 1, new CouplingConvNet(c, config.Hidden, g)));
        }
        pre = Child("pre", new FlowSequence(preLayers));

        var shapes = new List<int[]>();
        var levels = new List<FlowSequence>();
        for (int s = 0; s < config.Scales; s++)
        {
            if (h % 2 != 0 || w % 2 != 0)
                throw new ArgumentException($"MultiScaleFlow: scale {s} cannot squeeze {h}×{w} (odd size); use fewer scales");
            c *= 4; h /= 2; w /= 2;
            shapes.Add([c, h, w]);
            var steps = new List<FlowLayer>();
            for (int k = 0; k < config.StepsPerScale; k++)
            {
                steps.Add(new ActNorm(c));
                steps.Add(new InvertibleConv1x1(c, g));
                steps.Add(new AffineCoupling([c, h, w], CouplingMask.Channel, k % 2 == 1, new CouplingConvNet(c, config.Hidden, g)));
            }
            levels.Add(new FlowSequence(steps));
            if (s < config.Scales - 1) c /= 2;                                     // half the channels leave
        }
        scales = Child("scales", new ModuleList<FlowSequence>(levels));
        scaleShapes = [.. shapes];
    }

    /// <summary>Values per image, C·H·W.</summary>
    public int Dims => Config.Channels * Config.Height * Config.Width;

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x)
    {
        if (x.Rank != 4 || x.Shape[1] != Config.Channels || x.Shape[2] != Config.Height || x.Shape[3] != Config.Width)
            throw new ShapeMismatchException($"MultiScaleFlow: input {Shapes.Format(x.Shape)} should be (B, {Config.Channels}, {Config.Height}, {Config.Width})");
        int b = x.Shape[0];
        var (h, logDet) = logit.Forward(x);
        var (h2, ld) = pre.Forward(h);
        h = h2; logDet = logDet + ld;
        var parts = new List<Tensor>();
        for (int s = 0; s < scales.Count; s++)
        {
            h = squeeze.Forward(h).Y;
            (h, ld) = scales[s].Forward(h);
            logDet = logDet + ld;
            if (s < scales.Count - 1)
            {
                int half = h.Shape[1] / 2;
                parts.Add(h.Narrow(1, 0, half).Reshape(b, -1));
                h = h.Narrow(1, half, h.Shape[1] - half);
            }
        }
        parts.Add(h.Reshape(b, -1));
        return (Tensor.Cat([.. parts], 1), logDet);                                // (B, C·H·W)
    }

    public override Tensor Inverse(Tensor z)
    {
        if (z.Rank != 2 || z.Shape[1] != Dims)
            throw new ShapeMismatchException($"MultiScaleFlow: latent {Shapes.Format(z.Shape)} should be (B, {Dims})");
        int b = z.Shape[0];
        // Sizes of the factored-out parts, then the last one.
        var sizes = new List<int>();
        for (int s = 0; s < scales.Count - 1; s++) sizes.Add(Shapes.Numel(scaleShapes[s]) / 2);
        int offset = sizes.Sum();
        var last = scaleShapes[^1];
        var h = z.Narrow(1, offset, z.Shape[1] - offset).Reshape(b, last[0], last[1], last[2]);
        for (int s = scales.Count - 1; s >= 0; s--)
        {
            if (s < scales.Count - 1)
            {
                offset -= sizes[s];
                var shape = scaleShapes[s];
                var outPart = z.Narrow(1, offset, sizes[s]).Reshape(b, shape[0] / 2, shape[1], shape[2]);
                h = Tensor.Cat([outPart, h], 1);
            }
            h = squeeze.Inverse(scales[s].Inverse(h));
        }
        return logit.Inverse(pre.Inverse(h));
    }
}
