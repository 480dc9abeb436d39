namespace Engine.Nn;

/// <summary>
/// Adaptive layer-norm helpers (DiT's adaLN-Zero): a per-sample conditioning vector shifts and scales the
/// normalised tokens, and gates a residual branch. B batch, T tokens, D width.
/// </summary>
public static class AdaLN
{
    /// <summary>x·(1 + scale) + shift with x (B, T, D) and shift, scale (B, D) broadcast over the tokens (one fused op, <see cref="Tensor.Modulate"/>).</summary>
    /// <example><c>var h = AdaLN.Modulate(norm.Forward(x), shift, scale);</c></example>
    public static Tensor Modulate(Tensor x, Tensor shift, Tensor scale) => Tensor.Modulate(x, shift, scale);

    /// <summary>x + gate·branch with x, branch (B, T, D) and gate (B, D) broadcast over the tokens (one fused op, <see cref="Tensor.GatedAdd"/>).</summary>
    public static Tensor GatedResidual(Tensor x, Tensor gate, Tensor branch) => Tensor.GatedAdd(x, gate, branch);
}
