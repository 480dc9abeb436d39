namespace Cli.Commands;

/// <summary><c>engine train &lt;model&gt; [options]</c>: picks the model's training command by name.</summary>
public static class TrainCommand
{
    static readonly Dictionary<string, Func<Args, string, int>> Models = new()
    {
        ["classifier"] = TrainClassifierCommand.Run,
        ["ddpm"] = (a, command) => TrainDdpmCommand.Run(a, CancellationToken.None, commandLine: command),
        ["pixelcnn"] = PixelCnnCommands.Train,
        ["vae"] = VaeCommands.Train,
        ["gan"] = GanCommands.Train,
        ["dit"] = DitCommands.Train,
        ["mmdit"] = MmDitCommands.Train,
        ["flow"] = TrainFlowCommand.Run,
        ["cfm"] = TrainFlowMatchingCommand.RunCfm,
        ["rectified"] = TrainFlowMatchingCommand.RunRectified,
    };

    public static IEnumerable<string> ModelNames => Models.Keys;

    public static int Run(Args args, string commandLine)
    {
        if (args.Positionals.Count != 1 || !Models.TryGetValue(args.Positionals[0], out var run))
            throw new UsageException($"name one model to train: {string.Join(", ", Models.Keys)}");
        return run(args, commandLine);
    }
}
