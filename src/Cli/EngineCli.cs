using System.CommandLine;
using System.CommandLine.Parsing;
using Cli.Commands;
using Models.Training;

namespace Cli;

/// <summary>
/// <c>engine &lt;command&gt; [options]</c> on System.CommandLine: the command tree (from <see cref="Families"/> and the
/// tool commands), help (<c>--help</c> on every command, listing each option with its type, default and meaning),
/// <c>--version</c>, and the one error boundary. Exit codes: 0 done, 1 runtime error (a bad file, missing data, a diverged
/// run), 2 usage error (a bad option or value), 130 interrupted by Ctrl+C after saving. Every failure prints one line naming
/// the file or option; an unexpected one also writes its stack trace to <c>runs/&lt;run&gt;/error.log</c>.
/// Program.cs calls <see cref="Run"/>; tests call it in-process.
/// </summary>
public static class EngineCli
{
    public const int RuntimeError = 1, UsageError = 2;

    /// <summary>A leaf command: its path ("train ddpm"), summary, what it reads and how it runs.</summary>
    public sealed record Leaf(string Path, string Summary, Func<IReadOnlyList<OptionInfo>> Options, Func<Args, int> Run, string? Positionals = null);

    /// <summary>Every leaf command, tool commands first, then the registry's train, sample and eval commands.</summary>
    public static IReadOnlyList<Leaf> Leaves()
    {
        var leaves = new List<Leaf>
        {
            Tool("demo", "train a small class-conditional DDPM on the embedded Fashion-MNIST data; pictures go to runs/demo/", DemoCommand.Run),
            Tool("info", "devices, SIMD support and threads the engine will use", InfoCommand.Run),
            Tool("kernels", "race every registered kernel variant on the workload shapes", KernelsCommand.Run, positionals: "section"),
            Tool("bench", "run a reference workload (W1..W5) and print ms and GFLOP/s per case", BenchCommand.Run, positionals: "workload"),
        };
        foreach (var f in Families.All)
        {
            if (f.Train is { } train)
                leaves.Add(new($"train {f.Name}", f.Summary, () => Families.Probe(a => train(a, ""), f.TrainProbes), a => train(a, "engine " + CommandLine)));
            if (f.Sample is { } sample)
                leaves.Add(new($"sample {f.Name}", f.Summary, () => Families.Probe(a => sample(a)), sample));
            if (f.Eval is { } eval)
                leaves.Add(new($"eval {f.Name}", f.Summary, () => Families.Probe(a => EvalCommand.Run(a, eval)), a => EvalCommand.Run(a, eval)));
        }
        return leaves;
    }

    static Leaf Tool(string name, string summary, Func<Args, int> run, string? positionals = null) =>
        new(name, summary, () => Families.Probe(a => run(a)), run, positionals);

    static readonly Dictionary<string, string> Groups = new()
    {
        ["train"] = "train a model; its run folder gets the checkpoint, loss.csv, loss.png and pictures",
        ["sample"] = "generate images from a checkpoint",
        ["eval"] = "measure a model for the results table (FCD, conditional accuracy, bits/dim, sampling cost)",
    };

    [ThreadStatic] static string? commandLine;

    /// <summary>The arguments of the running command, as stored in checkpoints.</summary>
    static string CommandLine => commandLine ?? "";

    /// <summary>The command tree; <paramref name="only"/> limits option probing to the leaf being run (help of others needs none).</summary>
    public static RootCommand Build(string? only = null)
    {
        var root = new RootCommand("engine: a generative-image-modeling engine (tensors, autograd, CPU and GPU kernels, model families)");
        var groups = Groups.ToDictionary(g => g.Key, g =>
        {
            var c = new Command(g.Key, g.Value);
            c.SetAction((Func<ParseResult, int>)(_ => throw NameOne(g.Key)));
            return c;
        });
        foreach (var leaf in Leaves())
        {
            var parts = leaf.Path.Split(' ');
            var command = new Command(parts[^1], leaf.Summary);
            bool probe = only is null || only == leaf.Path || only == "*";
            var options = probe ? leaf.Options() : [];
            var symbols = new List<(OptionInfo Info, Option Option)>();
            foreach (var o in options)
            {
                Option option = o.IsFlag
                    ? new Option<bool>("--" + o.Name) { Description = Describe(leaf.Path, o) }
                    : new Option<string>("--" + o.Name) { Description = Describe(leaf.Path, o), HelpName = o.Type, Required = false };
                command.Options.Add(option);
                symbols.Add((o, option));
            }
            Argument<string[]>? positional = null;
            if (leaf.Positionals is { } what)
            {
                positional = new Argument<string[]>(what) { Description = $"which {what}s to run (see the command's summary)", Arity = ArgumentArity.ZeroOrMore };
                command.Arguments.Add(positional);
            }
            command.SetAction(parse => leaf.Run(ToArgs(parse, symbols, positional)));
            if (parts.Length == 1) root.Subcommands.Add(command);
            else groups[parts[0]].Subcommands.Add(command);
        }
        foreach (var g in groups.Values) root.Subcommands.Add(g);
        return root;
    }

