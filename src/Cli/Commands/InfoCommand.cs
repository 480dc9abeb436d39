using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine;
using Spectre.Console;

namespace Cli.Commands;

/// <summary><c>engine info</c>: what the engine sees on this machine.</summary>
public static class InfoCommand
{
    public static int Run(Args args)
    {
        args.RejectUnknown();
        var table = new Table().AddColumns("property", "value");
        table.AddRow("device in use", Device.Cpu.ToString());
        table.AddRow("logical cores", Environment.ProcessorCount.ToString());
        table.AddRow("Vector512 accelerated", Vector512.IsHardwareAccelerated.ToString());
        table.AddRow("AVX-512F / BW / VL", $"{Avx512F.IsSupported} / {Avx512BW.IsSupported} / {Avx512F.VL.IsSupported}");
        table.AddRow("AVX2 / FMA", $"{Avx2.IsSupported} / {Fma.IsSupported}");
        table.AddRow("GEMM in use", Kernels.Cpu.KernelRegistry.Gemm.First(v => v.Run == Kernels.Cpu.KernelRegistry.FastGemm).Name);
        table.AddRow("runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
        table.AddRow("GPU devices", "none (the GPU backend is not built yet)");
        AnsiConsole.Write(table);
        return 0;
    }
}
