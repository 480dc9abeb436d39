using Engine;

namespace Models.PixelCnn;

/// <summary>
/// The kernel masks of the gated PixelCNN's two stacks, for an odd kernel size k. Mask A (first layer) closes the
/// centre tap, so a pixel never sees itself; mask B (later layers) opens it, since the features there already
/// depend only on earlier pixels.
/// </summary>
public static class PixelCnnMasks
{
    /// <summary>
    /// Vertical stack, k×k: every row above the centre open; the centre row open only for mask B; rows below closed.
    /// The vertical feature at row i thus depends on input rows &lt; i only, across the whole width of its
    /// receptive field (no blind spot to the upper right).
    /// </summary>
    public static Tensor Vertical(int k, bool maskB)
    {
        CheckKernel(k);
        var m = Tensor.Zeros([k, k]);
        int rows = maskB ? k / 2 + 1 : k / 2;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < k; c++) m[r, c] = 1f;
        return m;
    }

    /// <summary>Horizontal stack, 1×k: taps left of the centre open; the centre open only for mask B.</summary>
    public static Tensor Horizontal(int k, bool maskB)
    {
        CheckKernel(k);
        var m = Tensor.Zeros([1, k]);
        for (int c = 0; c < (maskB ? k / 2 + 1 : k / 2); c++) m[0, c] = 1f;
        return m;
    }

    static void CheckKernel(int k)
    {
        if (k < 3 || k % 2 == 0) throw new ArgumentOutOfRangeException(nameof(k), $"PixelCnnMasks: kernel size must be odd and ≥ 3, got {k}");
    }
}
