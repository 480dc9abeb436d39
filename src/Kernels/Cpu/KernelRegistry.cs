namespace Kernels.Cpu;

/// <summary>A named implementation of a kernel; the reference is the one every other variant is checked against.</summary>
public sealed record Variant<TKernel>(string Name, TKernel Run, bool IsReference = false) where TKernel : Delegate;

/// <summary>
/// The one place that lists every variant of every kernel. Tests check each against the reference,
/// the benchmarks time them side by side, and the engine picks <c>Fast</c>.
/// </summary>
public static class KernelRegistry
{
    public static IReadOnlyList<Variant<GemmKernel>> Gemm { get; } =
    [
        new("reference", Cpu.Gemm.Reference, IsReference: true),
        new("simd-4x64", Cpu.Gemm.Simd),
    ];

    public static IReadOnlyList<Variant<AttentionForwardKernel>> AttentionForward { get; } =
    [
        new("reference", Attention.ForwardReference, IsReference: true),
        new("flash-avx512", Attention.Forward),
    ];

    public static IReadOnlyList<Variant<AttentionBackwardKernel>> AttentionBackward { get; } =
    [
        new("reference", Attention.BackwardReference, IsReference: true),
        new("flash-avx512", Attention.Backward),
    ];

    /// <summary>The GEMM the engine uses.</summary>
    public static GemmKernel FastGemm { get; set; } = Cpu.Gemm.Simd;

    /// <summary>2-D convolution forward (NCHW, PyTorch weight layout): direct reference and im2col + GEMM.</summary>
    public static IReadOnlyList<Variant<Conv2dForwardKernel>> Conv2dForward { get; } =
    [
        new("reference", ConvReference.Forward, IsReference: true),
        new("im2col", ConvIm2col.Forward),
    ];

    public static IReadOnlyList<Variant<Conv2dInputGradKernel>> Conv2dInputGrad { get; } =
    [
        new("reference", ConvReference.InputGrad, IsReference: true),
        new("im2col", ConvIm2col.InputGrad),
    ];

    public static IReadOnlyList<Variant<Conv2dWeightGradKernel>> Conv2dWeightGrad { get; } =
    [
        new("reference", ConvReference.WeightGrad, IsReference: true),
        new("im2col", ConvIm2col.WeightGrad),
    ];

    /// <summary>The convolution forward the engine uses (also the input gradient of ConvTranspose2d).</summary>
    public static Conv2dForwardKernel FastConv2dForward { get; set; } = ConvIm2col.Forward;
    /// <summary>The convolution input gradient the engine uses (also the forward of ConvTranspose2d).</summary>
    public static Conv2dInputGradKernel FastConv2dInputGrad { get; set; } = ConvIm2col.InputGrad;
    /// <summary>The convolution weight gradient the engine uses.</summary>
    public static Conv2dWeightGradKernel FastConv2dWeightGrad { get; set; } = ConvIm2col.WeightGrad;
}
