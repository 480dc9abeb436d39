"""Peer timing for the GEMM benchmark: torch.mm (float32, CPU) on the GEMM shapes of the kernel race
(src/Kernels/Registry/KernelCases.cs, raced by `engine kernels gemm` and bench/KernelBench.cs), and sq64.

Run:  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peers/torch_gemm.py [threads ...]
Prints best-of-N milliseconds and GFLOP/s per shape, for each thread count (default: 1 and 2),
best of N as the engine's quick GEMM timing used to be, to compare with `engine kernels gemm` line by line.
Each thread count runs in its own process: OpenBLAS reads OPENBLAS_NUM_THREADS once, when it loads, and
torch.set_num_threads alone does not bound it.
"""
import os
import subprocess
import sys
import time

SHAPES = {
    "sq64": (64, 64, 64),
    "sq256": (256, 256, 256),
    "sq512": (512, 512, 512),
    "sq1024": (1024, 1024, 1024),
    "sq2048": (2048, 2048, 2048),
    "conv-64x3136x576": (64, 3136, 576),
    "conv-3136x64x576": (3136, 64, 576),
    "conv-25088x32x9": (25088, 32, 9),
}


def time_mm(m, n, k, repeats=7, budget_s=0.3):
    """Best-of-N milliseconds of C = A @ B into a preallocated C, after one warm-up call."""
    import torch

    g = torch.Generator().manual_seed(1)
    a = torch.rand(m, k, generator=g) - 0.5
    b = torch.rand(k, n, generator=g) - 0.5
    c = torch.empty(m, n)
    torch.mm(a, b, out=c)
    best, start, r = float("inf"), time.perf_counter(), 0
    while r < repeats or (time.perf_counter() - start < budget_s and r < 100 * repeats):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
        r += 1
    return best * 1e3


def run(threads):
    import torch

    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, threads={threads}", flush=True)
    for name, (m, n, k) in SHAPES.items():
        ms = time_mm(m, n, k)
        print(f"threads={threads} {name:18s} {ms:9.3f} ms {2 * m * n * k / ms / 1e6:8.1f} GFLOP/s", flush=True)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        run(int(sys.argv[2]))
        return
    for t in [int(t) for t in sys.argv[1:]] or [1, 2]:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t))
        subprocess.run([sys.executable, __file__, "--child", str(t)], env=env, check=True)


if __name__ == "__main__":
    main()
