using Kernels.Gpu;

namespace Kernels.Cpu;

/// <summary>A named implementation of a kernel; the reference is the one every other variant is checked against.</summary>
public sealed record Variant<TKernel>(string Name, TKernel Run, bool IsReference = false) where TKernel : Delegate;

/// <summary>
/// The one place that lists every variant of every kernel. Tests check each against the reference,
/// the benchmarks time them side by side, and the engine picks <c>Fast</c>. SIMD kernels come in one variant per
/// vector width accelerated on this machine (<c>-avx512</c>, <c>-avx2</c>, and the portable <c>-vector</c>, see
/// <see cref="Isa"/>); each <c>Fast</c> default is the widest of them.
/// </summary>
public static class KernelRegistry
{
    /// <summary>The GPU variant of a kernel when a GPU is open (<see cref="GpuVariants.Registered"/>), else nothing.</summary>
    static IEnumerable<Variant<T>> Gpu<T>(Func<GpuVariants, Variant<T>> pick) where T : Delegate =>
        GpuVariants.Registered is { } g ? [pick(g)] : [];

    public static IReadOnlyList<Variant<GemmKernel>> Gemm =>
    [
        new("reference", Cpu.Gemm.Reference, IsReference: true),
        new("simd-4x64", Cpu.Gemm.Simd),
        .. Isa.Variants<GemmKernel>("blocked", GemmBlocked.Run, GemmBlocked.RunAvx2, GemmBlocked.RunVector),
        .. Gpu(g => g.Gemm),
    ];

    public static IReadOnlyList<Variant<AttentionForwardKernel>> AttentionForward =>
    [
        new("reference", Attention.ForwardReference, IsReference: true),
        .. Isa.Variants<AttentionForwardKernel>("flash", Attention.Forward<Vec512>, Attention.Forward<Vec256>, Attention.Forward<VecT>),
        .. Isa.Variants<AttentionForwardKernel>("blocked", Attention.ForwardBlocked<Vec512>, Attention.ForwardBlocked<Vec256>, Attention.ForwardBlocked<VecT>),
        .. Gpu(g => g.AttentionForward),
    ];

    public static IReadOnlyList<Variant<AttentionBackwardKernel>> AttentionBackward =>
    [
        new("reference", Attention.BackwardReference, IsReference: true),
        .. Isa.Variants<AttentionBackwardKernel>("flash", Attention.Backward<Vec512>, Attention.Backward<Vec256>, Attention.Backward<VecT>),
        .. Isa.Variants<AttentionBackwardKernel>("blocked", Attention.BackwardBlocked<Vec512>, Attention.BackwardBlocked<Vec256>, Attention.BackwardBlocked<VecT>),
        .. Gpu(g => g.AttentionBackward),
    ];

    /// <summary>
    /// The attention forward the engine uses: the widest blocked variant accelerated here (R query rows per register
    /// tile; on the W3 shape several times as fast as flash, which loads a key or value vector for every FMA).
    /// </summary>
    public static AttentionForwardKernel FastAttentionForward { get; set; } =
        Isa.Pick<AttentionForwardKernel>(Attention.ForwardBlocked<Vec512>, Attention.ForwardBlocked<Vec256>, Attention.ForwardBlocked<VecT>);
    /// <summary>The attention backward the engine uses (blocked, as the forward).</summary>
    public static AttentionBackwardKernel FastAttentionBackward { get; set; } =
        Isa.Pick<AttentionBackwardKernel>(Attention.BackwardBlocked<Vec512>, Attention.BackwardBlocked<Vec256>, Attention.BackwardBlocked<VecT>);

    /// <summary>
    /// The GEMM the engine uses: the blocked GEMM at the widest width accelerated here (blocked-avx512 is faster than
    /// simd-4x64 at every shape measured).
    /// </summary>
    public static GemmKernel FastGemm { get; set; } = Isa.Pick<GemmKernel>(GemmBlocked.Run, GemmBlocked.RunAvx2, GemmBlocked.RunVector);

