using Engine;
using Engine.Autograd;
using Engine.Random;
using Models.Evaluation;
using Models.Flows;

namespace Models.FlowMatching;

/// <summary>How the divergence of the vector field is taken.</summary>
public enum Divergence
{
    /// <summary>Σᵢ ∂vᵢ/∂xᵢ from D backward passes: exact, for low dimensions (2D toys).</summary>
    Exact,
    /// <summary>Hutchinson's estimator εᵀ(∂v/∂x)ε with one Rademacher ε per sample, fixed over the solve: one backward pass.</summary>
    Hutchinson,
}

/// <summary>
/// A vector field read as a continuous normalizing flow (Chen et al. 2018; FFJORD): along dx/dt = v(x, t),
/// d log p_t(x_t)/dt = −div v. Integrating the state [x, ℓ] backwards from data (t = 1) to noise (t = 0) with
/// dℓ/dt = div v gives log p₁(x₁) = log N(x₀; 0, I) + ℓ(0). Needs grad mode on (divergences are gradients);
/// the field's parameters are frozen meanwhile so their gradients stay untouched.
/// </summary>
public static class ContinuousFlow
{
    /// <summary>log p(x) per sample (B) under the flow of <paramref name="field"/>, with the divergence taken as <paramref name="mode"/> says.</summary>
    public static Tensor LogProb(IVelocityField field, Tensor x, OdeOptions options, Divergence mode, Generator? g = null,
        int[]? labels = null, float guidance = 1f)
    {
        if (!GradMode.Enabled) throw new InvalidOperationException("ContinuousFlow: divergences are gradients; call LogProb outside a NoGrad scope");
        if (mode == Divergence.Hutchinson && g is null) throw new ArgumentException("ContinuousFlow: Hutchinson's estimator needs a generator for its noise");
        int b = x.Shape[0], d = x.Numel / b;
        int[] shape = x.Shape;
        Tensor? noise = null;
        if (mode == Divergence.Hutchinson)
        {
            var u = new float[b * d];
            g!.FillUniform(u);
            noise = Tensor.Wrap(u.Select(v => v < 0.5f ? -1f : 1f).ToArray(), shape);
        }

        using var frozen = new FrozenParameters(field.Parameters());
        Tensor Augmented(double t, Tensor state)                                   // state (B, D + 1) → (B, D + 1)
        {
            var xt = state.Narrow(1, 0, d).Contiguous().Reshape(shape).Detach().RequireGrad();
            var v = ConditionalFlowMatching.Velocity(field, xt, t, labels, guidance);
            var div = mode == Divergence.Exact ? ExactDivergence(v, xt) : HutchinsonDivergence(v, xt, noise!);
            return Tensor.Cat([v.Detach().Reshape(b, d), div.Reshape(b, 1)], 1);
        }

        var start = Tensor.Cat([x.Detach().Reshape(b, d), Tensor.Zeros([b, 1])], 1);
        var end = OdeSolver.Solve(Augmented, start, 1, 0, options).X;
        var z = end.Narrow(1, 0, d).Contiguous();
        var ell = end.Narrow(1, d, 1).Reshape(b);
        return StandardNormal.LogProb(z) + ell;
    }

    /// <summary>Σᵢ ∂vᵢ/∂xᵢ per sample by one backward pass per dimension.</summary>
    static Tensor ExactDivergence(Tensor v, Tensor x)
    {
        int b = x.Shape[0], d = x.Numel / b;
        var div = new float[b];
        for (int i = 0; i < d; i++)
        {
            x.Grad = null;
            var e = new float[b * d];
            for (int s = 0; s < b; s++) e[s * d + i] = 1f;
            v.Backward(Tensor.Wrap(e, v.Shape));
            var gr = x.Grad!.ToArray();
            for (int s = 0; s < b; s++) div[s] += gr[s * d + i];
        }
        x.Grad = null;
        return Tensor.Wrap(div, b);
    }

    static Tensor HutchinsonDivergence(Tensor v, Tensor x, Tensor noise)
    {
        x.Grad = null;
        v.Backward(noise);                                                       // x.Grad = εᵀ ∂v/∂x
        var est = FlowLayer.SumPerSample(x.Grad! * noise);
        x.Grad = null;
        return est;
    }

    /// <summary>
    /// Bits per dimension of 8-bit images (values k/255) under the flow, for a field trained on data scaled to
    /// [−1, 1]: uniformly dequantised, scaled, integrated with Hutchinson's estimator, converted with range 2.
    /// </summary>
    public static double BitsPerDimension(IVelocityField field, Tensor images, OdeOptions options, Generator g, int batch = 50, int[]? labels = null)
    {
        double total = 0;
        int n = images.Shape[0], dims = images.Numel / n;
        for (int i = 0; i < n; i += batch)
        {
            int b = Math.Min(batch, n - i);
            var y = Dequantization.Uniform(images.Narrow(0, i, b), g) * 2f - 1f;
            var lp = LogProb(field, y, options, Divergence.Hutchinson, g, labels?.AsSpan(i, b).ToArray()).ToArray();
            foreach (var v in lp) total -= v;
        }
        double nll = total / n;
        if (!double.IsFinite(nll)) throw new NonFiniteException($"ContinuousFlow: the NLL of {n} images is {nll}");
        return BitsPerDim.FromContinuousNll(nll, dims, 2.0);
    }
}

/// <summary>Turns off RequiresGrad on parameters for a scope, and restores it.</summary>
public sealed class FrozenParameters : IDisposable
{
    readonly List<Tensor> frozen = [];

    public FrozenParameters(IEnumerable<Tensor> parameters)
    {
        foreach (var p in parameters)
            if (p.RequiresGrad) { p.RequiresGrad = false; frozen.Add(p); }
    }

    public void Dispose()
    {
        foreach (var p in frozen) p.RequiresGrad = true;
        frozen.Clear();
    }
}
