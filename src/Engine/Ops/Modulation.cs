using Engine.Autograd;

namespace Engine;

// The two elementwise steps of adaLN conditioning as single ops (see Kernels.Cpu.Modulation): tokens x (B, T, D),
// conditioning rows (B, D) broadcast over the T tokens.
public sealed partial class Tensor
{
    /// <summary>
    /// x·(1 + scale) + shift in one pass (a chain of broadcast ops would make three temporaries); the backward forms
    /// dx and both conditioning gradients in one pass too.
    /// </summary>
    public static Tensor Modulate(Tensor x, Tensor shift, Tensor scale)
    {
        var (b, t, d) = ModulationShapes("Modulate", x, shift, scale);
        x = x.Contiguous(); shift = shift.Contiguous(); scale = scale.Contiguous();
        var backend = x.Backend;
        var y = Uninitialized(x.Shape, x.Device);
        backend.Modulate(b, t, d, x, shift, scale, y);
        return Backprop.Record("Modulate", y, [x, shift, scale], g =>
        {
            g = g.Contiguous();
            var dx = Uninitialized(x.Shape, x.Device); var dshift = Uninitialized(shift.Shape, x.Device); var dscale = Uninitialized(scale.Shape, x.Device);
            backend.ModulateBackward(b, t, d, x, scale, g, dx, dshift, dscale);
            Backprop.AccumulateFresh(x, dx); Backprop.AccumulateFresh(shift, dshift); Backprop.AccumulateFresh(scale, dscale);
        }, $"B={b}, T={t}, D={d}");
    }

    /// <summary>x + gate·branch in one pass; the backward passes g to x unchanged and forms g·gate and Σ_t g·branch in one pass.</summary>
    public static Tensor GatedAdd(Tensor x, Tensor gate, Tensor branch)
    {
        var (b, t, d) = ModulationShapes("GatedAdd", x, gate, gate);
        if (!Shapes.SameShape(x.Shape, branch.Shape))
            throw new ShapeMismatchException($"GatedAdd: residual {Shapes.Format(x.Shape)} and branch {Shapes.Format(branch.Shape)} differ");
        Device.Common("GatedAdd", x, gate, branch);
        x = x.Contiguous(); gate = gate.Contiguous(); branch = branch.Contiguous();
        var backend = x.Backend;
        var y = Uninitialized(x.Shape, x.Device);
        backend.GatedAdd(b, t, d, x, gate, branch, y);
        return Backprop.Record("GatedAdd", y, [x, gate, branch], g =>
        {
            g = g.Contiguous();
            Backprop.Accumulate(x, g);
            if (!gate.RequiresGrad && !branch.RequiresGrad) return;
            var dbranch = Uninitialized(branch.Shape, x.Device); var dgate = Uninitialized(gate.Shape, x.Device);
            backend.GatedAddBackward(b, t, d, gate, branch, g, dbranch, dgate);
            Backprop.AccumulateFresh(gate, dgate); Backprop.AccumulateFresh(branch, dbranch);
        }, $"B={b}, T={t}, D={d}");
    }

    static (int b, int t, int d) ModulationShapes(string op, Tensor x, Tensor c1, Tensor c2)
    {
        Device.Common(op, x, c1, c2);
        bool ok = x.Rank == 3 && c1.Rank == 2 && c2.Rank == 2 && c1.Shape[0] == x.Shape[0] && c2.Shape[0] == x.Shape[0]
            && c1.Shape[1] == x.Shape[2] && c2.Shape[1] == x.Shape[2] && x.Shape[2] > 0;
        if (!ok)
            throw new ShapeMismatchException($"{op}: expected tokens (B, T, D) and conditioning (B, D), got {Shapes.Format(x.Shape)}, {Shapes.Format(c1.Shape)}, {Shapes.Format(c2.Shape)}");
        return (x.Shape[0], x.Shape[1], x.Shape[2]);
    }
}