    /// <summary>
    /// 2-D convolution forward (NCHW, PyTorch weight layout): direct reference, whole-image im2col + GEMM, and
    /// blocked im2col on the GEMM micro-kernel (<see cref="ConvBlocked"/>), and Winograd F(2×2, 3×3) for 3×3 stride-1
    /// convolutions (<see cref="ConvWinograd"/>; other shapes go to the blocked kernel) and F(4×4, 3×3) for those whose
    /// output rows are 17 to 28 wide (<see cref="ConvWinograd4"/>; other shapes go to F(2×2, 3×3)).
    /// </summary>
    public static IReadOnlyList<Variant<Conv2dForwardKernel>> Conv2dForward =>
    [
        new("reference", ConvReference.Forward, IsReference: true),
        new("im2col", ConvIm2col.Forward),
        .. Avx512Only<Conv2dForwardKernel>("blocked-avx512", ConvBlocked.Forward),
        .. Avx512Only<Conv2dForwardKernel>("winograd-avx512", ConvWinograd.Forward),
        .. Avx512Only<Conv2dForwardKernel>("winograd4-avx512", ConvWinograd4.Forward),
        .. Gpu(g => g.Conv2dForward),
    ];

    public static IReadOnlyList<Variant<Conv2dInputGradKernel>> Conv2dInputGrad =>
    [
        new("reference", ConvReference.InputGrad, IsReference: true),
        new("im2col", ConvIm2col.InputGrad),
        .. Avx512Only<Conv2dInputGradKernel>("blocked-avx512", ConvBlocked.InputGrad),
        .. Avx512Only<Conv2dInputGradKernel>("winograd-avx512", ConvWinograd.InputGrad),
        .. Avx512Only<Conv2dInputGradKernel>("winograd4-avx512", ConvWinograd4.InputGrad),
        .. Gpu(g => g.Conv2dInputGrad),
    ];

    public static IReadOnlyList<Variant<Conv2dWeightGradKernel>> Conv2dWeightGrad =>
    [
        new("reference", ConvReference.WeightGrad, IsReference: true),
        new("im2col", ConvIm2col.WeightGrad),
        .. Avx512Only<Conv2dWeightGradKernel>("blocked-avx512", ConvBlocked.WeightGrad),
        .. Avx512Only<Conv2dWeightGradKernel>("winograd-avx512", ConvWinograd.WeightGrad),
        .. Avx512Only<Conv2dWeightGradKernel>("winograd4-avx512", ConvWinograd4.WeightGrad),
        .. Gpu(g => g.Conv2dWeightGrad),
    ];

    public static IReadOnlyList<Variant<Conv2dBiasGradKernel>> Conv2dBiasGrad { get; } =
    [
        new("reference", ConvReference.BiasGrad, IsReference: true),
        new("simd", ConvBlocked.BiasGrad),
    ];

    /// <summary>The blocked convolution calls the AVX-512 micro-kernel directly: listed only where AVX-512 runs.</summary>
    static IEnumerable<Variant<T>> Avx512Only<T>(string name, T kernel) where T : Delegate =>
        Vec512.IsAccelerated ? [new Variant<T>(name, kernel)] : [];

    /// <summary>The convolution forward the engine uses (also the input gradient of ConvTranspose2d).</summary>
    public static Conv2dForwardKernel FastConv2dForward { get; set; } = Vec512.IsAccelerated ? ConvWinograd4.Forward : ConvIm2col.Forward;
    /// <summary>The convolution input gradient the engine uses (also the forward of ConvTranspose2d).</summary>
    public static Conv2dInputGradKernel FastConv2dInputGrad { get; set; } = Vec512.IsAccelerated ? ConvWinograd4.InputGrad : ConvIm2col.InputGrad;
    /// <summary>The convolution weight gradient the engine uses.</summary>
    public static Conv2dWeightGradKernel FastConv2dWeightGrad { get; set; } = Vec512.IsAccelerated ? ConvWinograd4.WeightGrad : ConvIm2col.WeightGrad;
    /// <summary>The convolution (and transposed convolution) bias gradient the engine uses.</summary>
    public static Conv2dBiasGradKernel FastConv2dBiasGrad { get; set; } = ConvBlocked.BiasGrad;

