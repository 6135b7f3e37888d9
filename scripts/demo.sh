#!/usr/bin/env bash
# The whole pipeline that exists today, on the synthetic market (no API key needed).
set -euo pipefail
cd "$(dirname "$0")/.."
GOGOOKU=".venv/bin/gogooku"
export GOGOOKU_HOME="${GOGOOKU_HOME:-$PWD/gogooku_home}"
STOCKS="${DEMO_STOCKS:-300}"
START="${DEMO_START:-2019-01-01}"
END="${DEMO_END:-2023-12-31}"

echo "== 1/3 fetch: synthetic J-Quants V2 market (${STOCKS} stocks, ${START}..${END}) into ${GOGOOKU_HOME}/raw"
"$GOGOOKU" fetch --source synthetic --seed 7 --stocks "$STOCKS" --start "$START" --end "$END"

echo "== 2/3 store status"
"$GOGOOKU" store status

echo "== 3/3 build: point-in-time feature panel"
"$GOGOOKU" build --start 2020-01-01 --end "$END" --name demo

echo "== done: dataset at ${GOGOOKU_HOME}/datasets/demo (panel.parquet, features.json, metadata.json)"
