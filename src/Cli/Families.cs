using Cli.Commands;

namespace Cli;

/// <summary>
/// One model family as the command line knows it: its name and summary, and what it registers for <c>engine train</c>,
/// <c>engine sample</c> and <c>engine eval</c> (null where the family has no such command). The options of each command,
/// with their types, defaults and ranges, are learnt by probing the command (<see cref="Args.Probe"/>), so help and the
/// parser always list what the command really reads; <see cref="TrainProbes"/> steer commands with branches (a toy set).
/// </summary>
public sealed record Family(
    string Name,
    string Summary,
    Func<Args, string, int>? Train = null,
    Func<Args, int>? Sample = null,
    Func<Args, EvalCommand.EvalContext, IReadOnlyList<EvalCommand.Metric>>? Eval = null,
    IReadOnlyList<IReadOnlyDictionary<string, string>>? TrainProbes = null);

/// <summary>The one family registry: <c>train</c>, <c>sample</c>, <c>eval</c> and help all come from it.</summary>
public static class Families
{
    static readonly IReadOnlyDictionary<string, string>[] ToyOrImages = [new Dictionary<string, string>(), new Dictionary<string, string> { ["toy"] = "moons" }];

    public static IReadOnlyList<Family> All { get; } =
    [
        new("classifier", "the Fashion-MNIST classifier that defines FCD and conditional accuracy", Train: TrainClassifierCommand.Run),
        new("ddpm", "class-conditional DDPM (UNet-S, ε or v prediction, classifier-free guidance)",
            Train: (a, c) => TrainDdpmCommand.Run(a, CancellationToken.None, commandLine: c), Sample: SampleDdpmCommand.Run, Eval: EvalDdpmCommand.Run),
        new("pixelcnn", "gated PixelCNN: exact likelihood, raster-order sampling", PixelCnnCommands.Train, PixelCnnCommands.Sample, PixelCnnCommands.Eval),
        new("vae", "convolutional VAE: ELBO and IWAE bounds", VaeCommands.Train, VaeCommands.Sample, VaeCommands.Eval),
        new("gan", "class-conditional DCGAN with a spectrally normalised projection discriminator", GanCommands.Train, GanCommands.Sample, GanCommands.Eval),
        new("dit", "class-conditional diffusion transformer (DiT), diffusion or rectified-flow objective", DitCommands.Train, DitCommands.Sample, DitCommands.Eval),
        new("mmdit", "text-conditioned MM-DiT trained with rectified flow on captioned images", MmDitCommands.Train, MmDitCommands.Sample, MmDitCommands.Eval),
        new("flow", "normalizing flow: 2D RealNVP on a toy set, or multi-scale RealNVP/Glow on images", TrainFlowCommand.Run, TrainProbes: ToyOrImages),
        new("cfm", "conditional flow matching on the straight path (MLP on toys, UNet-S on images)", TrainFlowMatchingCommand.RunCfm,
            Eval: EvalFlowCommand.Run, TrainProbes: ToyOrImages),
        new("rectified", "rectified flow: flow matching, then reflow on couplings drawn from it", TrainFlowMatchingCommand.RunRectified, TrainProbes: ToyOrImages),
        new("data", "the floor of the results table: real training images against the test set", Eval: EvalCommand.EvalData),
    ];

    public static Family? Find(string name) => All.FirstOrDefault(f => f.Name == name);

    /// <summary>
    /// The options <paramref name="run"/> reads, learnt by running it on probing <see cref="Args"/> (once per probe in
    /// <paramref name="probes"/>, in union). A command that ends without reaching <see cref="Args.RejectUnknown"/> is a bug.
    /// </summary>
    public static IReadOnlyList<OptionInfo> Probe(Action<Args> run, IReadOnlyList<IReadOnlyDictionary<string, string>>? probes = null)
    {
        var all = new List<OptionInfo>();
        foreach (var given in probes ?? [new Dictionary<string, string>()])
        {
            try
            {
                run(Args.Probe(given));
                throw new InvalidOperationException("a command returned without checking its options");
            }
            catch (OptionsProbed p)
            {
                foreach (var o in p.Options)
                    if (all.All(a => a.Name != o.Name)) all.Add(o);
            }
        }
        return all;
    }
}
