using Cli;
using Cli.Commands;
using Spectre.Console;

// engine <command> [options]: the command-line face of the engine.
var commands = new Dictionary<string, (string Help, Func<Args, int> Run)>
{
    ["demo"] = ("train a conv classifier on the embedded Fashion-MNIST data; pictures and weights go to runs/demo/", DemoCommand.Run),

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
    Console.Error.WriteLine($"engine {args[0]}: {e.Message}");
    return 1;
}
