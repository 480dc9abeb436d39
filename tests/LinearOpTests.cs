namespace Engine.Tests;

/// <summary>The fused Linear op against MatMul + broadcast add, and its shape checks.</summary>
public sealed class LinearOpTests
{
    [Test]
    public void Linear_equals_matmul_plus_bias_inside_and_outside_a_scope()
    {
        var g = new Random.Generator(3);
        var x = Tensor.Randn([300, 70], g); var w = Tensor.Randn([90, 70], g); var b = Tensor.Randn([90], g);
        var expected = (Tensor.MatMul(x, w.T) + b).ToArray();
        Assert.That(Tensor.Linear(x, w, b).ToArray(), Is.EqualTo(expected).Within(1e-4f));
        for (int step = 0; step < 2; step++)                                         // the second scope reuses (unzeroed) arrays
            using (new DeviceScope())
                Assert.That(Tensor.Linear(x, w, b).ToArray(), Is.EqualTo(expected).Within(1e-4f));
    }

    [Test]
    public void Linear_refuses_mismatched_shapes()
    {
        var ex = Assert.Throws<ShapeMismatchException>(() => Tensor.Linear(Tensor.Zeros([4, 3]), Tensor.Zeros([5, 2]), Tensor.Zeros([5])));
        Assert.That(ex!.Message, Does.Contain("Linear"));
        Assert.Throws<ShapeMismatchException>(() => Tensor.Linear(Tensor.Zeros([4, 3]), Tensor.Zeros([5, 3]), Tensor.Zeros([4])));
    }
}
