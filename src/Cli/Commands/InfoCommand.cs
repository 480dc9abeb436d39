using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine;
using Engine.Gpu;
using Spectre.Console;

namespace Cli.Commands;

/// <summary><c>engine info [--device D]</c>: what the engine sees on this machine: CPU features, GPU devices, and the device in use.</summary>
public static class InfoCommand
{
    public static int Run(Args args)
    {
        var device = DeviceOption.Read(args);
        args.RejectUnknown();
        var table = new Table().AddColumns("property", "value");
        table.AddRow("device in use", device.ToString());
        table.AddRow("logical cores", Environment.ProcessorCount.ToString());
        table.AddRow("Vector512 accelerated", Vector512.IsHardwareAccelerated.ToString());
        table.AddRow("AVX-512F / BW / VL", $"{Avx512F.IsSupported} / {Avx512BW.IsSupported} / {Avx512F.VL.IsSupported}");
        table.AddRow("AVX2 / FMA", $"{Avx2.IsSupported} / {Fma.IsSupported}");
        table.AddRow("GEMM in use", Kernels.Cpu.KernelRegistry.Gemm.First(v => v.Run == Kernels.Cpu.KernelRegistry.FastGemm).Name);
        table.AddRow("runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
        var gpus = GpuRuntime.Devices();
        foreach (var d in gpus)
            table.AddRow($"GPU device {d.Device}", $"{d.Description}; warp {d.WarpSize}, groups ≤ {d.MaxGroupSize}" +
                (d.Device.Name == Device.CpuAcceleratorName ? " (simulated on the host; used only when named)" : $", {d.MemoryBytes / (1 << 20):N0} MiB"));
        if (!gpus.Any(d => d.Device.Name != Device.CpuAcceleratorName))
            table.AddRow("GPU devices", "no CUDA or usable OpenCL device found");
        AnsiConsole.Write(table);
        AnsiConsole.Write(PrimitivesTable(device));
        return 0;
    }

    /// <summary>Which backend primitives each device implements: the CPU's, and the device in use when it is another.</summary>
    static Table PrimitivesTable(Device device)
    {
        var backends = new List<Engine.Backends.IBackend> { Device.Cpu.Backend };
        if (device != Device.Cpu) backends.Add(device.Backend);
        var table = new Table().AddColumn("primitive");
        foreach (var b in backends) table.AddColumn(b.Device.ToString());
        foreach (var p in Enum.GetValues<Engine.Backends.Primitive>())
            table.AddRow([p.ToString(), .. backends.Select(b => b.Primitives[p] ? "yes" : "[red]no[/]")]);
        return table;
    }
}
