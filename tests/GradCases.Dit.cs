using Engine.Nn;
using Engine.Random;
using Models.Dit;

namespace Engine.Tests;

// Gradient checks for the transformer pieces of DiT and MM-DiT: adaLN helpers, patch embedding, unpatchify,
// multi-head and joint attention, and whole blocks (with their parameters among the checked inputs).
public static partial class GradCases
{
    /// <summary>
    /// A module checked with respect to its inputs and every parameter: the parameters (set to random values, so
    /// no zero-initialised gate hides a branch) are appended to the inputs and perturbed in place. Each call of
    /// the inputs function builds a new module; the function finds it by its first parameter, so two sets of
    /// inputs (one moved to a GPU, say) each run through their own module.
    /// </summary>
    static GradCase ModuleCase(string name, Func<Generator, Module> make, int[][] inputShapes, Func<Module, Tensor[], Tensor> forward)
    {
        var modules = new System.Runtime.CompilerServices.ConditionalWeakTable<Tensor, Module>();
        int n = inputShapes.Length;
        return new(name, x => forward(modules.TryGetValue(x[n], out var m) ? m
            : throw new InvalidOperationException($"{name}: the parameters passed are not those of a module this case built"), x[..n]), g =>
        {
            var module = make(g);
            foreach (var p in module.Parameters()) Init.Normal(p, g, 0f, 0.3f);
            Tensor[] inputs = [.. inputShapes.Select(s => R(g, s)), .. module.Parameters()];
            modules.Add(inputs[n], module);
            return inputs;
        });
    }

    public static IEnumerable<GradCase> Dit() =>
    [
        new("adaLN modulate", x => AdaLN.Modulate(x[0], x[1], x[2]), g => [R(g, 2, 3, 5), R(g, 2, 5), R(g, 2, 5)]),
        new("adaLN gated residual", x => AdaLN.GatedResidual(x[0], x[1], x[2]), g => [R(g, 2, 3, 4), R(g, 2, 4), R(g, 2, 3, 4)]),
        new("adaLN modulate, width past one vector", x => AdaLN.Modulate(x[0], x[1], x[2]), g => [R(g, 2, 3, 19), R(g, 2, 19), R(g, 2, 19)]),
        new("adaLN gated residual, width past one vector", x => AdaLN.GatedResidual(x[0], x[1], x[2]), g => [R(g, 2, 2, 19), R(g, 2, 19), R(g, 2, 2, 19)]),
        new("adaLN modulate of a transposed view", x => AdaLN.Modulate(x[0].Transpose(1, 2), x[1], x[2]), g => [R(g, 2, 5, 3), R(g, 2, 5), R(g, 2, 5)]),
        new("unpatchify 2×2 patches of 3 channels", x => PatchEmbed.Unpatchify(x[0], 3, 2, 2, 3), g => [R(g, 2, 6, 12)]),
        ModuleCase("patch embed", g => new PatchEmbed(3, 5, 2, g), [[2, 3, 4, 6]], (m, x) => ((PatchEmbed)m).Forward(x[0])),
        ModuleCase("multi-head attention", g => new MultiHeadAttention(6, 2, g), [[2, 5, 6]], (m, x) => ((MultiHeadAttention)m).Forward(x[0])),
        ModuleCase("multi-head attention with QK RMS norm", g => new MultiHeadAttention(8, 2, g, qkNorm: true), [[1, 4, 8]], (m, x) => ((MultiHeadAttention)m).Forward(x[0])),
        ModuleCase("joint attention of two streams", g => new JointPair(g), [[2, 3, 4], [2, 5, 4]], (m, x) => ((JointPair)m).Forward(x[0], x[1])),
        ModuleCase("DiT block", g => new DitBlock(8, 2, 2, g), [[2, 3, 8], [2, 8]], (m, x) => ((DitBlock)m).Forward(x[0], x[1])),
        ModuleCase("MM-DiT joint block", g => new JointBlock(8, 2, 2, lastBlock: false, g), [[2, 3, 8], [2, 4, 8], [2, 8]],
            (m, x) => { var (t, i) = ((JointBlock)m).Forward(x[0], x[1], x[2]); return Tensor.Cat([t!, i], 1); }),
        ModuleCase("MM-DiT last joint block (text pre-only)", g => new JointBlock(8, 2, 2, lastBlock: true, g), [[1, 3, 8], [1, 4, 8], [1, 8]],
            (m, x) => ((JointBlock)m).Forward(x[0], x[1], x[2]).Image),
        ModuleCase("DiT final layer", g => new FinalLayer(8, 4, g), [[2, 3, 8], [2, 8]], (m, x) => ((FinalLayer)m).Forward(x[0], x[1])),
    ];

    /// <summary>Two attention streams with their own weights attending jointly, as in an MM-DiT block.</summary>
    sealed class JointPair : Module
    {
        readonly MultiHeadAttention a, b;
        public JointPair(Generator g) { a = Child("a", new MultiHeadAttention(4, 2, g, qkNorm: true)); b = Child("b", new MultiHeadAttention(4, 2, g)); }

        public Tensor Forward(Tensor x, Tensor y)
        {
            var r = MultiHeadAttention.Joint(a.Project(x), b.Project(y));
            return Tensor.Cat([a.Output(r[0]), b.Output(r[1])], 1);
        }
    }
}
