using Engine;
using Engine.Autograd;
using Engine.Random;

namespace Models.PixelCnn;

/// <summary>
/// Raster-order sampling from a <see cref="GatedPixelCnn"/>, a batch of images at a time. Sampling is sequential
/// (H·W steps), but each step needs only what changed:
/// <list type="bullet">
/// <item>the vertical stack at row i reads rows &lt; i only, so it runs once per row, on the <see cref="PixelCnnConfig.Reach"/>
/// rows above (the zero padding at the top of that window lies outside the receptive field of row i);</item>
/// <item>for pixel (i, j) the horizontal stack runs on row i alone, over the Reach columns up to j, and the head on
/// column j alone.</item>
/// </list>
/// <see cref="SampleNaive"/> recomputes the whole network for every pixel: the reference the cached path is tested
/// and timed against.
/// </summary>
public sealed class PixelCnnSampler(GatedPixelCnn model)
{
    public GatedPixelCnn Model { get; } = model;

    /// <summary>
    /// Images (B, 1, H, W) in [0, 1], one per label (or <paramref name="count"/> for an unconditional model), each
    /// pixel drawn from the model's softmax at <paramref name="temperature"/>.
    /// </summary>
    public Tensor Sample(int[]? labels, int height, int width, Generator g, float temperature = 1f, int count = 0)
    {
        int n = CheckRequest(labels, height, width, temperature, count);
        using var _ = GradMode.NoGrad();
        var x = Tensor.Zeros([n, 1, height, width]);
        for (int i = 0; i < height; i++)
        {
            var row = new RowState(Model, x, labels, i);
            for (int j = 0; j < width; j++) Draw(x, i, j, row.PixelLogits(j), g, temperature);
        }
        return x;
    }

    /// <summary>The same distribution as <see cref="Sample"/>, recomputing the full network for every pixel (O(H·W) full passes).</summary>
    public Tensor SampleNaive(int[]? labels, int height, int width, Generator g, float temperature = 1f, int count = 0)
    {
        int n = CheckRequest(labels, height, width, temperature, count);
        using var _ = GradMode.NoGrad();
        var x = Tensor.Zeros([n, 1, height, width]);
        for (int i = 0; i < height; i++)
            for (int j = 0; j < width; j++)
            {
                var logits = Model.Forward(x, labels);                                      // (B, 256, H, W)
                Draw(x, i, j, logits.Narrow(2, i, 1).Narrow(3, j, 1).Reshape(n, GatedPixelCnn.Levels), g, temperature);
            }
        return x;
    }

    /// <summary>
    /// The cached state of one row: the vertical stack's contribution to row i from each layer, computed once from
    /// the rows above. <see cref="PixelLogits"/> then gives the logits of pixel (i, j) from the current pixels of row i.
    /// </summary>
    public sealed class RowState
    {
        readonly GatedPixelCnn model;
        readonly Tensor x;
        readonly int row;
        readonly Tensor[] fromVertical;                          // per layer (B, 2C, 1, W)
        readonly (Tensor? Vertical, Tensor? Horizontal)[] bias;

        public RowState(GatedPixelCnn model, Tensor x, int[]? labels, int row)
        {
            this.model = model; this.x = x; this.row = row;
            int top = Math.Max(0, row - model.Config.Reach), rows = row - top + 1;
            var v = GatedPixelCnn.Scale(x.Narrow(2, top, rows));                          // (B, 1, rows, W)
            fromVertical = new Tensor[model.Layers.Count];
            bias = new (Tensor?, Tensor?)[model.Layers.Count];
            for (int l = 0; l < model.Layers.Count; l++)
            {
                var layer = model.Layers[l];
                bias[l] = layer.Conditioning(labels);
                var fv = layer.VerticalFeatures(v, bias[l].Vertical);                       // (B, 2C, rows, W)
                fromVertical[l] = layer.VerticalToHorizontal(fv.Narrow(2, rows - 1, 1));   // (B, 2C, 1, W)
                v = GatedLayer.Gate(fv);
            }
        }

        /// <summary>Logits (B, 256) of pixel (row, <paramref name="column"/>), reading only pixels before it.</summary>
        public Tensor PixelLogits(int column)
        {
            int left = Math.Max(0, column - model.Config.Reach), cols = column - left + 1;
            var h = GatedPixelCnn.Scale(x.Narrow(2, row, 1).Narrow(3, left, cols));       // (B, 1, 1, cols)
            for (int l = 0; l < model.Layers.Count; l++)
                h = model.Layers[l].Horizontal(h, fromVertical[l].Narrow(3, left, cols), bias[l].Horizontal);
            var logits = model.Head(h.Narrow(3, cols - 1, 1));                             // (B, 256, 1, 1)
            return logits.Reshape(x.Shape[0], GatedPixelCnn.Levels);
        }
    }

    /// <summary>Draws pixel (i, j) of every image from softmax(logits / temperature) and writes its level / 255 into x.</summary>
    static void Draw(Tensor x, int i, int j, Tensor logits, Generator g, float temperature)
    {
        int n = x.Shape[0], h = x.Shape[2], w = x.Shape[3], levels = GatedPixelCnn.Levels;
        var z = logits.Contiguous().Span;                                                   // (B, 256)
        var u = new float[n];
        g.FillUniform(u);
        var xs = x.Span;
        var p = new double[levels];
        for (int b = 0; b < n; b++)
        {
            var row = z.Slice(b * levels, levels);
            double max = double.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v / temperature);
            double sum = 0;
            for (int k = 0; k < levels; k++) sum += p[k] = Math.Exp(row[k] / temperature - max);
            if (!double.IsFinite(sum)) throw new NonFiniteException($"PixelCnnSampler: logits of pixel ({i}, {j}) are not finite");
            double target = u[b] * sum, acc = 0;
            int level = levels - 1;
            for (int k = 0; k < levels; k++)
            {
                acc += p[k];
                if (acc > target) { level = k; break; }
            }
            xs[(b * h + i) * w + j] = level / 255f;
        }
    }

    int CheckRequest(int[]? labels, int height, int width, float temperature, int count)
    {
        if (height < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(height), $"PixelCnnSampler: image size {height}×{width} must be positive");
        if (!(temperature > 0) || !float.IsFinite(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), $"PixelCnnSampler: temperature must be positive and finite, got {temperature}");
        if (Model.Config.Classes > 0)
        {
            if (labels is null || labels.Length == 0) throw new ArgumentException("PixelCnnSampler: a class-conditional model needs a label per image");
            foreach (var l in labels)
                if ((uint)l >= (uint)Model.Config.Classes) throw new ArgumentOutOfRangeException(nameof(labels), $"PixelCnnSampler: label {l} is outside [0, {Model.Config.Classes})");
            return labels.Length;
        }
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), $"PixelCnnSampler: an unconditional model needs a positive count, got {count}");
        return count;
    }
}
