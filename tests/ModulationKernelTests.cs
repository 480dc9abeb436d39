using Kernels.Cpu;

namespace Engine.Tests;

/// <summary>The adaLN modulation and gated-residual kernels beyond the declared cases (<see cref="KernelCaseTests"/>): bad sizes.</summary>
public sealed class ModulationKernelTests
{
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
