using Cli.Commands;

namespace Cli;

/// <summary>
/// <c>engine &lt;command&gt; [options]</c>: the command table and the error policy. A usage error prints one line
/// and exits 2; a bad file, missing data or a diverged run prints one line and exits 1; no stack traces.
/// Program.cs calls <see cref="Run"/>; tests call it in-process.
/// </summary>
public static class EngineCli
{
    public static int Run(string[] args)
    {
        var commands = new Dictionary<string, (string Help, Func<Args, int> Run)>
        {
            ["demo"] = ("train a small class-conditional DDPM on the embedded Fashion-MNIST data; pictures go to runs/demo/", DemoCommand.Run),
            ["train"] = ($"train a model: {string.Join(", ", TrainCommand.ModelNames)}", a => TrainCommand.Run(a, "engine " + string.Join(' ', args))),
            ["sample"] = ($"generate images from a checkpoint: {string.Join(", ", SampleCommand.ModelNames)}", SampleCommand.Run),
            ["eval"] = ($"measure a model for the results table (FCD, conditional accuracy, bits/dim, sampling cost): {string.Join(", ", EvalCommand.ModelNames)}", EvalCommand.Run),
            ["info"] = ("devices, SIMD support and threads the engine will use", InfoCommand.Run),
            ["kernels"] = ("race every registered kernel variant on the workload shapes", KernelsCommand.Run),
            ["bench"] = ("run a reference workload (W1..W5) and print ms and GFLOP/s per case", BenchCommand.Run),
        };

        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine("usage: engine <command> [options]\n");
            foreach (var (name, (help, _)) in commands) Console.WriteLine($"  {name,-10} {help}");
            return args.Length == 0 ? 2 : 0;
        }

        if (!commands.TryGetValue(args[0], out var command))
        {
            Console.Error.WriteLine($"engine: unknown command '{args[0]}' (try: {string.Join(", ", commands.Keys)})");
            return 2;
        }

        try
        {
            return command.Run(new Args(args.Skip(1)));
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"engine {args[0]}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or KeyNotFoundException or ArithmeticException)
        {
            Console.Error.WriteLine($"engine {args[0]}: {OneLine(e.Message)}");
            return 1;
        }
    }

    static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
