using Kernels.Gpu;

namespace Kernels.Cpu;

/// <summary>
/// The kernel table: one <see cref="KernelFamily{TKernel}"/> per kernel — its reference, its variants, its default and
/// the rule that picks the variant for a geometry — and nothing else decides what runs. Tests check each variant against
/// the reference, <c>engine kernels</c> and the benchmarks race them on the same declared cases
/// (<see cref="KernelCases"/>), and the engine calls each family's <c>Fast</c> kernel (the <c>FastXxx</c> properties
/// below): the current <see cref="KernelContext"/>'s choice, else the rule's. SIMD kernels come in one variant per
/// vector width accelerated on this machine (<c>-avx512</c>, <c>-avx2</c>, and the portable <c>-vector</c>, see
/// <see cref="Isa"/>); the rule prefers the widest.
/// <para>
/// The <c>FastXxx</c> setters set the choice of the process-wide <see cref="KernelContext.Default"/>; a per-caller choice
/// is <c>new KernelContext().Use(KernelRegistry.Gemm, "simd-4x64")</c> entered with <c>using (ctx.Enter())</c>.
/// </para>
/// </summary>
public static class KernelRegistry
{
    /// <summary>The three width names of a SIMD kernel, widest first: the rule's preference among them.</summary>
    static string[] Widths(string prefix) => [$"{prefix}-{Vec512.Name}", $"{prefix}-{Vec256.Name}", $"{prefix}-{VecT.Name}"];

    /// <summary>The blocked convolution calls the AVX-512 micro-kernel directly: listed only where AVX-512 runs.</summary>
    static IEnumerable<Variant<T>> Avx512Only<T>(string name, T kernel) where T : Delegate =>
        ConvBlocked.Supported ? [new Variant<T>(name, kernel)] : [];

    /// <summary>Every family of the table, for listings.</summary>
    public static IReadOnlyList<KernelFamily> All =>
    [
        Gemm, Conv2dForward, Conv2dInputGrad, Conv2dWeightGrad, Conv2dBiasGrad, AttentionForward, AttentionBackward,
        RowNormForward, RowNormBackward, RowNormSiluForward, RowNormSiluBackward, BatchNormStats, BatchNormForward, BatchNormBackward,
        SoftmaxForward, SoftmaxBackward, LogSoftmaxForward, LogSoftmaxBackward, AdamW, Modulate, ModulateBackward, GatedAdd, GatedAddBackward,
    ];

    // ---- GEMM ----

    /// <summary>
    /// SGEMM, C = α·op(A)·op(B) + β·C. Rule: the blocked GEMM at the widest width accelerated here (blocked-avx512 is
    /// faster than simd-4x64 at every shape measured).
    /// </summary>
    public static KernelFamily<GemmKernel> Gemm { get; } = new("gemm",
        [
            new("reference", Cpu.Gemm.Reference, IsReference: true),
            new("simd-4x64", Cpu.Gemm.Simd),
            .. Isa.Variants<GemmKernel>("blocked", GemmBlocked.Run, GemmBlocked.RunAvx2, GemmBlocked.RunVector),
        ], Widths("blocked"), g => g.Gemm);

    /// <summary>The GEMM the engine uses (see <see cref="Gemm"/>).</summary>
    public static GemmKernel FastGemm { get => Gemm.Fast; set => KernelContext.Default.Use(Gemm, value); }

    // ---- Convolution ----

    static readonly string[] ConvPreference = ["winograd4-avx512", "winograd-avx512", "blocked-avx512", "im2col"];

    /// <summary>
    /// 2-D convolution forward (NCHW, PyTorch weight layout): direct reference, whole-image im2col + GEMM, blocked im2col
    /// on the GEMM micro-kernel (<see cref="ConvBlocked"/>), Winograd F(2×2, 3×3) (<see cref="ConvWinograd"/>) and
    /// F(4×4, 3×3) (<see cref="ConvWinograd4"/>). Rule, with AVX-512: F(4×4) for 3×3 stride-1 convolutions of at least 8
    /// channels each way whose output rows are 17 to 28 wide, F(2×2) for the other 3×3 stride-1 ones of at least 8
    /// channels, blocked for the rest; without AVX-512, im2col.
    /// </summary>
    public static KernelFamily<Conv2dForwardKernel, Conv2dGeometry> Conv2dForward { get; } = new("conv2d-forward",
        [
            new("reference", ConvReference.Forward, IsReference: true),
            new("im2col", ConvIm2col.Forward),
            .. Avx512Only<Conv2dForwardKernel>("blocked-avx512", ConvBlocked.Forward),
            .. Avx512Only<Conv2dForwardKernel>("winograd-avx512", ConvWinograd.Forward),
            .. Avx512Only<Conv2dForwardKernel>("winograd4-avx512", ConvWinograd4.Forward),
        ], ConvPreference,
        new Dictionary<string, Func<Conv2dGeometry, bool>> { ["winograd-avx512"] = g => ConvWinograd.Applies(g), ["winograd4-avx512"] = g => ConvWinograd4.Applies(g) },
        choose => (in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y) => choose(g)(g, x, w, bias, y),
        g => g.Conv2dForward);