    /// <summary>Group/layer/RMS norm forward over rows (see <see cref="Norm"/>): double reference and vectorised, threaded rows.</summary>
    public static IReadOnlyList<Variant<RowNormForwardKernel>> RowNormForward =>
    [
        new("reference", Norm.RowForwardReference, IsReference: true),
        .. Isa.Variants<RowNormForwardKernel>("simd", NormSimd<Vec512>.RowForward, NormSimd<Vec256>.RowForward, NormSimd<VecT>.RowForward),
        .. Gpu(g => g.RowNormForward),
    ];

    public static IReadOnlyList<Variant<RowNormBackwardKernel>> RowNormBackward =>
    [
        new("reference", Norm.RowBackwardReference, IsReference: true),
        .. Isa.Variants<RowNormBackwardKernel>("simd", NormSimd<Vec512>.RowBackward, NormSimd<Vec256>.RowBackward, NormSimd<VecT>.RowBackward),
        .. Gpu(g => g.RowNormBackward),
    ];

    /// <summary>Row norm then SiLU (GroupNorm → SiLU of the UNet's blocks), CPU only: on a GPU the op composes the two.</summary>
    public static IReadOnlyList<Variant<RowNormForwardKernel>> RowNormSiluForward { get; } =
    [
        new("reference", Norm.RowForwardSiluReference, IsReference: true),
        .. Isa.Variants<RowNormForwardKernel>("simd", NormSimd<Vec512>.RowForwardSilu, NormSimd<Vec256>.RowForwardSilu, NormSimd<VecT>.RowForwardSilu),
    ];

    public static IReadOnlyList<Variant<RowNormSiluBackwardKernel>> RowNormSiluBackward { get; } =
    [
        new("reference", Norm.RowBackwardSiluReference, IsReference: true),
        .. Isa.Variants<RowNormSiluBackwardKernel>("simd", NormSimd<Vec512>.RowBackwardSilu, NormSimd<Vec256>.RowBackwardSilu, NormSimd<VecT>.RowBackwardSilu),
    ];

    public static IReadOnlyList<Variant<BatchNormStatsKernel>> BatchNormStats { get; } =
    [
        new("reference", Norm.BatchStatsReference, IsReference: true),
        .. Isa.Variants<BatchNormStatsKernel>("simd", NormSimd<Vec512>.BatchStats, NormSimd<Vec256>.BatchStats, NormSimd<VecT>.BatchStats),
    ];

    public static IReadOnlyList<Variant<BatchNormForwardKernel>> BatchNormForward { get; } =
    [
        new("reference", Norm.BatchForwardReference, IsReference: true),
        .. Isa.Variants<BatchNormForwardKernel>("simd", NormSimd<Vec512>.BatchForward, NormSimd<Vec256>.BatchForward, NormSimd<VecT>.BatchForward),
    ];

    public static IReadOnlyList<Variant<BatchNormBackwardKernel>> BatchNormBackward { get; } =
    [
        new("reference", Norm.BatchBackwardReference, IsReference: true),
        .. Isa.Variants<BatchNormBackwardKernel>("simd", NormSimd<Vec512>.BatchBackward, NormSimd<Vec256>.BatchBackward, NormSimd<VecT>.BatchBackward),
    ];

    /// <summary>The row-norm forward the engine uses (GroupNorm, LayerNorm, RmsNorm).</summary>
    public static RowNormForwardKernel FastRowNormForward { get; set; } =
        Isa.Pick<RowNormForwardKernel>(NormSimd<Vec512>.RowForward, NormSimd<Vec256>.RowForward, NormSimd<VecT>.RowForward);
    /// <summary>The row-norm backward the engine uses.</summary>
    public static RowNormBackwardKernel FastRowNormBackward { get; set; } =
        Isa.Pick<RowNormBackwardKernel>(NormSimd<Vec512>.RowBackward, NormSimd<Vec256>.RowBackward, NormSimd<VecT>.RowBackward);
    /// <summary>The row norm then SiLU the engine uses (GroupNormSilu).</summary>
    public static RowNormForwardKernel FastRowNormSiluForward { get; set; } =
        Isa.Pick<RowNormForwardKernel>(NormSimd<Vec512>.RowForwardSilu, NormSimd<Vec256>.RowForwardSilu, NormSimd<VecT>.RowForwardSilu);
    /// <summary>Its backward.</summary>
    public static RowNormSiluBackwardKernel FastRowNormSiluBackward { get; set; } =
        Isa.Pick<RowNormSiluBackwardKernel>(NormSimd<Vec512>.RowBackwardSilu, NormSimd<Vec256>.RowBackwardSilu, NormSimd<VecT>.RowBackwardSilu);
    /// <summary>The batch-norm statistics the engine uses in training mode.</summary>
    public static BatchNormStatsKernel FastBatchNormStats { get; set; } =
        Isa.Pick<BatchNormStatsKernel>(NormSimd<Vec512>.BatchStats, NormSimd<Vec256>.BatchStats, NormSimd<VecT>.BatchStats);
    /// <summary>The batch-norm forward the engine uses.</summary>
    public static BatchNormForwardKernel FastBatchNormForward { get; set; } =
        Isa.Pick<BatchNormForwardKernel>(NormSimd<Vec512>.BatchForward, NormSimd<Vec256>.BatchForward, NormSimd<VecT>.BatchForward);
    /// <summary>The batch-norm backward the engine uses.</summary>
    public static BatchNormBackwardKernel FastBatchNormBackward { get; set; } =
        Isa.Pick<BatchNormBackwardKernel>(NormSimd<Vec512>.BatchBackward, NormSimd<Vec256>.BatchBackward, NormSimd<VecT>.BatchBackward);

