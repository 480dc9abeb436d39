namespace Cli.Commands;

/// <summary><c>engine sample &lt;model&gt; --checkpoint F [options] --out grid.png</c>: picks the model's sampling command by name.</summary>
public static class SampleCommand
{
    static readonly Dictionary<string, Func<Args, int>> Models = new()
    {
        ["ddpm"] = SampleDdpmCommand.Run,
        ["pixelcnn"] = PixelCnnCommands.Sample,
        ["vae"] = VaeCommands.Sample,
        ["gan"] = GanCommands.Sample,
        ["dit"] = DitCommands.Sample,
        ["mmdit"] = MmDitCommands.Sample,
    };

    public static IEnumerable<string> ModelNames => Models.Keys;

    public static int Run(Args args)
    {
        if (args.Positionals.Count != 1 || !Models.TryGetValue(args.Positionals[0], out var run))
            throw new UsageException($"name one model to sample from: {string.Join(", ", Models.Keys)}");
        return run(args);
    }
}
