using Engine.Random;
using Models.Diffusion;

namespace Engine.Tests;

public sealed class UNetTests
{
    [Test]
    public void W1_UNet_S_has_the_specified_size_and_parameter_names()
    {
        var net = new UNet(new UNetConfig(), new Generator(0));
        var names = net.NamedParameters().Select(p => p.Name).ToHashSet();
        Assert.That(net.ParameterCount(), Is.InRange(1_300_000, 1_400_000));
        Assert.That(names, Does.Contain("time_embed.linear1.weight").And.Contain("down.0.res.1.conv2.bias")
            .And.Contain("mid_attn.qkv.weight").And.Contain("down.2.attn.1.proj.bias").And.Contain("up.2.res.0.skip.weight")
            .And.Contain("class_embed.weight").And.Contain("down.1.resample.weight").And.Contain("conv_out.bias"));
    }

    [Test]
    public void Forward_keeps_the_image_shape_and_backward_reaches_every_parameter()
    {
        var g = new Generator(1);
        var net = new UNet(new UNetConfig(BaseChannels: 16), g);
        var x = Tensor.Randn([2, 1, 28, 28], g);
        var y = net.Forward(x, [3, 900], [1, 10]);
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 1, 28, 28 }));
        (y * y).Mean().Backward();
        var missing = net.NamedParameters().Where(p => p.Value.Grad is null).Select(p => p.Name).ToList();
        Assert.That(missing, Is.Empty);
        Assert.Throws<ShapeMismatchException>(() => net.Forward(Tensor.Zeros([2, 3, 28, 28]), [0, 0], [0, 0]));
    }

    [TestCase(1)]
    [TestCase(3)]
    public void Depth_is_configurable_and_the_skips_line_up(int blocks)
    {
        var g = new Generator(2);
        var net = new UNet(new UNetConfig(BaseChannels: 8, ResBlocks: blocks), g);
        var names = net.NamedParameters().Select(p => p.Name).ToList();
        Assert.That(names.Count(n => n.StartsWith("down.0.res.") && n.EndsWith(".conv1.weight")), Is.EqualTo(blocks));
        Assert.That(names.Count(n => n.StartsWith("up.2.res.") && n.EndsWith(".conv1.weight")), Is.EqualTo(blocks));
        var y = net.Forward(Tensor.Randn([2, 1, 12, 16], g), [0, 999], [3, 10]);
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 1, 12, 16 }));
        Assert.Throws<ArgumentException>(() => new UNet(new UNetConfig(BaseChannels: 8, ResBlocks: 0), g));
    }

    /// <summary>
    /// Under NoGrad, replayed by a <see cref="MemoryPlan"/>, the engine hands each intermediate of the UNet back to the
    /// pool after its last use, so later ops of the same pass reuse those arrays: the output must equal a pass that frees
    /// nothing (with a graph), bit for bit, for every depth (an array freed while still needed would be overwritten by a
    /// later op). Started from an empty pool, the pass asks for fewer than half the fresh arrays the recorded pass does.
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    public void Forward_without_a_graph_frees_intermediates_and_matches_the_recorded_pass(int blocks)
    {
        var net = new UNet(new UNetConfig(ResBlocks: blocks), new Generator(3));
        var x = Tensor.Randn([3, 1, 28, 28], new Generator(4));
        int[] t = [5, 500, 995], y = [0, 7, 10];
        var (recorded, recordedFresh) = FreshArrays.Pass(() => net.Forward(x, t, y), recordGraph: true);
        var (freed, freedFresh) = FreshArrays.Planned(() => net.Forward(x, t, y));
        Assert.That(freed, Is.EqualTo(recorded));
        Assert.That(freedFresh, Is.LessThan(recordedFresh / 2), $"fresh arrays: {freedFresh} without a graph, {recordedFresh} with one");
    }
}
