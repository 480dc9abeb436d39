using Engine.Autograd;

namespace Engine.Tests;

/// <summary>Runs a forward pass in a step scope from an empty <see cref="HostPool"/>, and counts the fresh arrays it asked for.</summary>
static class FreshArrays
{
    public static (float[] Output, long Fresh) Pass(Func<Tensor> forward, bool recordGraph, MemoryPlan? plan = null)
    {
        HostPool.Clear();
        using var scope = plan is null ? new DeviceScope() : new DeviceScope(plan);
        using var noGrad = recordGraph ? null : GradMode.NoGrad();
        long misses = HostPool.Misses;
        var output = forward().ToArray();
        return (output, HostPool.Misses - misses);
    }

    /// <summary>A pass without a graph replayed by a <see cref="MemoryPlan"/> (recorded by one pass first), so each intermediate is freed after its last use.</summary>
    public static (float[] Output, long Fresh) Planned(Func<Tensor> forward)
    {
        var plan = new MemoryPlan();
        Pass(forward, recordGraph: false, plan);
        var result = Pass(forward, recordGraph: false, plan);
        if (plan.Replays != 1) throw new InvalidOperationException($"the plan was not replayed ({plan.Recordings} recordings, {plan.Replays} replays)");
        return result;
    }
}
