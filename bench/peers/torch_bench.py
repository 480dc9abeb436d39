# PyTorch peer for `engine bench`: the same workloads and cases, one JSON object per line with the fields
# workload, case, variant, ms, gflops — so the two outputs can be joined into a ratio table.
# Setup: apt-get install -y python3-torch libopenblas0-pthread
# Run:   OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peers/torch_bench.py --threads 2 W5 [W4 W3 ...]
#        (--device cuda times the same cases on the GPU, each run ending with torch.cuda.synchronize())
import argparse, json, math, os, sys, time
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DEV = torch.device("cpu")

def timed(f):
    # A GPU call returns once its kernels are queued: wait for them, as the engine's GPU cases do.
    if DEV.type != "cuda": return f
    def run():
        f(); torch.cuda.synchronize()
    return run

def randn(*shape, **kw):
    return torch.randn(*shape, device=DEV, **kw)

def median_ms(f, min_runs=5, min_seconds=0.5, max_runs=50, warm_runs=8):
    # Warm-up as the engine's Timing.MedianMs: at least eight runs and about half a second, then the median.
    f = timed(f)
    warm, i = time.perf_counter(), 0
    while i < warm_runs or (time.perf_counter() - warm < 0.5 and i < max_runs):
        f(); i += 1
    times, start = [], time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < min_seconds and len(times) < max_runs):
        t = time.perf_counter(); f(); times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]

def w5():
    for n in [256, 512, 1024, 2048]:
        a, b = randn(n, n), randn(n, n)
        for label, f in [("A·B", lambda: a @ b), ("Aᵀ·B", lambda: a.t() @ b), ("A·Bᵀ", lambda: a @ b.t())]:
            yield f"n={n} {label}", f, 2.0 * n ** 3

def w4():
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(DEV)
    x = randn(64, 64, 28, 28, requires_grad=True)
    flops = 2.0 * 64 * 64 * 64 * 9 * 28 * 28
    with torch.no_grad():
        yield "forward", lambda: conv(x), flops
    yield "forward+backward", lambda: conv(x).sum().backward(), 3 * flops

def w3():
    q, k, v = (randn(64, 4, 196, 64, requires_grad=True) for _ in range(3))
    att = lambda: torch.softmax(q @ k.transpose(-1, -2) / 8.0, -1) @ v
    flops = 4.0 * 64 * 4 * 196 * 196 * 64
    with torch.no_grad():
        yield "forward", att, flops
    yield "forward+backward", lambda: att().sum().backward(), 3 * flops

def w2():
    # The DiT-T/2 denoiser at batch 64, the engine's W2 cases: an AdamW training step (forward, MSE, backward,
    # update) and one guided sampling step (one forward pass over 2×64 images).
    from torch_dit import DiT
    torch.manual_seed(1)
    net = DiT().to(DEV)
    for p in net.parameters():
        with torch.no_grad(): p.normal_(0, 0.02)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = randn(64, 1, 28, 28); t = torch.randint(0, 1000, (64,), device=DEV); y = torch.randint(0, 11, (64,), device=DEV)
    labels = torch.arange(64, device=DEV) % 10
    def train():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(net(x, t, y), x).backward(); opt.step()
    def guided():
        with torch.no_grad():
            e = net(torch.cat([x, x]), torch.full((128,), 500, device=DEV), torch.cat([labels, torch.full_like(labels, 10)]))
            ec, eu = e.chunk(2); return eu + 3.0 * (ec - eu)
    yield "train step B=64", train, None
    yield "CFG sampling step B=64 (2×64 evals)", guided, None


def w1():
    # The W1 UNet-S (bench/peers/torch_unet.py, the engine's layout): one AdamW step at batch 64, and one
    # classifier-free-guided sampling step (one pass over 128 images: 64 with their class, 64 with the 'no class' token).
    from torch_unet import UNet
    torch.manual_seed(1)
    net = UNet().to(DEV)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = randn(64, 1, 28, 28)
    t, y = torch.randint(0, 1000, (64,), device=DEV), torch.randint(0, 11, (64,), device=DEV)
    labels = torch.arange(64, device=DEV) % 10
    def train_step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x, t, y), x).backward()
        opt.step()
    def guided_step():
        with torch.no_grad():
            both = net(torch.cat([x, x]), torch.full((128,), 500, device=DEV), torch.cat([labels, torch.full((64,), 10, device=DEV)]))
            cond, uncond = both[:64], both[64:]
            return uncond + 3.0 * (cond - uncond)
    yield "train step B=64", train_step, None
    yield "CFG sampling step B=64 (2×64 evals)", guided_step, None

WORKLOADS = {"W5": w5, "W4": w4, "W3": w3, "W2": w2, "W1": w1}

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("workloads", nargs="+")
    args = p.parse_args()
    global DEV
    DEV = torch.device(args.device)
    torch.set_num_threads(args.threads)
    variant = f"torch-{torch.__version__}" + ("" if DEV.type == "cpu" else f"-{DEV.type}")
    for w in args.workloads:
        for case, f, flops in WORKLOADS[w.upper()]():
            ms = median_ms(f)
            gflops = None if flops is None else round(flops / (ms * 1e6), 2)
            print(json.dumps({"workload": w.upper(), "case": case, "variant": variant, "ms": round(ms, 3), "gflops": gflops}, ensure_ascii=False), flush=True)

if __name__ == "__main__":
    main()
