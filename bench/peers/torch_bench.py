# PyTorch peer for `engine bench`: the same workloads and cases, one JSON object per line with the fields
# workload, case, variant, ms, gflops — so the two outputs can be joined into a ratio table.
# Setup: apt-get install -y python3-torch libopenblas0-pthread
# Run:   OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peers/torch_bench.py --threads 2 W5 [W4 W3 ...]
import argparse, json, math, time
import torch

def median_ms(f, min_runs=3, min_seconds=0.5, max_runs=50):
    f()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < min_seconds and len(times) < max_runs):
        t = time.perf_counter(); f(); times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]

def w5():
    for n in [256, 512, 1024, 2048]:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for label, f in [("A·B", lambda: a @ b), ("Aᵀ·B", lambda: a.t() @ b), ("A·Bᵀ", lambda: a @ b.t())]:
            yield f"n={n} {label}", f, 2.0 * n ** 3

def w4():
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(64, 64, 28, 28, requires_grad=True)
    flops = 2.0 * 64 * 64 * 64 * 9 * 28 * 28
    with torch.no_grad():
        yield "forward", lambda: conv(x), flops
    yield "forward+backward", lambda: conv(x).sum().backward(), 3 * flops

def w3():
    q, k, v = (torch.randn(64, 4, 196, 64, requires_grad=True) for _ in range(3))
    att = lambda: torch.softmax(q @ k.transpose(-1, -2) / 8.0, -1) @ v
    flops = 4.0 * 64 * 4 * 196 * 196 * 64
    with torch.no_grad():
        yield "forward", att, flops
    yield "forward+backward", lambda: att().sum().backward(), 3 * flops

WORKLOADS = {"W5": w5, "W4": w4, "W3": w3}

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("workloads", nargs="+")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    variant = f"torch-{torch.__version__}"
    for w in args.workloads:
        for case, f, flops in WORKLOADS[w.upper()]():
            ms = median_ms(f)
            print(json.dumps({"workload": w.upper(), "case": case, "variant": variant, "ms": round(ms, 3), "gflops": round(flops / (ms * 1e6), 2)}, ensure_ascii=False), flush=True)

if __name__ == "__main__":
    main()
