using Engine.Nn;
using Engine.Optim;
using Engine.Random;
using Models.Diffusion;
using Models.Dit;
using Models.Dit.Text;
using Models.FlowMatching;
using Models.Flows;
using Models.Gan;
using Models.PixelCnn;
using Models.Vae;

namespace Engine.Tests;

/// <summary>
/// One training step of every model family on a GPU device (ILGPU's CPU accelerator): the model and the batch are
/// moved to the device first, then loss, backward and the family's optimizer step run without a single storage crossing
/// between host and device (<see cref="Storage.HostReads"/>, <see cref="Storage.HostWrites"/>) apart from the read of
/// the loss at the end, and every updated parameter matches the same step on the CPU. The models are tiny, as the
/// accelerator simulates every GPU thread on the host. The crossing counters are process-wide, so the fixture does not
/// run beside other tests. What the counters do not see: host inputs that are part of the batch and uploaded fresh
/// (timesteps, labels and token ids, given as arrays), and the scalar count the optimizer's finiteness check reads back.
/// </summary>
[NonParallelizable]
public sealed class FamilyStepTests
{
    static Device Gpu => GpuTestDevice.Device;

    /// <summary>Every parameter drawn from N(0, std²), so no zero-initialised branch leaves a path untested.</summary>
    static T Randomised<T>(T model, float std) where T : Module
    {
        var g = new Generator(7);
        foreach (var p in model.Parameters()) Init.Normal(p, g, 0f, std);
        return model;
    }

    /// <summary>Images (B, 1, S, S) of 8-bit levels k/255 in [0, 1], made on the CPU.</summary>
    static Tensor Images(int b, int side, ulong seed)
    {
        var g = new Generator(seed);
        var v = new float[b * side * side];
        for (int i = 0; i < v.Length; i++) v[i] = g.NextInt(256) / 255f;
        return Tensor.Wrap(v, b, 1, side, side);
    }

    /// <summary>
    /// Builds the model twice from the same seed, moves one copy and its batch to the device, runs
    /// <paramref name="step"/> (loss, backward, optimizer step; it returns the losses to read) on both, and checks the
    /// crossings, the gradients and the updated parameters.
    /// </summary>
    /// <param name="lr">The largest learning rate of the step: Adam's first update of an element is ±lr whatever the
    /// size of its gradient, so where the gradient is zero up to rounding (|g| ≤ 1e-5 on both devices, opposite signs)
    /// the two updates may differ by up to 2·lr. Every other element must match within <paramref name="tol"/>.</param>
    static void AssertStep<TModel, TBatch>(Func<TModel> make, Func<Device, TBatch> batch, Func<TModel, TBatch, Tensor[]> step,
        float lr, float tol = 1e-3f) where TModel : Module
    {
        var cpu = make();
        var gpu = make();
        var before = Snapshot(cpu);
        gpu.To(Gpu);
        var onGpu = batch(Gpu);
        var lossesCpu = step(cpu, batch(Device.Cpu));

        long reads = Storage.HostReads, writes = Storage.HostWrites;
        var lossesGpu = step(gpu, onGpu);
        var values = lossesGpu.Select(l => l.Item()).ToArray();                   // the one allowed read per loss
        long readsDuring = Storage.HostReads - reads, writesDuring = Storage.HostWrites - writes;

        Assert.That(readsDuring, Is.EqualTo(lossesGpu.Length), $"device storages read on the host during the step (the {lossesGpu.Length} loss read(s) included)");
        Assert.That(writesDuring, Is.Zero, "host-changed storages uploaded again during the step");
        for (int i = 0; i < values.Length; i++)
        {
            Assert.That(lossesGpu[i].Device, Is.EqualTo(Gpu), "the loss is on the device");
            GpuTestDevice.AssertClose([lossesCpu[i].Item()], [values[i]], $"loss {i}", tol);
        }
        int checkedParameters = 0;
        foreach (var (c, g) in cpu.NamedParameters().Zip(gpu.NamedParameters()))
        {
            Assert.That(g.Name, Is.EqualTo(c.Name));
            Assert.That(g.Value.Device, Is.EqualTo(Gpu), $"{g.Name} stayed on the device");
            float[] gc = c.Value.Grad?.ToArray() ?? [], gg = g.Value.Grad?.ToArray() ?? [];
            Assert.That(gg.Length, Is.EqualTo(gc.Length), $"{g.Name} has a gradient on both devices or on neither");
            GpuTestDevice.AssertClose(gc, gg, $"{g.Name} gradient", tol);
            float[] pc = c.Value.ToArray(), pg = g.Value.ToArray();
            for (int i = 0; i < pc.Length; i++)
            {
                if (Math.Abs(pc[i] - pg[i]) <= tol * (1 + Math.Abs(pc[i]))) continue;
                bool roundingSign = gc.Length > 0 && Math.Abs(gc[i]) <= 1e-5f && Math.Abs(gg[i]) <= 1e-5f && Math.Sign(gc[i]) != Math.Sign(gg[i]);
                if (!(roundingSign && Math.Abs(pc[i] - pg[i]) <= 2.02f * lr + tol * (1 + Math.Abs(pc[i]))))
                    Assert.Fail($"{g.Name} after the step: element {i} is {pg[i]}, reference {pc[i]} (gradient {gg[i]}, reference {gc[i]})");
            }
            checkedParameters++;
        }
        foreach (var (c, g) in cpu.NamedBuffers().Zip(gpu.NamedBuffers()))
            GpuTestDevice.AssertClose(c.Value.ToArray(), g.Value.ToArray(), $"buffer {g.Name} after the step", tol);
        int moved = cpu.Parameters().Zip(before).Count(p => !p.First.ToArray().SequenceEqual(p.Second));
        Assert.That(moved, Is.GreaterThan(0), "the step updated the parameters");
    }

