#!/usr/bin/env bash
# The whole pipeline that exists today, on the synthetic market (no API key needed).
set -euo pipefail
cd "$(dirname "$0")/.."
GOGOOKU=".venv/bin/gogooku"
export GOGOOKU_HOME="${GOGOOKU_HOME:-$PWD/gogooku_home}"
STOCKS="${DEMO_STOCKS:-300}"
START="${DEMO_START:-2019-01-01}"
BUILD_START="${DEMO_BUILD_START:-2020-01-01}"
END="${DEMO_END:-2021-12-30}"
FOLD="${DEMO_FOLD:-8}"

echo "== 1/6 fetch: synthetic J-Quants V2 market (${STOCKS} stocks, ${START}..${END}) into ${GOGOOKU_HOME}/raw"
"$GOGOOKU" fetch --source synthetic --seed 7 --stocks "$STOCKS" --start "$START" --end "$END"

echo "== 2/6 store status"
"$GOGOOKU" store status

echo "== 3/6 build: point-in-time feature panel and training cache"
"$GOGOOKU" build --start "$BUILD_START" --end "$END" --name demo

echo "== 4/6 walk-forward folds (fold ${FOLD} is used below)"
"$GOGOOKU" splits --dataset demo --config configs/demo_data.toml

echo "== 5/6 train and evaluate on fold ${FOLD}: oracle, reversal, ridge, LightGBM, ATFT-GAT-FAN"
"$GOGOOKU" train --model factor --dataset demo --config configs/oracle.toml --fold "$FOLD" --run demo_oracle
"$GOGOOKU" train --model factor --dataset demo --config configs/factor.toml --fold "$FOLD" --run demo_reversal
"$GOGOOKU" train --model linear --dataset demo --config configs/linear.toml --fold "$FOLD" --run demo_linear
"$GOGOOKU" train --model lgbm --dataset demo --config configs/lgbm.toml --fold "$FOLD" --run demo_lgbm
"$GOGOOKU" train --model atft --dataset demo --config configs/atft.toml --fold "$FOLD" --run demo_atft

echo "== 6/6 compare (test period of fold ${FOLD})"
"$GOGOOKU" compare demo_oracle demo_reversal demo_linear demo_lgbm demo_atft

echo "== done"
echo "   dataset:  ${GOGOOKU_HOME}/datasets/demo (panel.parquet, features.json, metadata.json, cache/)"
echo "   reports:  ${GOGOOKU_HOME}/runs/demo_*/report.html and ${GOGOOKU_HOME}/runs/compare.html"