    /// <summary>
    /// The convolution input gradient. Rule as the forward's, on the forward convolution that computes it for stride 1
    /// (dy with the flipped weights, padding K − 1 − pad: Winograd only while that padding is not negative); blocked for
    /// strides above 1; without AVX-512, im2col.
    /// </summary>
    public static KernelFamily<Conv2dInputGradKernel, Conv2dGeometry> Conv2dInputGrad { get; } = new("conv2d-input-grad",
        [
            new("reference", ConvReference.InputGrad, IsReference: true),
            new("im2col", ConvIm2col.InputGrad),
            .. Avx512Only<Conv2dInputGradKernel>("blocked-avx512", ConvBlocked.InputGrad),
            .. Avx512Only<Conv2dInputGradKernel>("winograd-avx512", ConvWinograd.InputGrad),
            .. Avx512Only<Conv2dInputGradKernel>("winograd4-avx512", ConvWinograd4.InputGrad),
        ], ConvPreference,
        new Dictionary<string, Func<Conv2dGeometry, bool>> { ["winograd-avx512"] = g => ConvWinograd.AppliesToInputGrad(g), ["winograd4-avx512"] = g => ConvWinograd4.AppliesToInputGrad(g) },
        choose => (in Conv2dGeometry g, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx) => choose(g)(g, dy, w, dx),
        g => g.Conv2dInputGrad);

    /// <summary>The convolution weight gradient. Rule as the forward's.</summary>
    public static KernelFamily<Conv2dWeightGradKernel, Conv2dGeometry> Conv2dWeightGrad { get; } = new("conv2d-weight-grad",
        [
            new("reference", ConvReference.WeightGrad, IsReference: true),
            new("im2col", ConvIm2col.WeightGrad),
            .. Avx512Only<Conv2dWeightGradKernel>("blocked-avx512", ConvBlocked.WeightGrad),
            .. Avx512Only<Conv2dWeightGradKernel>("winograd-avx512", ConvWinograd.WeightGrad),
            .. Avx512Only<Conv2dWeightGradKernel>("winograd4-avx512", ConvWinograd4.WeightGrad),
        ], ConvPreference,
        new Dictionary<string, Func<Conv2dGeometry, bool>> { ["winograd-avx512"] = g => ConvWinograd.Applies(g), ["winograd4-avx512"] = g => ConvWinograd4.Applies(g) },
        choose => (in Conv2dGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw) => choose(g)(g, x, dy, dw),
        g => g.Conv2dWeightGrad);

    /// <summary>The convolution (and transposed convolution) bias gradient.</summary>
    public static KernelFamily<Conv2dBiasGradKernel> Conv2dBiasGrad { get; } = new("conv2d-bias-grad",
        [new("reference", ConvReference.BiasGrad, IsReference: true), new("simd", ConvBlocked.BiasGrad)], ["simd"]);

    /// <summary>The convolution forward the engine uses (also the input gradient of ConvTranspose2d): the rule per geometry.</summary>
    public static Conv2dForwardKernel FastConv2dForward { get => Conv2dForward.Fast; set => KernelContext.Default.Use(Conv2dForward, value); }
    /// <summary>The convolution input gradient the engine uses (also the forward of ConvTranspose2d).</summary>
    public static Conv2dInputGradKernel FastConv2dInputGrad { get => Conv2dInputGrad.Fast; set => KernelContext.Default.Use(Conv2dInputGrad, value); }
    /// <summary>The convolution weight gradient the engine uses.</summary>
    public static Conv2dWeightGradKernel FastConv2dWeightGrad { get => Conv2dWeightGrad.Fast; set => KernelContext.Default.Use(Conv2dWeightGrad, value); }
    /// <summary>The convolution (and transposed convolution) bias gradient the engine uses.</summary>
    public static Conv2dBiasGradKernel FastConv2dBiasGrad { get => Conv2dBiasGrad.Fast; set => KernelContext.Default.Use(Conv2dBiasGrad, value); }