    /// <summary>Softmax along the middle axis of (outer, len, inner) (see <see cref="Cpu.Softmax"/>).</summary>
    public static IReadOnlyList<Variant<SoftmaxForwardKernel>> SoftmaxForward =>
    [
        new("reference", Cpu.Softmax.ForwardReference, IsReference: true),
        .. Isa.Variants<SoftmaxForwardKernel>("simd", SoftmaxSimd<Vec512>.Forward, SoftmaxSimd<Vec256>.Forward, SoftmaxSimd<VecT>.Forward),
        .. Gpu(g => g.SoftmaxForward),
    ];

    public static IReadOnlyList<Variant<SoftmaxBackwardKernel>> SoftmaxBackward =>
    [
        new("reference", Cpu.Softmax.BackwardReference, IsReference: true),
        .. Isa.Variants<SoftmaxBackwardKernel>("simd", SoftmaxSimd<Vec512>.Backward, SoftmaxSimd<Vec256>.Backward, SoftmaxSimd<VecT>.Backward),
        .. Gpu(g => g.SoftmaxBackward),
    ];

    public static IReadOnlyList<Variant<SoftmaxForwardKernel>> LogSoftmaxForward =>
    [
        new("reference", Cpu.Softmax.LogForwardReference, IsReference: true),
        .. Isa.Variants<SoftmaxForwardKernel>("simd", SoftmaxSimd<Vec512>.LogForward, SoftmaxSimd<Vec256>.LogForward, SoftmaxSimd<VecT>.LogForward),
        .. Gpu(g => g.LogSoftmaxForward),
    ];

    public static IReadOnlyList<Variant<SoftmaxBackwardKernel>> LogSoftmaxBackward =>
    [
        new("reference", Cpu.Softmax.LogBackwardReference, IsReference: true),
        .. Isa.Variants<SoftmaxBackwardKernel>("simd", SoftmaxSimd<Vec512>.LogBackward, SoftmaxSimd<Vec256>.LogBackward, SoftmaxSimd<VecT>.LogBackward),
        .. Gpu(g => g.LogSoftmaxBackward),
    ];

    /// <summary>The softmax forward the engine uses.</summary>
    public static SoftmaxForwardKernel FastSoftmaxForward { get; set; } =
        Isa.Pick<SoftmaxForwardKernel>(SoftmaxSimd<Vec512>.Forward, SoftmaxSimd<Vec256>.Forward, SoftmaxSimd<VecT>.Forward);
    /// <summary>The softmax backward the engine uses.</summary>
    public static SoftmaxBackwardKernel FastSoftmaxBackward { get; set; } =
        Isa.Pick<SoftmaxBackwardKernel>(SoftmaxSimd<Vec512>.Backward, SoftmaxSimd<Vec256>.Backward, SoftmaxSimd<VecT>.Backward);
    /// <summary>The log-softmax forward the engine uses.</summary>
    public static SoftmaxForwardKernel FastLogSoftmaxForward { get; set; } =
        Isa.Pick<SoftmaxForwardKernel>(SoftmaxSimd<Vec512>.LogForward, SoftmaxSimd<Vec256>.LogForward, SoftmaxSimd<VecT>.LogForward);
    /// <summary>The log-softmax backward the engine uses.</summary>
    public static SoftmaxBackwardKernel FastLogSoftmaxBackward { get; set; } =
        Isa.Pick<SoftmaxBackwardKernel>(SoftmaxSimd<Vec512>.LogBackward, SoftmaxSimd<Vec256>.LogBackward, SoftmaxSimd<VecT>.LogBackward);

