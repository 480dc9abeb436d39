using Engine;
using Engine.Autograd;
using Engine.Random;
using Kernels.Cpu;

namespace Cli.Workloads;

/// <summary>W4: Conv2d 3×3, 64→64 channels, input 64×64×28×28, stride 1, padding 1, with bias; forward and forward+backward.</summary>
public static class W4Conv
{
    public const int N = 64, C = 64, H = 28, K = 64;
    public const double ForwardFlops = 2.0 * N * K * H * H * C * 9;

    public static IReadOnlyList<BenchCase> Cases()
    {
        var g = new Generator(4);
        var x = Tensor.Randn([N, C, H, H], g).RequireGrad();
        var w = (Tensor.Randn([K, C, 3, 3], g) * 0.05f).Detach().RequireGrad();
        var b = Tensor.Zeros([K]).RequireGrad();
        var dy = Tensor.Randn([N, K, H, H], g);
        // The variant the engine runs: the registry entry behind its fast forward kernel.
        string variant = KernelRegistry.Conv2dForward.FirstOrDefault(v => v.Run == KernelRegistry.FastConv2dForward)?.Name ?? "custom";
        return
        [
            new("W4", "forward", variant, () => { using var _ = GradMode.NoGrad(); Tensor.Conv2d(x, w, b, padding: 1); }, ForwardFlops),
            new("W4", "forward+backward", variant, () =>
            {
                x.Grad = w.Grad = b.Grad = null;
                Tensor.Conv2d(x, w, b, padding: 1).Backward(dy);
            }, 3 * ForwardFlops),
        ];
    }
}
