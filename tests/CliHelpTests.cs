using System.Text.RegularExpressions;
using Cli;

namespace Engine.Tests;

/// <summary>
/// The command line's help: every command answers <c>--help</c> with every option it reads (type, default, meaning), bad values
/// exit 2 with one line, <c>--version</c> works, and the README and docs/cli.md agree with the help text.
/// </summary>
public sealed class CliHelpTests
{
    static (int Code, string Out, string Error) Engine(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var (savedOut, savedError) = (Console.Out, Console.Error);
        Console.SetOut(output);
        Console.SetError(error);
        try { return (EngineCli.Run(args), output.ToString(), error.ToString()); }
        finally { Console.SetOut(savedOut); Console.SetError(savedError); }
    }

    static IEnumerable<EngineCli.Leaf> Leaves => EngineCli.Leaves();

    [Test]
    public void Every_command_lists_every_option_it_reads_with_type_default_and_meaning()
    {
        foreach (var leaf in Leaves)
        {
            var options = leaf.Options();
            var (code, help, error) = Engine([.. leaf.Path.Split(' '), "--help"]);
            Assert.That(code, Is.EqualTo(0), $"{leaf.Path}: {error}");
            foreach (var o in options)
            {
                Assert.That(help, Does.Contain("--" + o.Name + (o.IsFlag ? "" : $" <{o.Type}>")), $"{leaf.Path} --help lacks --{o.Name}");
                Assert.That(OptionHelp.For(leaf.Path, o.Name), Is.Not.Null, $"{leaf.Path}: --{o.Name} has no line of meaning in OptionHelp");
                if (o.Default is not null) Assert.That(help, Does.Contain($"(default: {o.Default})"), $"{leaf.Path} --{o.Name}");
            }
            // The parser accepts exactly what help lists: an option no command reads is refused in one line.
            var r = Engine([.. leaf.Path.Split(' '), "--no-such-option", "1"]);
            Assert.That((r.Code, r.Error.TrimEnd().Split('\n').Length), Is.EqualTo((2, 1)), $"{leaf.Path}: {r.Error}");
            Assert.That(r.Error, Does.Contain("unknown option --no-such-option"));
        }
        Assert.That(Leaves.Select(l => l.Path), Is.SupersetOf(new[] { "train ddpm", "train gan", "train rectified", "sample mmdit", "eval cfm", "demo", "bench" }));
    }

    [Test]
    public void The_shared_options_mean_the_same_in_every_training_family()
    {
        foreach (var leaf in Leaves.Where(l => l.Path.StartsWith("train ", StringComparison.Ordinal)))
        {
            var names = leaf.Options().Select(o => o.Name).ToList();
            foreach (var common in new[] { "steps", "batch", "lr", "seed", "out", "resume", "force", "save-every", "threads", "device" })
                if (!(leaf.Path == "train classifier" && common == "steps"))               // the classifier counts epochs
                    Assert.That(names, Does.Contain(common), $"{leaf.Path} lacks --{common}");
            Assert.That(names, Does.Contain("data"), leaf.Path);
        }
    }

    [Test]
    public void Top_level_help_version_and_bad_values()
    {
        var (code, help, _) = Engine("--help");
        Assert.That(code, Is.EqualTo(0));
        foreach (var c in new[] { "demo", "train", "sample", "eval", "info", "kernels", "bench" }) Assert.That(help, Does.Contain(c));
        var train = Engine("train", "--help");
        foreach (var f in Families.All.Where(f => f.Train is not null)) Assert.That(train.Out, Does.Contain(f.Name));
        var version = Engine("--version");
        Assert.That((version.Code, version.Out.Trim()), Is.EqualTo((0, version.Out.Trim())));
        Assert.That(version.Out, Does.Match(@"^\d+\.\d+"));
        Assert.That(Engine().Code, Is.EqualTo(2), "no command: help and exit 2");

        foreach (var (args, containing) in new[]
        {
            (new[] { "train", "ddpm", "--schedule", "quadratic" }, "--schedule: 'quadratic' is not linear or cosine"),
            (new[] { "train", "gan", "--batch", "0" }, "--batch: 0 is outside [2, 4096]"),
            (new[] { "train", "vae", "--likelihood", "gauss" }, "--likelihood: 'gauss' is not bernoulli or logistic"),
            (new[] { "sample", "ddpm", "--out", "x.png", "--guidance", "lots" }, "--guidance: 'lots' is not a finite number"),
            (new[] { "eval", "cfm", "--steps", "1,x" }, "--steps: 'x'"),
            (new[] { "train", "dit", "--objective", "gan" }, "--objective: 'gan' is not diffusion or rf"),
            (new[] { "train", "pixelcnn", "--device", "gpu" }, "--device: 'gpu' is not accepted here"),
            (new[] { "train", "ddpm", "--threads", "0" }, "--threads: 0 is outside [1, 1024]"),
        })
        {
            var r = Engine(args);
            Assert.That(r.Code, Is.EqualTo(2), string.Join(' ', args) + ": " + r.Error);
            Assert.That(r.Error.TrimEnd().Split('\n'), Has.Length.EqualTo(1), r.Error);
            Assert.That(r.Error, Does.Contain(containing).And.Not.Contain("   at "));
        }
    }

