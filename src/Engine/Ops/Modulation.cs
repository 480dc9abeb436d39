using Engine.Autograd;
using Kernels.Cpu;

namespace Engine;

// The two elementwise steps of adaLN conditioning as single ops (see Kernels.Cpu.Modulation): tokens x (B, T, D),
// conditioning rows (B, D) broadcast over the T tokens.
public sealed partial class Tensor
{
    /// <summary>
    /// x·(1 + scale) + shift in one pass (a chain of broadcast ops would make three temporaries); the backward forms
    /// dx and both conditioning gradients in one pass too. On a GPU, the same function from broadcast ops.
    /// </summary>
    public static Tensor Modulate(Tensor x, Tensor shift, Tensor scale)
    {
        var (b, t, d) = ModulationShapes("Modulate", x, shift, scale);
        if (x.Device.IsGpu) return x * (scale.Unsqueeze(1) + 1f) + shift.Unsqueeze(1);
        x = x.Contiguous(); shift = shift.Contiguous(); scale = scale.Contiguous();
        var y = Uninitialized(x.Shape, x.Device);
        KernelRegistry.FastModulate(b, t, d, x.Span, shift.Span, scale.Span, y.Span);
        return Backprop.Record("Modulate", y, [x, shift, scale], g =>
        {
            g = g.Contiguous();
            var dx = Uninitialized(x.Shape, x.Device); var dshift = Uninitialized(shift.Shape, x.Device); var dscale = Uninitialized(scale.Shape, x.Device);
            KernelRegistry.FastModulateBackward(b, t, d, x.Span, scale.Span, g.Span, dx.Span, dshift.Span, dscale.Span);
            Backprop.Accumulate(x, dx); Backprop.Accumulate(shift, dshift); Backprop.Accumulate(scale, dscale);
        }, $"B={b}, T={t}, D={d}");
    }

    /// <summary>x + gate·branch in one pass; the backward passes g to x unchanged and forms g·gate and Σ_t g·branch in one pass.</summary>
    public static Tensor GatedAdd(Tensor x, Tensor gate, Tensor branch)
    {
        var (b, t, d) = ModulationShapes("GatedAdd", x, gate, gate);
        if (!Shapes.SameShape(x.Shape, branch.Shape))
            throw new ShapeMismatchException($"GatedAdd: residual {Shapes.Format(x.Shape)} and branch {Shapes.Format(branch.Shape)} differ");
        Device.Common("GatedAdd", x, gate, branch);
        if (x.Device.IsGpu) return x + gate.Unsqueeze(1) * branch;
        x = x.Contiguous(); gate = gate.Contiguous(); branch = branch.Contiguous();
        var y = Uninitialized(x.Shape, x.Device);
        KernelRegistry.FastGatedAdd(b, t, d, x.Span, gate.Span, branch.Span, y.Span);
        return Backprop.Record("GatedAdd", y, [x, gate, branch], g =>
        {
            g = g.Contiguous();
            Backprop.Accumulate(x, g);
            if (!gate.RequiresGrad && !branch.RequiresGrad) return;
            var dbranch = Uninitialized(branch.Shape, x.Device); var dgate = Uninitialized(gate.Shape, x.Device);
            KernelRegistry.FastGatedAddBackward(b, t, d, gate.Span, branch.Span, g.Span, dbranch.Span, dgate.Span);
            Backprop.Accumulate(gate, dgate); Backprop.Accumulate(branch, dbranch);
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
