using Engine.Nn;
using Engine.Optim;
using Engine.Random;

namespace Engine.Tests;

/// <summary>Optimizers against their published update rules, computed here in double; clipping, schedules, EMA and state round trips.</summary>
public sealed class OptimTests
{
    static readonly double[] W0 = [0.5, -1.25, 2.0];
    static readonly double[][] Grads = [[0.1, -0.2, 0.3], [-0.4, 0.05, 0.6]];

    static Tensor Param(string name = "w") => Tensor.FromArray(W0.Select(v => (float)v).ToArray(), 3).RequireGrad().WithName(name);

    static void SetGrad(Tensor p, double[] g) => p.Grad = Tensor.FromArray(g.Select(v => (float)v).ToArray(), p.Shape);

    static void AssertClose(double[] expected, Tensor actual, double tol = 1e-6)
    {
        var a = actual.ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.That(a[i], Is.EqualTo(expected[i]).Within(tol + tol * Math.Abs(expected[i])), $"element {i}");
    }

    /// <summary>Adam / AdamW from Kingma and Ba (Algorithm 1) and PyTorch's documented AdamW order, in double.</summary>
    static double[] AdamReference(double lr, double b1, double b2, double eps, double wd, bool decoupled)
    {
        var w = (double[])W0.Clone();
        var m = new double[3]; var v = new double[3];
        for (int t = 1; t <= Grads.Length; t++)
            for (int j = 0; j < 3; j++)
            {
                double g = Grads[t - 1][j];
                if (decoupled) w[j] *= 1 - lr * wd;
                else g += wd * w[j];
                m[j] = b1 * m[j] + (1 - b1) * g;
                v[j] = b2 * v[j] + (1 - b2) * g * g;
                double mHat = m[j] / (1 - Math.Pow(b1, t)), vHat = v[j] / (1 - Math.Pow(b2, t));
                w[j] -= lr * mHat / (Math.Sqrt(vHat) + eps);
            }
        return w;
    }

    [Test]
    public void Adam_two_steps_match_the_published_rule()
    {
        var p = Param();
        var opt = new Adam([p], lr: 0.01f, beta1: 0.8f, beta2: 0.9f, eps: 1e-3f, weightDecay: 0.1f);
        foreach (var g in Grads) { SetGrad(p, g); opt.Step(); }
        AssertClose(AdamReference(0.01, 0.8, 0.9, 1e-3, 0.1, decoupled: false), p);
    }

    [Test]
    public void AdamW_two_steps_match_the_published_rule()
    {
        var p = Param();
        var opt = new AdamW([p], lr: 0.05f, beta1: 0.9f, beta2: 0.99f, eps: 1e-8f, weightDecay: 0.2f);
        foreach (var g in Grads) { SetGrad(p, g); opt.Step(); }
        var expected = AdamReference(0.05, 0.9, 0.99, 1e-8, 0.2, decoupled: true);
        AssertClose(expected, p);
        // Decoupled decay differs from L2 decay: the same numbers through Adam land elsewhere.
        Assert.That(Math.Abs(AdamReference(0.05, 0.9, 0.99, 1e-8, 0.2, decoupled: false)[2] - expected[2]), Is.GreaterThan(1e-4));
    }

    [Test]
    public void Sgd_momentum_and_nesterov_match_the_published_rule()
    {
        foreach (var nesterov in new[] { false, true })
        {
            var p = Param();
            var opt = new Sgd([p], lr: 0.1f, momentum: 0.9f, nesterov: nesterov, weightDecay: 0.01f);
            var w = (double[])W0.Clone(); var b = new double[3];
            for (int t = 0; t < Grads.Length; t++)
            {
                SetGrad(p, Grads[t]); opt.Step();
                for (int j = 0; j < 3; j++)
                {
                    double d = Grads[t][j] + 0.01 * w[j];
                    b[j] = t == 0 ? d : 0.9 * b[j] + d;
                    w[j] -= 0.1 * (nesterov ? d + 0.9 * b[j] : b[j]);
                }
            }
            AssertClose(w, p);
        }
    }

    [Test]
    public void Plain_sgd_is_w_minus_lr_g_and_skips_parameters_without_gradient()
    {
        var p = Param(); var q = Param("q");
        var opt = new Sgd([p, q], lr: 0.5f);
        SetGrad(p, Grads[0]);
        opt.Step();
        AssertClose(W0.Select((w, j) => w - 0.5 * Grads[0][j]).ToArray(), p);
        AssertClose(W0, q);
        Assert.That(opt.StepCount, Is.EqualTo(1));
        opt.ZeroGrad();
        Assert.That(p.Grad, Is.Null);
    }

