#!/usr/bin/env bash
# Run every study in studies/ on the quality market (300 synthetic stocks × 4 years; long: hours
# on a 2-core machine, each configuration study 25+ minutes): studies/quality.py, then
# studies/configs.py on each studies/*.toml (a `gogooku hpo` candidate study); each writes
# studies/results/NAME.json; then bench/summary.py writes studies/results/summary.md (the ratios
# found in them). Options (e.g. --home DIR) are passed to every script.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== quality" >&2
.venv/bin/python studies/quality.py "$@"
for definition in studies/*.toml; do
  echo "== $(basename "$definition" .toml)" >&2
  .venv/bin/python studies/configs.py "$definition" "$@"
done
echo "== summary" >&2
.venv/bin/python bench/summary.py studies/results
