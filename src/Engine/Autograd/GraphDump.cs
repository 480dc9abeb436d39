using System.Text;

namespace Engine.Autograd;

/// <summary>
/// The recorded graph made visible: a text listing of the ops behind a tensor, with shapes, and a Graphviz
/// DOT rendering (<c>dot -Tpng graph.dot -o graph.png</c>).
/// </summary>
public static class GraphDump
{
    /// <summary>One line per op, inputs first: <c>%3 = Matmul(%1 [64, 2], %2 [2, 16]) -> [64, 16]</c>.</summary>
    public static string ToText(Tensor root)
    {
        var ids = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        var sb = new StringBuilder();
        foreach (var t in AllNodes(root))
        {
            int id = ids[t] = ids.Count;
            if (t.Node is null)
            {
                sb.Append($"%{id} = leaf {Label(t)} {Shapes.Format(t.Shape)}\n");
                continue;
            }
            var args = string.Join(", ", t.Node.Inputs.Select(i => ids.TryGetValue(i, out var j) ? $"%{j} {Shapes.Format(i.Shape)}" : $"const {Shapes.Format(i.Shape)}"));
            var attrs = t.Node.Attributes is null ? "" : $" {{{t.Node.Attributes}}}";
            sb.Append($"%{id} = {t.Node.Op}({args}){attrs} -> {Shapes.Format(t.Shape)}\n");
        }
        return sb.ToString();
    }

    /// <summary>Graphviz DOT: boxes for ops, ellipses for leaves, edges labelled with shapes.</summary>
    public static string ToDot(Tensor root)
    {
        var ids = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        var sb = new StringBuilder("digraph autograd {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
        foreach (var t in AllNodes(root))
        {
            int id = ids[t] = ids.Count;
            if (t.Node is null)
                sb.Append($"  n{id} [shape=ellipse, label=\"{Escape(Label(t))}\\n{Shapes.Format(t.Shape)}\"];\n");
            else
            {
                var attrs = t.Node.Attributes is null ? "" : $"\\n{Escape(t.Node.Attributes)}";
                sb.Append($"  n{id} [shape=box, style=filled, fillcolor=\"#dde8f5\", label=\"{t.Node.Op}{attrs}\\n{Shapes.Format(t.Shape)}\"];\n");
                foreach (var i in t.Node.Inputs)
                    if (ids.TryGetValue(i, out var j)) sb.Append($"  n{j} -> n{id} [label=\"{Shapes.Format(i.Shape)}\"];\n");
            }
        }
        return sb.Append("}\n").ToString();
    }

    /// <summary>Every tensor in the graph of <paramref name="root"/> (leaves that require grad included), inputs first.</summary>
    static List<Tensor> AllNodes(Tensor root) => root.RequiresGrad ? Backprop.TopologicalOrder(root) : [root];

    static string Label(Tensor t) => t.Name ?? (t.RequiresGrad ? "param" : "input");
    static string Escape(string s) => s.Replace("\"", "\\\"");
}
