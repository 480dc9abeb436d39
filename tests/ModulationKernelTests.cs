using Kernels.Cpu;
using static Engine.Tests.NormKernelTests;

namespace Engine.Tests;

/// <summary>The adaLN modulation and gated-residual kernels: every variant against the reference, at widths with and without a vector tail.</summary>
public sealed class ModulationKernelTests
{
    [Test, Combinatorial]
    public void Modulate_variants_match_the_reference([Values(1, 3)] int batch, [Values(1, 7, 196)] int tokens, [Values(1, 16, 37, 256)] int width)
    {
        int n = batch * tokens * width, c = batch * width;
        var x = Normal(n, 1); var shift = Normal(c, 2); var scale = Normal(c, 3); var g = Normal(n, 4);
        var y = new float[n]; var dx = new float[n]; var dshift = new float[c]; var dscale = new float[c];
        Modulation.ModulateReference(batch, tokens, width, x, shift, scale, y);
        Modulation.ModulateBackwardReference(batch, tokens, width, x, scale, g, dx, dshift, dscale);
        foreach (var v in KernelRegistry.Modulate.Where(v => !v.IsReference))
        {
            var yv = new float[n];
            v.Run(batch, tokens, width, x, shift, scale, yv);
            AssertClose(y, yv, 1e-5f, $"{v.Name} y");
        }
        foreach (var v in KernelRegistry.ModulateBackward.Where(v => !v.IsReference))
        {
            var dxv = new float[n]; var dshiftv = Normal(c, 9); var dscalev = Normal(c, 10);   // outputs are overwritten, not added to
            v.Run(batch, tokens, width, x, scale, g, dxv, dshiftv, dscalev);
            AssertClose(dx, dxv, 1e-5f, $"{v.Name} dx");
            AssertClose(dshift, dshiftv, 1e-4f, $"{v.Name} dshift");
            AssertClose(dscale, dscalev, 1e-4f, $"{v.Name} dscale");
        }
    }

    [Test, Combinatorial]
    public void GatedAdd_variants_match_the_reference([Values(1, 3)] int batch, [Values(1, 7, 196)] int tokens, [Values(1, 16, 37, 256)] int width)
    {
        int n = batch * tokens * width, c = batch * width;
        var x = Normal(n, 1); var gate = Normal(c, 2); var branch = Normal(n, 3); var g = Normal(n, 4);
        var y = new float[n]; var dbranch = new float[n]; var dgate = new float[c];
        Modulation.GatedAddReference(batch, tokens, width, x, gate, branch, y);
        Modulation.GatedAddBackwardReference(batch, tokens, width, gate, branch, g, dbranch, dgate);
        foreach (var v in KernelRegistry.GatedAdd.Where(v => !v.IsReference))
        {
            var yv = new float[n];
            v.Run(batch, tokens, width, x, gate, branch, yv);
            AssertClose(y, yv, 1e-5f, $"{v.Name} y");
        }
        foreach (var v in KernelRegistry.GatedAddBackward.Where(v => !v.IsReference))
        {
            var dbv = new float[n]; var dgv = Normal(c, 9);
            v.Run(batch, tokens, width, gate, branch, g, dbv, dgv);
            AssertClose(dbranch, dbv, 1e-5f, $"{v.Name} dbranch");
            AssertClose(dgate, dgv, 1e-4f, $"{v.Name} dgate");
        }
    }

    [Test]
    public void Too_short_buffers_are_refused_with_a_clear_message()
    {
        var ex = Assert.Throws<ArgumentException>(() => Modulation.Modulate<VecT>(2, 3, 4, new float[23], new float[8], new float[8], new float[24]));
        Assert.That(ex!.Message, Does.Contain("tokens need 24"));
        Assert.Throws<ArgumentException>(() => Modulation.GatedAdd<VecT>(2, 3, 4, new float[24], new float[7], new float[24], new float[24]));
    }

    [Test]
    public void Tensor_ops_refuse_mismatched_shapes()
    {
        Assert.Throws<ShapeMismatchException>(() => Tensor.Modulate(Tensor.Zeros([2, 3, 4]), Tensor.Zeros([2, 4]), Tensor.Zeros([2, 5])));
        Assert.Throws<ShapeMismatchException>(() => Tensor.GatedAdd(Tensor.Zeros([2, 3, 4]), Tensor.Zeros([2, 4]), Tensor.Zeros([2, 3, 5])));
    }
}
