using Engine.Nn;
using Engine.Random;

namespace Engine.Tests;

/// <summary>Basic modules: naming, counting, state dicts, train/eval, initialisers and dropout.</summary>
public sealed class ModuleTests
{
    sealed class Block : Layer
    {
        public readonly Sequential Body;
        public readonly Dropout Drop;
        public Block(Generator g)
        {
            Body = Child("body", new Sequential(new Linear(4, 8, g), new Relu(), new Sequential(new Linear(8, 2, false, g), new Tanh())));
            Drop = Child("drop", new Dropout(0.5f, g));
        }
        public override Tensor Forward(Tensor x) => Drop.Forward(Body.Forward(x));
    }

    [Test]
    public void Nested_sequential_names_and_parameter_count()
    {
        var g = new Generator(0);
        var net = new Sequential(new Linear(3, 4, g), new Gelu(), new Sequential(new Linear(4, 5, g), new Silu(), new Linear(5, 1, false, g)));
        var names = net.NamedParameters().Select(p => p.Name).ToArray();
        Assert.That(names, Is.EqualTo(new[] { "0.weight", "0.bias", "2.0.weight", "2.0.bias", "2.2.weight" }));
        Assert.That(net.ParameterCount(), Is.EqualTo(3 * 4 + 4 + 4 * 5 + 5 + 5));
        Assert.That(net.Count, Is.EqualTo(3));
        Assert.That(net[2], Is.InstanceOf<Sequential>());
        Assert.That(net.Forward(Tensor.Zeros([7, 3])).Shape, Is.EqualTo(new[] { 7, 1 }));

        var list = new ModuleList<Linear>(new Linear(2, 2, g), new Linear(2, 3, g));
        list.Add(new Linear(3, 1, g));
        Assert.That(list.NamedParameters().Select(p => p.Name).Last(), Is.EqualTo("2.bias"));
        Assert.That(list.Count, Is.EqualTo(3));
        Assert.That(list[1].OutFeatures, Is.EqualTo(3));
        Assert.That(list.Select(l => l.InFeatures), Is.EqualTo(new[] { 2, 2, 3 }));
    }

    [Test]
    public void Load_state_dict_round_trip_and_typed_errors()
    {
        var a = new Block(new Generator(1));
        var b = new Block(new Generator(2));
        var x = Tensor.Randn([3, 4], new Generator(3));
        a.Eval(); b.Eval();
        Assert.That(a.Forward(x).ToArray(), Is.Not.EqualTo(b.Forward(x).ToArray()));
        b.LoadStateDict(a.StateDict());
        Assert.That(b.Forward(x).ToArray(), Is.EqualTo(a.Forward(x).ToArray()));
        Assert.That(a.StateDict().Keys, Does.Contain("body.2.0.weight"));

        var missing = a.StateDict(); missing.Remove("body.0.bias");
        var ex = Assert.Throws<KeyNotFoundException>(() => b.LoadStateDict(missing));
        Assert.That(ex!.Message, Does.Contain("body.0.bias"));
        var wrong = a.StateDict(); wrong["body.0.weight"] = Tensor.Zeros([8, 5]);
        Assert.Throws<ShapeMismatchException>(() => b.LoadStateDict(wrong));
    }

    [Test]
    public void Train_and_eval_propagate_to_nested_dropout()
    {
        var block = new Block(new Generator(4));
        var x = Tensor.Ones([64, 4]);
        block.Eval();
        Assert.That(block.Drop.Training, Is.False);
        Assert.That(block.Body[2].Training, Is.False);
        var h = block.Body.Forward(x);
        Assert.That(block.Forward(x).ToArray(), Is.EqualTo(h.ToArray()));
        block.Train();
        Assert.That(block.Drop.Training && ((Sequential)block.Body[2])[1].Training, Is.True);
        var y = block.Forward(x).ToArray();
        Assert.That(y.Count(v => v == 0f), Is.GreaterThan(0));
    }

