#!/usr/bin/env bash
# Runs `engine bench` and the PyTorch peer back to back on the same workloads and prints the ratio table
# (Markdown) that docs/benchmarks.md records.
# Usage: bench/compare.sh [--threads N] W5 W4 W3 ...
# Needs: the .NET SDK, and PyTorch for Debian's python3 (apt-get install -y python3-torch libopenblas0-pthread).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2
if [[ "${1:-}" == "--threads" ]]; then threads=$2; shift 2; fi
[[ $# -gt 0 ]] || { echo "usage: bench/compare.sh [--threads N] W5 W4 W3 ..." >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dotnet build src/Cli -c Release -v quiet -nologo >/dev/null
dotnet run -c Release --no-build --project src/Cli -- bench "$@" --threads "$threads" --json > "$tmp/engine.jsonl"
OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS="$threads" /usr/bin/python3 bench/peers/torch_bench.py --threads "$threads" "$@" > "$tmp/torch.jsonl"
python3 bench/compare.py "$tmp/engine.jsonl" "$tmp/torch.jsonl"
echo
echo "$threads thread(s), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