    [Test]
    public void Non_finite_gradient_names_the_parameter_and_leaves_weights_untouched()
    {
        var p = Param("encoder.weight"); var q = Param("decoder.bias");
        var opt = new Adam([p, q]);
        SetGrad(p, Grads[0]);
        SetGrad(q, [0.1, double.NaN, 0.0]);
        var ex = Assert.Throws<NonFiniteException>(() => opt.Step());
        Assert.That(ex!.Message, Does.Contain("decoder.bias"));
        AssertClose(W0, p, 0);
        SetGrad(q, [0.1, double.PositiveInfinity, 0.0]);
        Assert.Throws<NonFiniteException>(() => opt.Step());
        Assert.That(opt.StepCount, Is.Zero);
    }

    [Test]
    public void Bad_parameters_and_hyperparameters_are_rejected()
    {
        var p = Param();
        Assert.Throws<ArgumentException>(() => new Sgd([], 0.1f));
        Assert.Throws<ArgumentException>(() => new Sgd([p, p], 0.1f));
        Assert.Throws<ArgumentException>(() => new Sgd([p * 2f], 0.1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Adam([p], lr: -1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Adam([p], beta1: 1f));
        Assert.Throws<ArgumentException>(() => new Sgd([p], 0.1f, nesterov: true));
        var opt = new Sgd([p], 0.1f);
        p.Grad = Tensor.Zeros([4]);
        Assert.Throws<ShapeMismatchException>(() => opt.Step());
    }

    [Test]
    public void Exported_state_resumes_to_an_identical_next_step()
    {
        foreach (Func<Tensor, Optimizer> make in new Func<Tensor, Optimizer>[]
                 {
                     p => new AdamW([p], lr: 0.02f) { Schedule = LrSchedule.Cosine(0.02f, 10, warmupSteps: 2) },
                     p => new Adam([p], lr: 0.02f, weightDecay: 0.1f),
                     p => new Sgd([p], lr: 0.1f, momentum: 0.9f),
                 })
        {
            var a = Param(); var optA = make(a);
            foreach (var g in Grads) { SetGrad(a, g); optA.Step(); }
            var saved = optA.ExportState();
            var weights = a.Clone();

            // Continue the original one step; the exported copy must not move with it.
            SetGrad(a, [0.3, 0.3, -0.7]); optA.Step();
            var b = Param(); b.CopyFrom(weights);
            var optB = make(b);
            optB.ImportState(saved);
            Assert.That(optB.StepCount, Is.EqualTo(2));
            SetGrad(b, [0.3, 0.3, -0.7]); optB.Step();
            Assert.That(b.ToArray(), Is.EqualTo(a.ToArray()), optA.GetType().Name);
            Assert.That(optB.LearningRate, Is.EqualTo(optA.LearningRate));
        }
    }

    [Test]
    public void Import_rejects_unknown_keys_and_wrong_shapes()
    {
        var p = Param(); var opt = new Adam([p]);
        SetGrad(p, Grads[0]); opt.Step();
        var state = opt.ExportState();
        Assert.That(state.Tensors.Keys, Is.EquivalentTo(new[] { "0.step", "0.exp_avg", "0.exp_avg_sq" }));
        var wrongShape = new Dictionary<string, Tensor>(state.Tensors) { ["0.exp_avg"] = Tensor.Zeros([4]) };
        Assert.Throws<ShapeMismatchException>(() => opt.ImportState(state with { Tensors = wrongShape }));
        var unknown = new Dictionary<string, Tensor>(state.Tensors) { ["1.exp_avg"] = Tensor.Zeros([3]) };
        Assert.Throws<KeyNotFoundException>(() => opt.ImportState(state with { Tensors = unknown }));
        var wrongBuffer = new Dictionary<string, Tensor> { ["0.momentum_buffer"] = Tensor.Zeros([3]) };
        Assert.Throws<KeyNotFoundException>(() => opt.ImportState(state with { Tensors = wrongBuffer }));
    }

    [Test]
    public void Clip_grad_norm_returns_the_norm_and_scales_to_max()
    {
        var p = Param(); var q = Tensor.Zeros([2]).RequireGrad(); var unused = Param("unused");
        SetGrad(p, [3, 0, 4]); SetGrad(q, [0, 12]);
        double norm = GradClip.ClipGradNorm([p, q, unused], 6.5);
        Assert.That(norm, Is.EqualTo(13.0).Within(1e-9));
        double scale = 6.5 / (13.0 + 1e-6);
        AssertClose([3 * scale, 0, 4 * scale], p.Grad!);
        AssertClose([0, 12 * scale], q.Grad!);
        Assert.That(unused.Grad, Is.Null);

        // Below the limit nothing changes.
        SetGrad(p, [0.3, 0, 0.4]);
        Assert.That(GradClip.ClipGradNorm([p], 1.0), Is.EqualTo(0.5).Within(1e-7));
        Assert.That(p.Grad!.ToArray(), Is.EqualTo(new[] { 0.3f, 0f, 0.4f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => GradClip.ClipGradNorm([p], 0));
    }

    [Test]
    public void Schedules_at_specific_steps()
    {
        var constant = LrSchedule.Constant(0.3f);
        Assert.That(constant.At(0), Is.EqualTo(0.3f));
        Assert.That(constant.At(1_000_000), Is.EqualTo(0.3f));

        var warm = LrSchedule.LinearWarmup(1f, 4);
        Assert.That(new[] { warm.At(0), warm.At(1), warm.At(3), warm.At(50) }, Is.EqualTo(new[] { 0.25f, 0.5f, 1f, 1f }));

        var cos = LrSchedule.Cosine(1f, totalSteps: 12, warmupSteps: 2, minLr: 0.1f);
        Assert.That(cos.At(0), Is.EqualTo(0.5f).Within(1e-7));
        Assert.That(cos.At(1), Is.EqualTo(1f).Within(1e-7));
        Assert.That(cos.At(2), Is.EqualTo(1f).Within(1e-7));                              // cosine start
        Assert.That(cos.At(7), Is.EqualTo(0.1 + 0.45 * (1 + Math.Cos(Math.PI * 0.5))).Within(1e-6)); // halfway
        Assert.That(cos.At(9), Is.EqualTo(0.1 + 0.45 * (1 + Math.Cos(Math.PI * 0.7))).Within(1e-6));
        Assert.That(cos.At(12), Is.EqualTo(0.1f));
        Assert.That(cos.At(100), Is.EqualTo(0.1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => LrSchedule.Cosine(1f, totalSteps: 5, warmupSteps: 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => cos.At(-1));
    }

    [Test]
    public void Schedule_sets_the_learning_rate_of_each_step()
    {
        var p = Param();
        var opt = new Sgd([p], lr: 123f) { Schedule = LrSchedule.LinearWarmup(1f, 2) };
        SetGrad(p, [1, 1, 1]); opt.Step();
        Assert.That(opt.LearningRate, Is.EqualTo(0.5f));
        AssertClose(W0.Select(w => w - 0.5).ToArray(), p);
        opt.Step();
        Assert.That(opt.LearningRate, Is.EqualTo(1f));
        AssertClose(W0.Select(w => w - 1.5).ToArray(), p);
    }

    [Test]
    public void Ema_follows_the_moving_average_and_copies_back()
    {
        var g = new Generator(3);
        var model = new Linear(3, 2, g);
        var w0 = model.Weight.ToArray();
        var ema = new Ema(model, decay: 0.9f);
        Assert.That(ema.StateDict().Keys, Is.EquivalentTo(new[] { "weight", "bias" }));

        model.Weight.CopyFrom(Tensor.Full([2, 3], 1f)); ema.Update(model);
        model.Weight.CopyFrom(Tensor.Full([2, 3], 3f)); ema.Update(model);
        // s2 = 0.9·(0.9·w0 + 0.1·1) + 0.1·3
        var expected = w0.Select(v => 0.81 * v + 0.09 + 0.3).ToArray();
        AssertClose(expected, (Tensor)ema.StateDict()["weight"]);

        var other = new Linear(3, 2, new Generator(99));
        ema.CopyTo(other);
        AssertClose(expected, other.Weight);

        var restored = new Ema(new Linear(3, 2, new Generator(5)), 0.9f);
        restored.LoadStateDict(ema.StateDict());
        AssertClose(expected, (Tensor)restored.StateDict()["weight"]);
        Assert.Throws<KeyNotFoundException>(() => ema.CopyTo(new Linear(3, 2, false, g)));
        Assert.Throws<ShapeMismatchException>(() => ema.Update(new Linear(4, 2, g)));
    }
}

static class NamedTensorExtensions
{
    public static Tensor WithName(this Tensor t, string name) { t.Name = name; return t; }
}
