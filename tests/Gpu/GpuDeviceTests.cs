
using Engine.Gpu;
using Engine.Nn;
using Engine.Optim;
using Engine.Random;

namespace Engine.Tests;

/// <summary>
/// The engine on a GPU device (ILGPU's CPU accelerator): every case of the gradient-check table runs on both devices
/// and must give the same values and the same gradients (the CPU's are checked against finite differences in
/// <see cref="GradCheckTests"/>), plus device management: copies, mixing errors, pooling, scopes, optimizers.
/// </summary>
public sealed class GpuDeviceTests
{
    static Device Gpu => GpuTestDevice.Device;

    public static IEnumerable<GradCase> AllCases() => GradCheckTests.AllCases();

    /// <summary>Cases whose function builds its own CPU tensors (running statistics): on a GPU input they must refuse to mix devices.</summary>
    static readonly HashSet<string> CapturesHostTensors = ["batch norm train plain", "batch norm eval"];

    [TestCaseSource(nameof(AllCases))]
    public void Gradient_case_agrees_with_cpu(GradCase c)
    {
        // The same inputs twice (cases that build a module build two identical ones); the second set moves in place.
        var cpuInputs = c.Inputs(new Generator(7));
        var gpuInputs = c.Inputs(new Generator(7));
        foreach (var t in gpuInputs) t.MoveTo(Gpu);
        if (CapturesHostTensors.Contains(c.Name))
        {
            Assert.Throws<DeviceMismatchException>(() => c.F(gpuInputs));
            return;
        }
        foreach (var t in cpuInputs.Concat(gpuInputs)) { t.RequiresGrad = true; t.Grad = null; }
        var yCpu = c.F(cpuInputs);
        var yGpu = c.F(gpuInputs);
        Assert.That(yGpu.Device, Is.EqualTo(Gpu), $"{c.Name}: output device");
        GpuTestDevice.AssertClose(yCpu.ToArray(), yGpu.ToArray(), $"{c.Name}: output", 2e-4f);
        var w = Tensor.Randn(yCpu.Shape, new Generator(12345));
        (yCpu * w).Sum().Backward();
        (yGpu * w.To(Gpu)).Sum().Backward();
        for (int i = 0; i < cpuInputs.Length; i++)
        {
            var expected = cpuInputs[i].Grad?.ToArray() ?? new float[cpuInputs[i].Numel];
            var actual = gpuInputs[i].Grad;
            if (actual is not null) Assert.That(actual.Device, Is.EqualTo(Gpu), $"{c.Name}: gradient {i} device");
            GpuTestDevice.AssertClose(expected, actual?.ToArray() ?? new float[gpuInputs[i].Numel], $"{c.Name}: gradient of input {i}", 5e-4f);
        }
    }

    [Test]
    public void To_copies_both_ways_and_gradients_flow_back_to_the_cpu()
    {
        var x = Tensor.FromArray([1f, -2f, 3f, 4.5f], 2, 2).RequireGrad();
        var xg = x.To(Gpu);
        Assert.That(xg.Device, Is.EqualTo(Gpu));
        Assert.That(xg.ToArray(), Is.EqualTo(new[] { 1f, -2f, 3f, 4.5f }));
        (xg * xg).Sum().Backward();
        Assert.That(x.Grad!.Device, Is.EqualTo(Device.Cpu));
        Assert.That(x.Grad.ToArray(), Is.EqualTo(new[] { 2f, -4f, 6f, 9f }));
        Assert.That(xg.To(Device.Cpu).Device, Is.EqualTo(Device.Cpu));
    }

    [Test]
    public void Mixing_devices_is_a_clear_error_but_host_scalars_mix()
    {
        var a = Tensor.Ones([2, 3]).To(Gpu);
        var b = Tensor.Ones([2, 3]);
        var e = Assert.Throws<DeviceMismatchException>(() => _ = a + b)!;
        Assert.That(e.Message, Does.Contain("Add").And.Contain(Gpu.ToString()).And.Contain("cpu"));
        Assert.Throws<DeviceMismatchException>(() => Tensor.MatMul(a, b.T));
        Assert.That(((a * 2f) + 1f).ToArray(), Is.All.EqualTo(3f));
    }

    [Test]
    public void Missing_devices_are_typed_errors()
    {
        var e = Assert.Throws<DeviceUnavailableException>(() => Device.Gpu("cuda:7"))!;
        Assert.That(e.Message, Does.Contain("cuda:7").And.Contain(Device.CpuAcceleratorName));
        Assert.Throws<ArgumentException>(() => Device.Gpu("tpu"));
        Assert.That(Device.Parse("cpu"), Is.EqualTo(Device.Cpu));
        Assert.That(Device.Parse(Device.CpuAcceleratorName), Is.EqualTo(Gpu));
    }

    [Test]
    public void Freed_buffers_are_reused_and_scopes_free_deterministically()
    {
        var pool = GpuRuntime.Get(Gpu).Pool;
        var x = Tensor.Randn([3, 37], new Generator(1)).To(Gpu);
        Tensor kept;
        using (var scope = new DeviceScope()) kept = scope.Keep((x.Exp() + 1f).Sum());
        Assert.That(kept.Storage.IsDisposed, Is.False);
        Assert.That(kept.Item(), Is.EqualTo(x.Exp().Sum().Item() + 111f).Within(1e-2f));
        using (new DeviceScope()) _ = (x.Exp() * x).Sum(1).ToArray();
        long before = pool.Allocations;
        for (int i = 0; i < 4; i++)
            using (new DeviceScope()) _ = (x.Exp() * x).Sum(1).ToArray();
        Assert.That(pool.Allocations, Is.EqualTo(before), "steps after the first reuse pooled buffers");
        Tensor inner;
        using (new DeviceScope()) inner = x.Exp();
        Assert.That(inner.Storage.IsDisposed, Is.True);
        Assert.Throws<ObjectDisposedException>(() => inner.ToArray());
    }

    [Test]
    public void AdamW_training_on_the_gpu_follows_the_cpu()
    {
        Sequential Model(Generator g) => new Sequential(new Linear(3, 8, g), new Silu(), new Linear(8, 2, g));
        var cpu = Model(new Generator(3));
        var gpu = Model(new Generator(3));
        gpu.To(Gpu);
        var optCpu = new AdamW(cpu.Parameters(), lr: 1e-2f);
        var optGpu = new AdamW(gpu.Parameters(), lr: 1e-2f);
        var x = Tensor.Randn([5, 3], new Generator(4)); var y = Tensor.Randn([5, 2], new Generator(5));
        var xg = x.To(Gpu); var yg = y.To(Gpu);
        for (int step = 0; step < 3; step++)
        {
            optCpu.ZeroGrad(); Losses.MseLoss(cpu.Forward(x), y).Backward(); optCpu.Step();
            optGpu.ZeroGrad(); Losses.MseLoss(gpu.Forward(xg), yg).Backward(); optGpu.Step();
        }
        foreach (var (c, gp) in cpu.NamedParameters().Zip(gpu.NamedParameters()))
        {
            var (name, pc, pg) = (c.Name, c.Value, gp.Value);
            Assert.That(pg.Device, Is.EqualTo(Gpu));
            GpuTestDevice.AssertClose(pc.ToArray(), pg.ToArray(), name, 1e-4f);
        }
    }
}
