#!/usr/bin/env bash
# Run every performance benchmark in bench/ at its default (small) sizes (the quality and
# configuration studies are in studies/: scripts/studies.sh); each prints one JSON document,
# kept in bench/results/NAME.json; then bench/summary.py prints (and writes
# bench/results/summary.md) each benchmark's baseline figures and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
for script in bench/bench_*.py; do
  name="$(basename "$script" .py)"
  # The model zoo walks every model forward on two markets (hours): run it on its own
  # (docs/benchmarks.md, "Model zoo").
  [ "$name" = bench_zoo ] && continue
  echo "== $name" >&2
  # Written to a temporary file first: a failed benchmark keeps its previous result.
  .venv/bin/python "$script" "$@" > "bench/results/$name.json.tmp"
  mv "bench/results/$name.json.tmp" "bench/results/$name.json"
  cat "bench/results/$name.json"
done
echo "== summary" >&2
.venv/bin/python bench/summary.py bench/results
