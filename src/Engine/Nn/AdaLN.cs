namespace Engine.Nn;

/// <summary>
/// Adaptive layer-norm helpers (DiT's adaLN-Zero): a per-sample conditioning vector shifts and scales the
/// normalised tokens, and gates a residual branch. B batch, T tokens, D width.
/// </summary>
public static class AdaLN
{
    /// <summary>x·(1 + scale) + shift with x (B, T, D) and shift, scale (B, D) broadcast over the tokens.</summary>
    /// <example><c>var h = AdaLN.Modulate(norm.Forward(x), shift, scale);</c></example>
    public static Tensor Modulate(Tensor x, Tensor shift, Tensor scale)
    {
        Check("Modulate", x, shift, scale);
        return x * (scale.Unsqueeze(1) + 1f) + shift.Unsqueeze(1);                 // (B, T, D)
    }

    /// <summary>x + gate·branch with x, branch (B, T, D) and gate (B, D) broadcast over the tokens.</summary>
    public static Tensor GatedResidual(Tensor x, Tensor gate, Tensor branch)
    {
        Check("GatedResidual", x, gate, gate);
        if (!Shapes.SameShape(x.Shape, branch.Shape))
            throw new ShapeMismatchException($"AdaLN.GatedResidual: residual {Shapes.Format(x.Shape)} and branch {Shapes.Format(branch.Shape)} differ");
        return x + gate.Unsqueeze(1) * branch;
    }

    static void Check(string op, Tensor x, Tensor a, Tensor b)
    {
        bool ok = x.Rank == 3 && a.Rank == 2 && b.Rank == 2 && a.Shape[0] == x.Shape[0] && b.Shape[0] == x.Shape[0]
            && a.Shape[1] == x.Shape[2] && b.Shape[1] == x.Shape[2];
        if (!ok)
            throw new ShapeMismatchException($"AdaLN.{op}: expected x (B, T, D) and conditioning (B, D), got {Shapes.Format(x.Shape)}, {Shapes.Format(a.Shape)}, {Shapes.Format(b.Shape)}");
    }
}