    // ---- Attention ----

    /// <summary>
    /// Scaled dot-product attention forward. Rule: the widest blocked variant accelerated here (R query rows per register
    /// tile; on the W3 shape several times as fast as flash, which loads a key or value vector for every FMA).
    /// </summary>
    public static KernelFamily<AttentionForwardKernel> AttentionForward { get; } = new("attention-forward",
        [
            new("reference", Attention.ForwardReference, IsReference: true),
            .. Isa.Variants<AttentionForwardKernel>("flash", Attention.Forward<Vec512>, Attention.Forward<Vec256>, Attention.Forward<VecT>),
            .. Isa.Variants<AttentionForwardKernel>("blocked", Attention.ForwardBlocked<Vec512>, Attention.ForwardBlocked<Vec256>, Attention.ForwardBlocked<VecT>),
        ], Widths("blocked"), g => g.AttentionForward);

    /// <summary>Attention backward. Rule: blocked, as the forward.</summary>
    public static KernelFamily<AttentionBackwardKernel> AttentionBackward { get; } = new("attention-backward",
        [
            new("reference", Attention.BackwardReference, IsReference: true),
            .. Isa.Variants<AttentionBackwardKernel>("flash", Attention.Backward<Vec512>, Attention.Backward<Vec256>, Attention.Backward<VecT>),
            .. Isa.Variants<AttentionBackwardKernel>("blocked", Attention.BackwardBlocked<Vec512>, Attention.BackwardBlocked<Vec256>, Attention.BackwardBlocked<VecT>),
        ], Widths("blocked"), g => g.AttentionBackward);

    /// <summary>The attention forward the engine uses.</summary>
    public static AttentionForwardKernel FastAttentionForward { get => AttentionForward.Fast; set => KernelContext.Default.Use(AttentionForward, value); }
    /// <summary>The attention backward the engine uses.</summary>
    public static AttentionBackwardKernel FastAttentionBackward { get => AttentionBackward.Fast; set => KernelContext.Default.Use(AttentionBackward, value); }

    // ---- Norms ----

    /// <summary>Group/layer/RMS norm forward over rows (see <see cref="Norm"/>): double reference and vectorised, threaded rows.</summary>
    public static KernelFamily<RowNormForwardKernel> RowNormForward { get; } = new("row-norm-forward",
        [
            new("reference", Norm.RowForwardReference, IsReference: true),
            .. Isa.Variants<RowNormForwardKernel>("simd", NormSimd<Vec512>.RowForward, NormSimd<Vec256>.RowForward, NormSimd<VecT>.RowForward),
        ], Widths("simd"), g => g.RowNormForward);

    public static KernelFamily<RowNormBackwardKernel> RowNormBackward { get; } = new("row-norm-backward",
        [
            new("reference", Norm.RowBackwardReference, IsReference: true),
            .. Isa.Variants<RowNormBackwardKernel>("simd", NormSimd<Vec512>.RowBackward, NormSimd<Vec256>.RowBackward, NormSimd<VecT>.RowBackward),
        ], Widths("simd"), g => g.RowNormBackward);

    /// <summary>Row norm then SiLU (GroupNorm → SiLU of the UNet's blocks), CPU only: on a GPU the op composes the two.</summary>
    public static KernelFamily<RowNormForwardKernel> RowNormSiluForward { get; } = new("row-norm-silu-forward",
        [
            new("reference", Norm.RowForwardSiluReference, IsReference: true),
            .. Isa.Variants<RowNormForwardKernel>("simd", NormSimd<Vec512>.RowForwardSilu, NormSimd<Vec256>.RowForwardSilu, NormSimd<VecT>.RowForwardSilu),
        ], Widths("simd"));

    public static KernelFamily<RowNormSiluBackwardKernel> RowNormSiluBackward { get; } = new("row-norm-silu-backward",
        [
            new("reference", Norm.RowBackwardSiluReference, IsReference: true),
            .. Isa.Variants<RowNormSiluBackwardKernel>("simd", NormSimd<Vec512>.RowBackwardSilu, NormSimd<Vec256>.RowBackwardSilu, NormSimd<VecT>.RowBackwardSilu),
        ], Widths("simd"));

    public static KernelFamily<BatchNormStatsKernel> BatchNormStats { get; } = new("batch-norm-stats",
        [
            new("reference", Norm.BatchStatsReference, IsReference: true),
            .. Isa.Variants<BatchNormStatsKernel>("simd", NormSimd<Vec512>.BatchStats, NormSimd<Vec256>.BatchStats, NormSimd<VecT>.BatchStats),
        ], Widths("simd"));

