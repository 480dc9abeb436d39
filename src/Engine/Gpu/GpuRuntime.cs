using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Kernels.Gpu;

namespace Engine.Gpu;

/// <summary>A device the engine can use, as <c>engine info</c> lists it.</summary>
public sealed record DeviceInfo(Device Device, string Description, long MemoryBytes, int WarpSize, int MaxGroupSize);

/// <summary>
/// Finds ILGPU devices and opens them. One ILGPU context for the process, made on first use; each GPU
/// <see cref="Device"/> maps to one accelerator, opened once and kept (its kernels compile once, its buffers are pooled).
/// The CPU accelerator simulates a GPU with warps of 32 threads and groups of up to 256 on one multiprocessor, so
/// the kernels run as they are written for CUDA (the default ILGPU CPU kind allows only 16 threads a group).
/// </summary>
public static class GpuRuntime
{
    static readonly object Gate = new();
    static Context? context;
    static readonly Dictionary<Device, GpuDevice> Open = [];

    /// <summary>The process's ILGPU context: CUDA and OpenCL devices that meet ILGPU's needs, and the simulated CPU device.</summary>
    static Context Context
    {
        get
        {
            lock (Gate)
                return context ??= Context.Create(b => b.Cuda().OpenCL().CPU(new CPUDevice(32, GpuKernels.GroupSize / 32, 1)).EnableAlgorithms());
        }
    }

    /// <summary>Every GPU device found: CUDA ones, usable OpenCL ones, and the ILGPU CPU accelerator (last).</summary>
    public static IReadOnlyList<DeviceInfo> Devices()
    {
        var list = new List<DeviceInfo>();
        int cuda = 0, opencl = 0, cpu = 0;
        foreach (var d in Context.Devices)
        {
            var (name, index) = d.AcceleratorType switch
            {
                AcceleratorType.Cuda => ("cuda", cuda++),
                AcceleratorType.OpenCL => ("opencl", opencl++),
                _ => (Device.CpuAcceleratorName, cpu++),
            };
            list.Add(new DeviceInfo(new Device(DeviceKind.Gpu, index, name), d.Name, d.MemorySize, d.WarpSize, d.MaxNumThreadsPerGroup));
        }
        return list.OrderBy(i => i.Device.Name == Device.CpuAcceleratorName).ToList();
    }

    /// <summary>The device <paramref name="which"/> names ("auto", "cuda", "opencl:1", "cpu-accelerator"); see <see cref="Device.Gpu"/>.</summary>
    internal static Device Resolve(string which)
    {
        var spec = which.Trim().ToLowerInvariant();
        int index = 0;
        int colon = spec.IndexOf(':');
        if (colon >= 0)
        {
            if (!int.TryParse(spec[(colon + 1)..], out index) || index < 0)
                throw new ArgumentException($"Device.Gpu: '{which}' has no valid index after ':'");
            spec = spec[..colon];
        }
        if (spec is not ("auto" or "gpu" or "cuda" or "opencl" or Device.CpuAcceleratorName))
            throw new ArgumentException($"Device.Gpu: unknown device '{which}' (expected auto, cuda[:i], opencl[:i] or {Device.CpuAcceleratorName})");
        var found = Devices();
        var candidates = spec is "auto" or "gpu"
            ? found.Where(d => d.Device.Name != Device.CpuAcceleratorName).ToList()
            : found.Where(d => d.Device.Name == spec).ToList();
        if (spec is "auto" or "gpu") candidates = candidates.OrderBy(d => d.Device.Name == "cuda" ? 0 : 1).ToList();
        var match = spec is "auto" or "gpu" ? candidates.Skip(index).FirstOrDefault() : candidates.FirstOrDefault(d => d.Device.Index == index);
        if (match is null)
        {
            var have = found.Count == 0 ? "none" : string.Join(", ", found.Select(d => $"{d.Device} ({d.Description})"));
            throw new DeviceUnavailableException(
                $"no GPU device '{which}' on this machine (found: {have}); use the CPU, or name '{Device.CpuAcceleratorName}' to run the GPU kernels on ILGPU's CPU accelerator");
        }
        return match.Device;
    }

    /// <summary>The ILGPU accelerator behind a GPU device (opening it on first use).</summary>
    public static Accelerator Accelerator(Device device) => Get(device).Accelerator;

    /// <summary>Waits until every kernel queued on a GPU device has finished (for timing: launches return at once).</summary>
    public static void Synchronize(Device device) => Get(device).Accelerator.Synchronize();

    /// <summary>Bytes of device memory held by live tensors and by the pool's free lists of a GPU device.</summary>
    public static (long InUse, long Cached) Memory(Device device)
    {
        var pool = Get(device).Pool;
        return (pool.BytesInUse, pool.BytesCached);
    }

    /// <summary>The opened accelerator of a GPU device (opened on first use, then kept).</summary>
    internal static GpuDevice Get(Device device)
    {
        if (!device.IsGpu) throw new DeviceMismatchException($"{device} is not a GPU device");
        lock (Gate)
        {
            if (Open.TryGetValue(device, out var open)) return open;
            var ctx = Context;
            var kind = device.Name switch
            {
                "cuda" => AcceleratorType.Cuda,
                "opencl" => AcceleratorType.OpenCL,
                Device.CpuAcceleratorName => AcceleratorType.CPU,
                _ => throw new DeviceUnavailableException($"unknown GPU device kind '{device.Name}'"),
            };
            var matches = ctx.Devices.Where(d => d.AcceleratorType == kind).ToList();
            if (device.Index >= matches.Count)
                throw new DeviceUnavailableException($"no GPU device {device}: {matches.Count} of kind {device.Name} found");
            var accelerator = kind == AcceleratorType.CPU
                ? ((CPUDevice)matches[device.Index]).CreateCPUAccelerator(ctx, CPUAcceleratorMode.Parallel)
                : matches[device.Index].CreateAccelerator(ctx);
            var opened = new GpuDevice(device, accelerator);
            Open[device] = opened;
            // A real GPU joins the kernel registry; the CPU accelerator only when asked (engine kernels --device).
            if (kind != AcceleratorType.CPU) GpuVariants.Registered ??= new GpuVariants(accelerator);
            return opened;
        }
    }
}

/// <summary>An opened GPU device: its accelerator, its compiled kernels and its buffer pool.</summary>
internal sealed class GpuDevice(Device device, Accelerator accelerator)
{
    public Device Device { get; } = device;
    public Accelerator Accelerator { get; } = accelerator;
    public GpuKernels Kernels { get; } = GpuKernels.For(accelerator);
    public BufferPool Pool { get; } = new(device, accelerator);

    /// <summary>The primitives on this device.</summary>
    public Backends.IlgpuBackend Backend => backend ??= new Backends.IlgpuBackend(this);
    Backends.IlgpuBackend? backend;
}
