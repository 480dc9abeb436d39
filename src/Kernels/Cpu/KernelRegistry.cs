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

    public static IReadOnlyList<Variant<ConvForwardKernel>> ConvForward { get; } =
    [
        new("reference", Conv.ForwardReference, IsReference: true),
        new("im2col-gemm", Conv.Forward),
    ];

    /// <summary>The GEMM the engine uses.</summary>
    public static GemmKernel FastGemm { get; set; } = Cpu.Gemm.Simd;
}