    public static KernelFamily<BatchNormForwardKernel> BatchNormForward { get; } = new("batch-norm-forward",
        [
            new("reference", Norm.BatchForwardReference, IsReference: true),
            .. Isa.Variants<BatchNormForwardKernel>("simd", NormSimd<Vec512>.BatchForward, NormSimd<Vec256>.BatchForward, NormSimd<VecT>.BatchForward),
        ], Widths("simd"));

    public static KernelFamily<BatchNormBackwardKernel> BatchNormBackward { get; } = new("batch-norm-backward",
        [
            new("reference", Norm.BatchBackwardReference, IsReference: true),
            .. Isa.Variants<BatchNormBackwardKernel>("simd", NormSimd<Vec512>.BatchBackward, NormSimd<Vec256>.BatchBackward, NormSimd<VecT>.BatchBackward),
        ], Widths("simd"));

    /// <summary>The row-norm forward the engine uses (GroupNorm, LayerNorm, RmsNorm).</summary>
    public static RowNormForwardKernel FastRowNormForward { get => RowNormForward.Fast; set => KernelContext.Default.Use(RowNormForward, value); }
    /// <summary>The row-norm backward the engine uses.</summary>
    public static RowNormBackwardKernel FastRowNormBackward { get => RowNormBackward.Fast; set => KernelContext.Default.Use(RowNormBackward, value); }
    /// <summary>The row norm then SiLU the engine uses (GroupNormSilu).</summary>
    public static RowNormForwardKernel FastRowNormSiluForward { get => RowNormSiluForward.Fast; set => KernelContext.Default.Use(RowNormSiluForward, value); }
    /// <summary>Its backward.</summary>
    public static RowNormSiluBackwardKernel FastRowNormSiluBackward { get => RowNormSiluBackward.Fast; set => KernelContext.Default.Use(RowNormSiluBackward, value); }
    /// <summary>The batch-norm statistics the engine uses in training mode.</summary>
    public static BatchNormStatsKernel FastBatchNormStats { get => BatchNormStats.Fast; set => KernelContext.Default.Use(BatchNormStats, value); }
    /// <summary>The batch-norm forward the engine uses.</summary>
    public static BatchNormForwardKernel FastBatchNormForward { get => BatchNormForward.Fast; set => KernelContext.Default.Use(BatchNormForward, value); }
    /// <summary>The batch-norm backward the engine uses.</summary>
    public static BatchNormBackwardKernel FastBatchNormBackward { get => BatchNormBackward.Fast; set => KernelContext.Default.Use(BatchNormBackward, value); }

    // ---- Softmax ----

    /// <summary>Softmax along the middle axis of (outer, len, inner) (see <see cref="Cpu.Softmax"/>).</summary>
    public static KernelFamily<SoftmaxForwardKernel> SoftmaxForward { get; } = new("softmax-forward",
        [
            new("reference", Cpu.Softmax.ForwardReference, IsReference: true),
            .. Isa.Variants<SoftmaxForwardKernel>("simd", SoftmaxSimd<Vec512>.Forward, SoftmaxSimd<Vec256>.Forward, SoftmaxSimd<VecT>.Forward),
        ], Widths("simd"), g => g.SoftmaxForward);

    public static KernelFamily<SoftmaxBackwardKernel> SoftmaxBackward { get; } = new("softmax-backward",
        [
            new("reference", Cpu.Softmax.BackwardReference, IsReference: true),
            .. Isa.Variants<SoftmaxBackwardKernel>("simd", SoftmaxSimd<Vec512>.Backward, SoftmaxSimd<Vec256>.Backward, SoftmaxSimd<VecT>.Backward),
        ], Widths("simd"), g => g.SoftmaxBackward);

    public static KernelFamily<SoftmaxForwardKernel> LogSoftmaxForward { get; } = new("log-softmax-forward",
        [
            new("reference", Cpu.Softmax.LogForwardReference, IsReference: true),
            .. Isa.Variants<SoftmaxForwardKernel>("simd", SoftmaxSimd<Vec512>.LogForward, SoftmaxSimd<Vec256>.LogForward, SoftmaxSimd<VecT>.LogForward),
        ], Widths("simd"), g => g.LogSoftmaxForward);

    public static KernelFamily<SoftmaxBackwardKernel> LogSoftmaxBackward { get; } = new("log-softmax-backward",
        [
            new("reference", Cpu.Softmax.LogBackwardReference, IsReference: true),
            .. Isa.Variants<SoftmaxBackwardKernel>("simd", SoftmaxSimd<Vec512>.LogBackward, SoftmaxSimd<Vec256>.LogBackward, SoftmaxSimd<VecT>.LogBackward),
        ], Widths("simd"), g => g.LogSoftmaxBackward);