    /// <summary>The parameters' values before a step, to check that the step moved them.</summary>
    static float[][] Snapshot(Module m) => m.Parameters().Select(p => p.ToArray()).ToArray();

    [Test]
    public void UNet_ddpm_step_stays_on_the_device()
    {
        var schedule = NoiseSchedule.Create(ScheduleKind.Linear, 1000);
        int[] t = [10, 700], y = [3, 10];                                           // 10: the null class
        AssertStep(
            () => new UNet(new UNetConfig(BaseChannels: 8, Heads: 2, ResBlocks: 1), new Generator(1)),
            d => (X0: Images(2, 8, 2).To(d) * 2f - 1f, Noise: Tensor.Randn([2, 1, 8, 8], new Generator(3), device: d)),
            (net, b) =>
            {
                var opt = new AdamW(net.Parameters(), 1e-3f);
                var xt = schedule.AddNoise(b.X0, b.Noise, t);
                var loss = (net.Forward(xt, t, y) - b.Noise).Square().Mean();
                loss.Backward();
                opt.Step();
                return [loss];
            }, lr: 1e-3f);
    }

    [Test]
    public void DiT_ddpm_step_stays_on_the_device()
    {
        var schedule = NoiseSchedule.Create(ScheduleKind.Linear, 1000);
        int[] t = [10, 700], y = [3, 10];
        AssertStep(
            () => Randomised(new DiT(new DitConfig(ImageSize: 8, Patch: 2, Width: 16, Depth: 1, Heads: 2, MlpRatio: 2, FrequencyDim: 16), new Generator(1)), 0.05f),
            d => (X0: Images(2, 8, 2).To(d) * 2f - 1f, Noise: Tensor.Randn([2, 1, 8, 8], new Generator(3), device: d)),
            (net, b) =>
            {
                var opt = new AdamW(net.Parameters(), 1e-3f);
                var loss = (net.Forward(schedule.AddNoise(b.X0, b.Noise, t), t, y) - b.Noise).Square().Mean();
                loss.Backward();
                opt.Step();
                return [loss];
            }, lr: 1e-3f);
    }

    [Test]
    public void MmDiT_rectified_flow_step_stays_on_the_device()
    {
        var vocabulary = new WordTokenizer(["red", "blue", "circle", "square", "small"], 4).Vocabulary.ToArray();
        var config = new MmDitConfig(vocabulary, ImageSize: 8, Channels: 1, Patch: 4, Width: 16, Depth: 1, Heads: 2, MlpRatio: 2,
            MaxTokens: 4, TextWidth: 8, TextDepth: 1, TextHeads: 2, FrequencyDim: 8);
        float[] t = [0.3f, 0.8f];
        AssertStep(
            () => Randomised(new MmDit(config, new Generator(1)), 0.05f),
            d => (X0: Images(2, 8, 2).To(d) * 2f - 1f, Noise: Tensor.Randn([2, 1, 8, 8], new Generator(3), device: d)),
            (net, b) =>
            {
                var tokens = net.Tokenizer.EncodeBatch(["small red circle", "blue square"]);
                var opt = new AdamW(net.Parameters(), 5e-4f, weightDecay: 0f);
                var loss = RectifiedFlow.Loss((xt, tt) => net.Forward(xt, tt, tokens), b.X0, b.Noise, t);
                loss.Backward();
                opt.Step();
                return [loss];
            }, lr: 5e-4f);
    }

