#!/usr/bin/env bash
# Run every benchmark in bench/ at its default (small) sizes; each prints one JSON document.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
for script in bench/bench_*.py; do
  name="$(basename "$script" .py)"
  echo "== $name" >&2
  .venv/bin/python "$script" "$@" | tee "bench/results/$name.json"
done
