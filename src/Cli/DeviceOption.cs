using Engine;
using Engine.Gpu;
using Kernels.Gpu;

namespace Cli;

/// <summary>
/// The <c>--device</c> option (default: the <c>ENGINE_DEVICE</c> environment variable, else <c>cpu</c>): <c>cpu</c>,
/// <c>gpu</c>, <c>cuda[:i]</c>, <c>opencl[:i]</c> or <c>cpu-accelerator</c>. Choosing a GPU opens it and lists its
/// kernels in the registry, so <c>engine kernels</c> and <c>engine bench</c> race the GPU variants beside the CPU ones.
/// </summary>
public static class DeviceOption
{
    public static Device Read(Args args)
    {
        var name = args.String("device") ?? Environment.GetEnvironmentVariable("ENGINE_DEVICE") ?? "cpu";
        Device device;
        try { device = Device.Parse(name); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        if (device.IsGpu) GpuVariants.Registered = new GpuVariants(GpuRuntime.Accelerator(device));
        return device;
    }
}
