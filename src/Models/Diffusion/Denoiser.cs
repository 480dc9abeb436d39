using Engine;

namespace Models.Diffusion;

/// <summary>What the network is trained to predict.</summary>
public enum Prediction { Epsilon, Velocity }

/// <summary>A network that, given noisy images x_t (B, C, H, W), timesteps and class labels, predicts ε or v.</summary>
public interface IDenoiser
{
    /// <summary>The label that means "no class", used for the unconditional half of classifier-free guidance.</summary>
    int NullClass { get; }

    Tensor Forward(Tensor xt, int[] t, int[] labels);
}

/// <summary>Classifier-free guidance (Ho &amp; Salimans 2022): ε̂ = ε_u + s·(ε_c − ε_u), both passes in one batch.</summary>
public static class Guidance
{
    /// <summary>The guided prediction. With <paramref name="scale"/> 1 this is the conditional pass alone (one network call).</summary>
    public static Tensor Predict(IDenoiser model, Tensor xt, int[] t, int[] labels, float scale)
    {
        if (scale == 1f) return model.Forward(xt, t, labels);
        int b = xt.Shape[0];
        var both = model.Forward(Tensor.Cat([xt, xt], 0), [.. t, .. t], [.. labels, .. Enumerable.Repeat(model.NullClass, b)]);
        var cond = both.Narrow(0, 0, b);
        var uncond = both.Narrow(0, b, b);
        return uncond + (cond - uncond) * scale;
    }
}
