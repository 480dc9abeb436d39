# Joins `engine bench --json` output with the PyTorch peer's (same fields) into a Markdown ratio table.
# Usage: python3 bench/compare.py engine.jsonl torch.jsonl
# ratio = peer ms / engine ms: above 1 means the engine is faster. When the files hold several rounds (bench/compare.sh
# --rounds R appends one run of each side per round), each side's ms is its median over the rounds, the ratio is the
# ratio of the medians, and the last column gives the lowest and highest ratio of a single round.
import json, statistics, sys

def load(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            rows.setdefault((r["workload"], r["case"], r["variant"]), []).append(r)
    return rows

def fmt(gflops):
    """GFLOP/s to one decimal; cases without a FLOP count (null) print as a dash."""
    return "—" if gflops is None else f"{gflops:.1f}"

def median(runs, field):
    values = [r[field] for r in runs if r[field] is not None]
    return statistics.median(values) if values else None

engine, peer = load(sys.argv[1]), load(sys.argv[2])
peer_by_case = {}
for (w, c, _), runs in peer.items():
    peer_by_case.setdefault((w, c), runs)
rounds = max((len(v) for v in engine.values()), default=1)
print("| workload | case | engine variant | engine ms | engine GFLOP/s | PyTorch ms | PyTorch GFLOP/s | speed-up vs PyTorch |"
      + (" per-round range |" if rounds > 1 else ""))
print("|---|---|---|---:|---:|---:|---:|---:|" + ("---:|" if rounds > 1 else ""))
for (w, c, variant), runs in engine.items():
    p = peer_by_case.get((w, c))
    ems = median(runs, "ms")
    pms = median(p, "ms") if p else None
    ratio = f"{pms / ems:.2f}×" if p else "—"
    line = f"| {w} | {c} | {variant} | {ems:.2f} | {fmt(median(runs, 'gflops'))} | {f'{pms:.2f}' if p else '—'} | {fmt(median(p, 'gflops')) if p else '—'} | {ratio} |"
    if rounds > 1:
        per = [b["ms"] / a["ms"] for a, b in zip(runs, p)] if p else []
        line += f" {min(per):.2f}–{max(per):.2f}× |" if per else " — |"
    print(line)