    [Test]
    public void Linear_default_init_and_forward()
    {
        var fc = new Linear(25, 40, new Generator(5));
        var w = fc.Weight.ToArray(); var b = fc.Bias!.ToArray();
        Assert.That(fc.Weight.Shape, Is.EqualTo(new[] { 40, 25 }));
        Assert.That(w.Concat(b).All(v => MathF.Abs(v) <= 0.2f), Is.True);   // 1/√25
        Assert.That(w.Max() - w.Min(), Is.GreaterThan(0.35f));               // spans the range
        Assert.That(fc.Weight.RequiresGrad && fc.Bias.RequiresGrad, Is.True);

        var x = Tensor.Randn([2, 3, 25], new Generator(6));                  // (B, T, in)
        var y = fc.Forward(x);
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 3, 40 }));
        var xv = x.ToArray(); var yv = y.ToArray();
        for (int r = 0; r < 6; r += 5)
            for (int o = 0; o < 40; o += 13)
            {
                double s = b[o];
                for (int i = 0; i < 25; i++) s += (double)xv[r * 25 + i] * w[o * 25 + i];
                Assert.That(yv[r * 40 + o], Is.EqualTo(s).Within(1e-4));
            }
        Assert.That(fc.Forward(x.Reshape(6, 25).Narrow(0, 0, 1).Reshape(25)).Shape, Is.EqualTo(new[] { 40 }));
        var ex = Assert.Throws<ShapeMismatchException>(() => fc.Forward(Tensor.Zeros([2, 24])));
        Assert.That(ex!.Message, Does.Contain("Linear").And.Contain("[2, 24]"));
        Assert.That(new Linear(3, 2, false, new Generator(0)).Bias, Is.Null);
    }

    [Test]
    public void Embedding_looks_up_rows_and_checks_ids()
    {
        var emb = new Embedding(10, 4, new Generator(7));
        Assert.That(emb.NamedParameters().Single().Name, Is.EqualTo("weight"));
        var e = emb.Forward([3, 3, 9]);
        Assert.That(e.Shape, Is.EqualTo(new[] { 3, 4 }));
        var w = emb.Weight.ToArray();
        Assert.That(e.ToArray().Skip(8).ToArray(), Is.EqualTo(w.Skip(36).ToArray()));
        e.Sum().Backward();
        Assert.That(emb.Weight.Grad!.ToArray().Skip(12).Take(4).ToArray(), Is.EqualTo(new[] { 2f, 2f, 2f, 2f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => emb.Forward([10]));
        Assert.Throws<ArgumentOutOfRangeException>(() => emb.Forward([-1]));
    }

    [Test]
    public void Dropout_masks_scales_and_repeats_with_the_seed()
    {
        var x = Tensor.Ones([10_000]).RequireGrad();
        var y = x.Dropout(0.25f, new Generator(8), training: true);
        var v = y.ToArray();
        Assert.That(v.All(a => a == 0f || MathF.Abs(a - 4f / 3f) < 1e-6f), Is.True);
        double dropped = v.Count(a => a == 0f) / 10_000.0;
        Assert.That(dropped, Is.EqualTo(0.25).Within(0.02));
        Assert.That(x.Dropout(0.25f, new Generator(8), true).ToArray(), Is.EqualTo(v));
        y.Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(v));   // dx = mask, here equal to y

        Assert.That(x.Dropout(0.5f, new Generator(8), training: false), Is.SameAs(x));
        Assert.That(x.Dropout(0f, new Generator(8), training: true), Is.SameAs(x));
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Dropout(1f, new Generator(8), true));
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Dropout(-0.1f, new Generator(8), true));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(float.NaN, new Generator(8)));
    }

    [Test]
    public void Activation_layers_and_flatten_wrap_their_ops()
    {
        var x = Tensor.Randn([2, 3, 4, 5], new Generator(9));
        (Layer layer, Tensor expected)[] cases =
        [
            (new Relu(), x.Relu()), (new LeakyRelu(0.2f), x.LeakyRelu(0.2f)), (new Silu(), x.Silu()),
            (new Gelu(), x.Gelu()), (new Gelu(tanhApproximation: true), x.Gelu(true)), (new Tanh(), x.Tanh()),
            (new Sigmoid(), x.Sigmoid()), (new Softplus(), x.Softplus()),
        ];
        foreach (var (layer, expected) in cases)
            Assert.That(layer.Forward(x).ToArray(), Is.EqualTo(expected.ToArray()), layer.GetType().Name);
        Assert.That(new Flatten().Forward(x).Shape, Is.EqualTo(new[] { 2, 60 }));
        Assert.That(new Flatten(0, 1).Forward(x).Shape, Is.EqualTo(new[] { 6, 4, 5 }));
    }

    [Test]
    public void Init_fans_gains_and_statistics()
    {
        Assert.That(Init.Fans([16, 8]), Is.EqualTo((8, 16)));
        Assert.That(Init.Fans([32, 3, 5, 5]), Is.EqualTo((75, 800)));
        Assert.Throws<ShapeMismatchException>(() => Init.Fans([4]));
        Assert.That(Init.Gain(Nonlinearity.Relu), Is.EqualTo(MathF.Sqrt(2f)));
        Assert.That(Init.Gain(Nonlinearity.LeakyRelu, 0.2f), Is.EqualTo(MathF.Sqrt(2f / 1.04f)).Within(1e-6));
        Assert.That(Init.Gain(Nonlinearity.Tanh), Is.EqualTo(5f / 3f));
        Assert.That(Init.Gain(Nonlinearity.Linear), Is.EqualTo(1f));

        var g = new Generator(10);
        var w = Tensor.Zeros([200, 50, 3, 3]);                     // fan_in 450, fan_out 1800
        Assert.That(Std(Init.KaimingNormal(w, g, nonlinearity: Nonlinearity.Relu)), Is.EqualTo(Math.Sqrt(2.0 / 450)).Within(0.02 * Math.Sqrt(2.0 / 450)));
        Assert.That(Std(Init.KaimingNormal(w, g, mode: FanMode.FanOut, nonlinearity: Nonlinearity.Linear)), Is.EqualTo(Math.Sqrt(1.0 / 1800)).Within(0.02 * Math.Sqrt(1.0 / 1800)));
        Init.KaimingUniform(w, g);                                  // leaky relu, a = 0: bound √2·√(3/450)
        double bound = Math.Sqrt(2.0) * Math.Sqrt(3.0 / 450);
        Assert.That(w.ToArray().Max(), Is.LessThanOrEqualTo(bound).And.GreaterThan(0.99 * bound));
        Assert.That(Std(w), Is.EqualTo(bound / Math.Sqrt(3)).Within(0.02 * bound));
        Init.XavierUniform(w, g, gain: 2f);
        Assert.That(w.ToArray().Select(Math.Abs).Max(), Is.LessThanOrEqualTo(2 * Math.Sqrt(6.0 / 2250)));
        Assert.That(Std(Init.XavierNormal(w, g)), Is.EqualTo(Math.Sqrt(2.0 / 2250)).Within(0.02 * Math.Sqrt(2.0 / 2250)));
        Assert.That(Init.Ones(Tensor.Zeros([3])).ToArray(), Is.EqualTo(new[] { 1f, 1f, 1f }));
        Assert.That(Init.Zeros(Tensor.Ones([2])).ToArray(), Is.EqualTo(new[] { 0f, 0f }));
        var u = Init.Uniform(Tensor.Zeros([1000]), g, 2f, 3f).ToArray();
        Assert.That(u.Min() >= 2f && u.Max() < 3f, Is.True);
        var n = Init.Normal(Tensor.Zeros([20_000]), g, 5f, 0.5f);
        Assert.That(n.ToArray().Average(), Is.EqualTo(5.0).Within(0.02));
        Assert.That(Std(n), Is.EqualTo(0.5).Within(0.02));
        Assert.Throws<ArgumentException>(() => Init.Zeros(Tensor.Zeros([3, 4]).T));
    }

    static double Std(Tensor t)
    {
        var v = t.ToArray();
        double mean = v.Average(a => (double)a);
        return Math.Sqrt(v.Average(a => (a - mean) * (a - mean)));
    }
}
