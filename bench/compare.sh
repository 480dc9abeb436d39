#!/usr/bin/env bash
# Runs `engine bench` and the PyTorch peer back to back on the same workloads and prints the ratio table
# (Markdown) that docs/benchmarks.md records.
# Usage: bench/compare.sh [--threads N] [--rounds R] W5 W4 W3 ...
# With R rounds the engine and the peer take turns R times; the table gives each side's median and the range of
# the per-round ratios (a shared machine's load drifts over minutes: turns keep both sides under the same drift).
# Needs: the .NET SDK, and PyTorch for Debian's python3 (apt-get install -y python3-torch libopenblas0-pthread).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2; rounds=1
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "usage: bench/compare.sh [--threads N] [--rounds R] W5 W4 W3 ..." >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dotnet build src/Cli -c Release -v quiet -nologo >/dev/null
for ((r = 0; r < rounds; r++)); do
  dotnet run -c Release --no-build --project src/Cli -- bench "$@" --threads "$threads" --json >> "$tmp/engine.jsonl"
  OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS="$threads" /usr/bin/python3 bench/peers/torch_bench.py --threads "$threads" "$@" >> "$tmp/torch.jsonl"
done
python3 bench/compare.py "$tmp/engine.jsonl" "$tmp/torch.jsonl"
echo
echo "$threads thread(s), $rounds round(s), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