    [Test]
    public void Gated_PixelCnn_step_stays_on_the_device()
    {
        int[] y = [1, 7];
        AssertStep(
            () => new GatedPixelCnn(new PixelCnnConfig(Channels: 4, Layers: 2, KernelSize: 3, Classes: 10, HeadChannels: 8), new Generator(1)),
            d => Images(2, 8, 2).To(d),
            (net, x) =>
            {
                var opt = new AdamW(net.Parameters(), 1e-3f, weightDecay: 0f);
                var loss = net.Nll(x, y).Mean() / (64 * MathF.Log(2));             // bits/dim
                loss.Backward();
                opt.Step();
                return [loss];
            }, lr: 1e-3f);
    }

    [Test]
    public void Vae_elbo_step_stays_on_the_device()
    {
        AssertStep(
            () => new ConvVae(new VaeConfig(Latent: 2, Width: 2), new Generator(1)),
            d => Images(2, ConvVae.Side, 2).To(d),
            (vae, x) =>
            {
                var g = new Generator(5);                                            // binarisation and ε, drawn where x lives
                var opt = new AdamW(vae.Parameters(), 1e-3f, weightDecay: 0f);
                var loss = vae.Elbo(vae.Target(x, g), g).Loss;
                loss.Backward();
                opt.Step();
                return [loss];
            }, lr: 1e-3f);
    }

    sealed class Gan(GanConfig config, Generator g) : Module
    {
        public DcganGenerator G { get; } = new(config, g);
        public DcganDiscriminator D { get; } = new(config, g);

        public Gan Registered()
        {
            Child("g", G);
            Child("d", D);
            return this;
        }
    }

    [Test]
    public void Gan_discriminator_and_generator_step_stays_on_the_device()
    {
        int[] y = [2, 9];
        AssertStep(
            () => new Gan(new GanConfig(Latent: 4, Width: 2, Classes: 10), new Generator(1)).Registered(),
            d => Images(2, 28, 2).To(d) * 2f - 1f,
            (gan, real) =>
            {
                // GanTrainer.TrainStep's two updates, on the models directly: Adam(β1 = 0.5) for each network.
                var noise = new Generator(4);
                var optD = new Adam(gan.D.Parameters(), 2e-4f, beta1: 0.5f);
                var optG = new Adam(gan.G.Parameters(), 2e-4f, beta1: 0.5f);
                Tensor fake;
                using (Autograd.GradMode.NoGrad()) fake = gan.G.Forward(Tensor.Randn([2, 4], noise, device: real.Device), y);
                var dLoss = (-gan.D.Forward(real, y)).Softplus().Mean() + gan.D.Forward(fake, y).Softplus().Mean();
                dLoss.Backward();
                optD.Step();
                foreach (var p in gan.D.Parameters()) p.RequiresGrad = false;
                var gLoss = (-gan.D.Forward(gan.G.Forward(Tensor.Randn([2, 4], noise, device: real.Device), y), y)).Softplus().Mean();
                gLoss.Backward();
                optG.Step();
                foreach (var p in gan.D.Parameters()) p.RequiresGrad = true;
                return [dLoss, gLoss];                                              // two losses: two reads
            }, lr: 2e-4f);
    }

    [Test]
    public void Glow_multiscale_flow_step_stays_on_the_device()
    {
        // Logit transform → ActNorm + checkerboard coupling → squeeze → ActNorm, invertible 1×1 conv (LU form: its
        // log-determinant is Σ log|s|, no host determinant), channel coupling.
        var config = new MultiScaleFlowConfig(Channels: 1, Height: 8, Width: 8, Hidden: 4, CheckerboardCouplings: 1, StepsPerScale: 1, Scales: 1);
        AssertStep(
            () => NormalizingFlow.Image(config, new Generator(1)),
            d => ((Images(2, 8, 2) * 255f + Tensor.Rand([2, 1, 8, 8], new Generator(3))) / 256f).To(d),   // dequantised
            (flow, x) =>
            {
                var opt = new AdamW(flow.Parameters(), 1e-3f, weightDecay: 0f);
                var loss = -flow.LogProb(x).Mean();
                loss.Backward();
                opt.Step();
                return [loss];
            }, lr: 1e-3f);
    }

    [Test]
    public void Conditional_flow_matching_step_stays_on_the_device()
    {
        float[] t = [0.25f, 0.9f];
        int[] y = [4, 10];                                                          // 10: the null class
        AssertStep(
            () => new MlpVelocityField(64, 16, new Generator(1), classes: 10),
            d => (X0: Tensor.Randn([2, 64], new Generator(3), device: d), X1: (Images(2, 8, 2).Reshape(2, 64) * 2f - 1f).To(d)),
            (field, b) =>
            {
                var opt = new AdamW(field.Parameters(), 1e-3f, weightDecay: 0f);
                var loss = ConditionalFlowMatching.Loss(field, b.X0, b.X1, t, y);
                loss.Backward();
                opt.Step();
                return [loss];
            }, lr: 1e-3f);
    }
}