    [Test]
    public void A_checkpoint_of_another_family_is_one_line_and_exit_1()
    {
        string ddpm = Path.Combine(TestContext.CurrentContext.TestDirectory, "checkpoints", "fmnist-ddpm.safetensors");
        foreach (var family in new[] { "dit", "mmdit" })
        {
            string[] prompt = family == "mmdit" ? ["--prompt", "a red circle"] : [];
            var r = Engine(["sample", family, "--checkpoint", ddpm, .. prompt, "--out", Path.Combine(Path.GetTempPath(), "never.png")]);
            Assert.That(r.Code, Is.EqualTo(1), r.Error);
            Assert.That(r.Error.TrimEnd().Split('\n'), Has.Length.EqualTo(1), r.Error);
            Assert.That(r.Error, Does.Contain("fmnist-ddpm.safetensors").And.Contain("not a").And.Not.Contain("   at "));
        }
    }

    /// <summary>The repository root (the folder holding Engine.sln), found from the test's folder.</summary>
    static string Root()
    {
        var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("no Engine.sln above the test folder");
    }

    [Test]
    public void The_readme_names_only_options_the_commands_accept()
    {
        var leaves = Leaves.ToDictionary(l => l.Path, l => l.Options().Select(o => o.Name).ToHashSet());
        var readme = File.ReadAllText(Path.Combine(Root(), "README.md"));
        int checkedMentions = 0;
        foreach (Match m in Regex.Matches(readme, @"engine ((?:demo|info|kernels|bench|train|sample|eval)(?:\|(?:train|sample|eval))*)(?: ((?:[a-z0-9]+)(?:\|[a-z0-9]+)*))?([^`\n]*)"))
        {
            var options = Regex.Matches(m.Groups[3].Value, @"--([a-z][a-z0-9-]*)").Select(o => o.Groups[1].Value).Where(o => o is not "help" and not "version").ToList();
            foreach (var command in m.Groups[1].Value.Split('|'))
            {
                bool group = command is "train" or "sample" or "eval";
                var families = group ? m.Groups[2].Value.Split('|') : [""];
                foreach (var family in families)
                {
                    string path = group ? $"{command} {family}" : command;
                    if (group && !leaves.ContainsKey(path)) { Assert.That(command == "train" || command == "sample" || command == "eval", Is.True); continue; }
                    Assert.That(leaves, Does.ContainKey(path), $"README mentions `engine {path}`, which does not exist");
                    foreach (var o in options)
                    {
                        Assert.That(leaves[path], Does.Contain(o), $"README: `engine {path}` does not accept --{o} ({m.Value.Trim()})");
                        checkedMentions++;
                    }
                }
            }
        }
        Assert.That(checkedMentions, Is.GreaterThan(20));
    }

    [Test]
    public void Docs_cli_md_is_the_help_text_of_every_command()
    {
        string path = Path.Combine(Root(), "docs", "cli.md");
        string expected = CliReference.Markdown();
        if (Environment.GetEnvironmentVariable("ENGINE_UPDATE_DOCS") == "1") File.WriteAllText(path, expected);
        Assert.That(File.Exists(path), Is.True, "docs/cli.md is missing; run the tests with ENGINE_UPDATE_DOCS=1 to write it");
        Assert.That(File.ReadAllText(path).ReplaceLineEndings("\n"), Is.EqualTo(expected),
            "docs/cli.md differs from the help text; run this test with ENGINE_UPDATE_DOCS=1 to regenerate it");
    }
}