    /// <summary>The fused AdamW update (see <see cref="Cpu.AdamW"/>): double reference and vectorised, threaded blocks.</summary>
    public static IReadOnlyList<Variant<AdamWKernel>> AdamW =>
    [
        new("reference", Cpu.AdamW.Reference, IsReference: true),
        .. Isa.Variants<AdamWKernel>("simd", Cpu.AdamW.Simd<Vec512>, Cpu.AdamW.Simd<Vec256>, Cpu.AdamW.Simd<VecT>),
        .. Gpu(g => g.AdamW),
    ];

    /// <summary>The AdamW update optimizers use.</summary>
    public static AdamWKernel FastAdamW { get; set; } =
        Isa.Pick<AdamWKernel>(Cpu.AdamW.Simd<Vec512>, Cpu.AdamW.Simd<Vec256>, Cpu.AdamW.Simd<VecT>);

    /// <summary>adaLN modulation y = x·(1 + scale) + shift over tokens (see <see cref="Modulation"/>).</summary>
    public static IReadOnlyList<Variant<ModulateKernel>> Modulate =>
    [
        new("reference", Modulation.ModulateReference, IsReference: true),
        .. Isa.Variants<ModulateKernel>("simd", Modulation.Modulate<Vec512>, Modulation.Modulate<Vec256>, Modulation.Modulate<VecT>),
    ];

    public static IReadOnlyList<Variant<ModulateBackwardKernel>> ModulateBackward =>
    [
        new("reference", Modulation.ModulateBackwardReference, IsReference: true),
        .. Isa.Variants<ModulateBackwardKernel>("simd", Modulation.ModulateBackward<Vec512>, Modulation.ModulateBackward<Vec256>, Modulation.ModulateBackward<VecT>),
    ];

    /// <summary>The gated residual y = x + gate·branch over tokens.</summary>
    public static IReadOnlyList<Variant<GatedAddKernel>> GatedAdd =>
    [
        new("reference", Modulation.GatedAddReference, IsReference: true),
        .. Isa.Variants<GatedAddKernel>("simd", Modulation.GatedAdd<Vec512>, Modulation.GatedAdd<Vec256>, Modulation.GatedAdd<VecT>),
    ];

    public static IReadOnlyList<Variant<GatedAddBackwardKernel>> GatedAddBackward =>
    [
        new("reference", Modulation.GatedAddBackwardReference, IsReference: true),
        .. Isa.Variants<GatedAddBackwardKernel>("simd", Modulation.GatedAddBackward<Vec512>, Modulation.GatedAddBackward<Vec256>, Modulation.GatedAddBackward<VecT>),
    ];

    /// <summary>The modulation kernels the engine uses.</summary>
    public static ModulateKernel FastModulate { get; set; } =
        Isa.Pick<ModulateKernel>(Modulation.Modulate<Vec512>, Modulation.Modulate<Vec256>, Modulation.Modulate<VecT>);
    public static ModulateBackwardKernel FastModulateBackward { get; set; } =
        Isa.Pick<ModulateBackwardKernel>(Modulation.ModulateBackward<Vec512>, Modulation.ModulateBackward<Vec256>, Modulation.ModulateBackward<VecT>);
    public static GatedAddKernel FastGatedAdd { get; set; } =
        Isa.Pick<GatedAddKernel>(Modulation.GatedAdd<Vec512>, Modulation.GatedAdd<Vec256>, Modulation.GatedAdd<VecT>);
    public static GatedAddBackwardKernel FastGatedAddBackward { get; set; } =
        Isa.Pick<GatedAddBackwardKernel>(Modulation.GatedAddBackward<Vec512>, Modulation.GatedAddBackward<Vec256>, Modulation.GatedAddBackward<VecT>);
}
