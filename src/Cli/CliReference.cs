using System.Text;

namespace Cli;

/// <summary>
/// The command reference in docs/cli.md, generated from the same option lists as <c>--help</c> (a test keeps the file in
/// step with the code).
/// </summary>
public static class CliReference
{
    public static string Markdown()
    {
        var sb = new StringBuilder();
        sb.Append("# Command reference\n\n");
        sb.Append("Generated from the help text (`engine <command> --help`); a test fails when this file and the code drift apart.\n");
        sb.Append("Exit codes: 0 done, 1 runtime error (a bad file, missing data, a diverged run), 2 usage error (a bad option or value),\n");
        sb.Append("130 interrupted by Ctrl+C after saving the checkpoint. Every failure is one line on stderr naming the file or option;\n");
        sb.Append("an unexpected one also writes its stack trace to `runs/<run>/error.log`. Progress is a live bar on a terminal and plain\n");
        sb.Append("lines when stdout is redirected or `CI` is set.\n");
        foreach (var leaf in EngineCli.Leaves())
        {
            sb.Append("\n## engine ").Append(leaf.Path).Append("\n\n").Append(leaf.Summary).Append(".\n\n");
            var options = leaf.Options();
            if (options.Count == 0) continue;
            sb.Append("| option | value | meaning |\n|---|---|---|\n");
            foreach (var o in options)
                sb.Append("| `--").Append(o.Name).Append("` | ").Append(o.IsFlag ? "flag" : o.Type).Append(" | ")
                  .Append(EngineCli.Describe(leaf.Path, o).Replace("|", "\\|")).Append(" |\n");
        }
        return sb.ToString();
    }
}
