using Engine.Autograd;

namespace Engine.Tests;

/// <summary>Runs a forward pass in a step scope from an empty <see cref="HostPool"/>, and counts the fresh arrays it asked for.</summary>
static class FreshArrays
{
    public static (float[] Output, long Fresh) Pass(Func<Tensor> forward, bool recordGraph)
    {
        HostPool.Clear();
        using var scope = new DeviceScope();
        using var noGrad = recordGraph ? null : GradMode.NoGrad();
        long misses = HostPool.Misses;
        var output = forward().ToArray();
        return (output, HostPool.Misses - misses);
    }
}