    /// <summary>The softmax forward the engine uses.</summary>
    public static SoftmaxForwardKernel FastSoftmaxForward { get => SoftmaxForward.Fast; set => KernelContext.Default.Use(SoftmaxForward, value); }
    /// <summary>The softmax backward the engine uses.</summary>
    public static SoftmaxBackwardKernel FastSoftmaxBackward { get => SoftmaxBackward.Fast; set => KernelContext.Default.Use(SoftmaxBackward, value); }
    /// <summary>The log-softmax forward the engine uses.</summary>
    public static SoftmaxForwardKernel FastLogSoftmaxForward { get => LogSoftmaxForward.Fast; set => KernelContext.Default.Use(LogSoftmaxForward, value); }
    /// <summary>The log-softmax backward the engine uses.</summary>
    public static SoftmaxBackwardKernel FastLogSoftmaxBackward { get => LogSoftmaxBackward.Fast; set => KernelContext.Default.Use(LogSoftmaxBackward, value); }

    // ---- AdamW ----

    /// <summary>The fused AdamW update (see <see cref="Cpu.AdamW"/>): double reference and vectorised, threaded blocks.</summary>
    public static KernelFamily<AdamWKernel> AdamW { get; } = new("adamw",
        [
            new("reference", Cpu.AdamW.Reference, IsReference: true),
            .. Isa.Variants<AdamWKernel>("simd", Cpu.AdamW.Simd<Vec512>, Cpu.AdamW.Simd<Vec256>, Cpu.AdamW.Simd<VecT>),
        ], Widths("simd"), g => g.AdamW);

    /// <summary>The AdamW update the CPU optimizers (Adam, AdamW) use.</summary>
    public static AdamWKernel FastAdamW { get => AdamW.Fast; set => KernelContext.Default.Use(AdamW, value); }

    // ---- Modulation ----

    /// <summary>adaLN modulation y = x·(1 + scale) + shift over tokens (see <see cref="Modulation"/>).</summary>
    public static KernelFamily<ModulateKernel> Modulate { get; } = new("modulate",
        [
            new("reference", Modulation.ModulateReference, IsReference: true),
            .. Isa.Variants<ModulateKernel>("simd", Modulation.Modulate<Vec512>, Modulation.Modulate<Vec256>, Modulation.Modulate<VecT>),
        ], Widths("simd"));

    public static KernelFamily<ModulateBackwardKernel> ModulateBackward { get; } = new("modulate-backward",
        [
            new("reference", Modulation.ModulateBackwardReference, IsReference: true),
            .. Isa.Variants<ModulateBackwardKernel>("simd", Modulation.ModulateBackward<Vec512>, Modulation.ModulateBackward<Vec256>, Modulation.ModulateBackward<VecT>),
        ], Widths("simd"));

    /// <summary>The gated residual y = x + gate·branch over tokens.</summary>
    public static KernelFamily<GatedAddKernel> GatedAdd { get; } = new("gated-add",
        [
            new("reference", Modulation.GatedAddReference, IsReference: true),
            .. Isa.Variants<GatedAddKernel>("simd", Modulation.GatedAdd<Vec512>, Modulation.GatedAdd<Vec256>, Modulation.GatedAdd<VecT>),
        ], Widths("simd"));

    public static KernelFamily<GatedAddBackwardKernel> GatedAddBackward { get; } = new("gated-add-backward",
        [
            new("reference", Modulation.GatedAddBackwardReference, IsReference: true),
            .. Isa.Variants<GatedAddBackwardKernel>("simd", Modulation.GatedAddBackward<Vec512>, Modulation.GatedAddBackward<Vec256>, Modulation.GatedAddBackward<VecT>),
        ], Widths("simd"));

    /// <summary>The modulation kernels the engine uses.</summary>
    public static ModulateKernel FastModulate { get => Modulate.Fast; set => KernelContext.Default.Use(Modulate, value); }
    public static ModulateBackwardKernel FastModulateBackward { get => ModulateBackward.Fast; set => KernelContext.Default.Use(ModulateBackward, value); }
    public static GatedAddKernel FastGatedAdd { get => GatedAdd.Fast; set => KernelContext.Default.Use(GatedAdd, value); }
    public static GatedAddBackwardKernel FastGatedAddBackward { get => GatedAddBackward.Fast; set => KernelContext.Default.Use(GatedAddBackward, value); }
}
