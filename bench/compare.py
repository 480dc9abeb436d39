# Joins `engine bench --json` output with the PyTorch peer's (same fields) into a Markdown ratio table.
# Usage: python3 bench/compare.py engine.jsonl torch.jsonl
# ratio = peer ms / engine ms: above 1 means the engine is faster.
import json, sys

def load(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            rows.setdefault((r["workload"], r["case"]), []).append(r)
    return rows

def fmt(gflops):
    """GFLOP/s to one decimal; cases without a FLOP count (null) print as a dash."""
    return "—" if gflops is None else f"{gflops:.1f}"

engine, peer = load(sys.argv[1]), load(sys.argv[2])
print("| workload | case | engine variant | engine ms | engine GFLOP/s | PyTorch ms | PyTorch GFLOP/s | speed-up vs PyTorch |")
print("|---|---|---|---:|---:|---:|---:|---:|")
for key, runs in engine.items():
    p = peer.get(key, [None])[0]
    for e in runs:
        ratio = f"{p['ms'] / e['ms']:.2f}×" if p else "—"
        pms = f"{p['ms']:.2f}" if p else "—"
        pgf = fmt(p["gflops"]) if p else "—"
        print(f"| {key[0]} | {key[1]} | {e['variant']} | {e['ms']:.2f} | {fmt(e['gflops'])} | {pms} | {pgf} | {ratio} |")