    static UsageException NameOne(string group) =>
        new($"name one model to {(group == "eval" ? "evaluate" : group == "sample" ? "sample from" : group)}: " +
            string.Join(", ", Families.All.Where(f => group switch { "train" => f.Train is not null, "sample" => f.Sample is not null, _ => f.Eval is not null }).Select(f => f.Name)));

    /// <summary>An option's help: its meaning, then the accepted range and the default.</summary>
    public static string Describe(string command, OptionInfo o)
    {
        var text = OptionHelp.For(command, o.Name) ?? "(undocumented)";
        if (o.Range is not null) text += $" {o.Range}";
        if (o.Required) text += " (required)";
        else if (!o.IsFlag && o.Default is not null) text += $" (default: {o.Default})";
        else if (!o.IsFlag && !text.Contains("default", StringComparison.Ordinal)) text += " (default: none)";
        return text;
    }

    /// <summary>The parsed options back as the <see cref="Args"/> the commands read (they convert and range-check).</summary>
    static Args ToArgs(ParseResult parse, List<(OptionInfo Info, Option Option)> symbols, Argument<string[]>? positional)
    {
        var argv = new List<string>();
        foreach (var (info, option) in symbols)
        {
            if (parse.GetResult(option) is not { Implicit: false } result) continue;
            if (info.IsFlag)
            {
                if (result.GetValueOrDefault<bool>()) argv.Add("--" + info.Name);
            }
            else
            {
                argv.Add("--" + info.Name);
                argv.Add(result.Tokens.Count > 0 ? result.Tokens[^1].Value : "");
            }
        }
        if (positional is not null) argv.AddRange(parse.GetValue(positional) ?? []);
        return new Args(argv);
    }

    public static int Run(string[] args)
    {
        if (args.Length == 0) { Build().Parse(["--help"]).Invoke(); return UsageError; }
        if (args[0] == "help") args = [.. args[1..], "--help"];
        string path = args.Length > 1 && Groups.ContainsKey(args[0]) && !args[1].StartsWith('-') ? $"{args[0]} {args[1]}" : args[0];
        commandLine = string.Join(' ', args);
        try
        {
            var parse = Build(path).Parse(args);
            var at = parse.CommandResult.Command;
            if (Groups.ContainsKey(at.Name) && at.Parents.OfType<RootCommand>().Any() && (parse.Errors.Count > 0 || parse.UnmatchedTokens.Count > 0))
                throw NameOne(at.Name);
            if (parse.Errors.Count > 0)
            {
                var unknown = parse.UnmatchedTokens.FirstOrDefault(t => t.StartsWith('-'));
                string message = unknown is not null ? $"unknown option {unknown} (see engine {path} --help)" : parse.Errors[0].Message;
                return Fail(path, message, UsageError);
            }
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e) { return Fail(path, e.Message, UsageError); }
        catch (RunExistsException e) { return Fail(path, e.Message, UsageError); }
        catch (OperationCanceledException) { return Fail(path, "interrupted", TrainingLoop.InterruptedExitCode); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or KeyNotFoundException
            or ArithmeticException or FormatException or System.Text.Json.JsonException or NotSupportedException)
        {
            return Fail(path, e.Message, RuntimeError);
        }
        catch (Exception e)
        {
            string log = ErrorLog(path, args, e);
            return Fail(path, $"internal error ({e.GetType().Name}): {e.Message} (stack trace in {log})", RuntimeError);
        }
        finally { commandLine = null; }
    }

    static int Fail(string path, string message, int code)
    {
        Console.Error.WriteLine($"engine {path}: {message.ReplaceLineEndings(" ")}");
        return code;
    }

    /// <summary>Writes the stack trace to <c>runs/&lt;run&gt;/error.log</c> (the run's --out for train and demo) and returns its path.</summary>
    static string ErrorLog(string path, string[] args, Exception e)
    {
        string dir = Path.Combine("runs", path.Split(' ')[^1]);
        int outAt = Array.IndexOf(args, "--out");
        if ((path.StartsWith("train ", StringComparison.Ordinal) || path == "demo") && outAt >= 0 && outAt + 1 < args.Length) dir = args[outAt + 1];
        try
        {
            Directory.CreateDirectory(dir);
            string file = Path.Combine(dir, "error.log");
            File.AppendAllText(file, $"{DateTime.UtcNow:O} engine {string.Join(' ', args)}\n{e}\n\n");
            return file;
        }
        catch (Exception inner) when (inner is IOException or UnauthorizedAccessException) { return "(no log: " + inner.Message + ")"; }
    }
}
