using Engine;
using Engine.Autograd;
using Engine.Random;

namespace Cli.Workloads;

/// <summary>W3: softmax(Q·Kᵀ/√64)·V with Q, K, V of shape 64×4×196×64, forward and forward+backward, each call in a <see cref="DeviceScope"/> as a step would be.</summary>
public static class W3Attention
{
    public const int B = 64, H = 4, T = 196, D = 64;
    public const double ForwardFlops = 4.0 * B * H * T * T * D;

    public static IReadOnlyList<BenchCase> Cases()
    {
        var g = new Generator(3);
        var q = Tensor.Randn([B, H, T, D], g).RequireGrad();
        var k = Tensor.Randn([B, H, T, D], g).RequireGrad();
        var v = Tensor.Randn([B, H, T, D], g).RequireGrad();
        var w = Tensor.Randn([B, H, T, D], g);
        return
        [
            new("W3", "forward", "fused", () => { using var _ = GradMode.NoGrad(); using var scope = new DeviceScope(); Tensor.Attention(q, k, v); }, ForwardFlops),
            new("W3", "forward+backward", "fused", () =>
            {
                using var scope = new DeviceScope();                              // as a training step does: the arrays are recycled
                q.Grad = k.Grad = v.Grad = null;
                Tensor.Attention(q, k, v).Backward(w);
            }, 3 * ForwardFlops),
            new("W3", "forward", "composed", () => { using var _ = GradMode.NoGrad(); using var scope = new DeviceScope(); Tensor.AttentionComposed(q, k, v); }, ForwardFlops),
            new("W3", "forward+backward", "composed", () =>
            {
                using var scope = new DeviceScope();
                q.Grad = k.Grad = v.Grad = null;
                Tensor.AttentionComposed(q, k, v).Backward(w);
            }, 3 * ForwardFlops),
        ];
    }
}
