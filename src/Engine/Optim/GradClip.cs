namespace Engine.Optim;

/// <summary>Gradient clipping, as PyTorch's <c>torch.nn.utils.clip_grad_norm_</c>.</summary>
public static class GradClip
{
    /// <summary>
    /// Scales all gradients together so that their global L2 norm is at most <paramref name="maxNorm"/>
    /// (by maxNorm / (norm + 1e-6) when it is above) and returns the norm before clipping, computed in double.
    /// Parameters without a gradient are skipped. A non-finite norm is returned and the gradients are left
    /// as they are, so the optimizer's step reports the offending parameter.
    /// </summary>
    /// <example><c>double norm = GradClip.ClipGradNorm(model.Parameters(), 1.0);</c></example>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        if (!(maxNorm > 0) || double.IsInfinity(maxNorm))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), $"ClipGradNorm: max norm must be positive and finite, got {maxNorm}");
        var withGrad = parameters.Where(p => p.Grad is not null).ToList();
        if (withGrad.Count == 0) return 0;
        var device = Device.Common("ClipGradNorm", [.. withGrad.Select(p => p.Grad!)]);
        using var _ = Autograd.GradMode.NoGrad();
        foreach (var p in withGrad) p.Grad = p.Grad!.Contiguous();                // scaled in place
        double norm = device.Backend.ClipGradNorm([.. withGrad.Select(p => p.Grad!)], maxNorm);
        return norm;
    }
}
