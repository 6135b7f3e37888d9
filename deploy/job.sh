#!/bin/sh
# The compose file's jobs on the synthetic market (no API key), one script so both read the same
# market settings: the daily job must name the start, seed and stocks the market was made with.
#   gogooku-job init    fetch -> build -> train LightGBM on the last fold -> bundle -> promote
#                       -> predict the newest day; nothing when $GOGOOKU_BUNDLE is promoted
#   gogooku-job update  `gogooku update` up to today (UTC): fetch, extend the dataset, predict
# Settings (environment): GOGOOKU_HOME (required), GOGOOKU_BUNDLE (live),
# GOGOOKU_SYNTH_START (2025-10-01), GOGOOKU_SYNTH_SEED (7), GOGOOKU_SYNTH_STOCKS (40).
# The start must lie at least ~14 months before today: 90 days of warm-up, then the last fold's
# ~200 trading days (100 training, 20 validation, 20 test, purges) and 20 days of labels.
set -eu
BUNDLE=${GOGOOKU_BUNDLE:-live}
START=${GOGOOKU_SYNTH_START:-2025-10-01}
SEED=${GOGOOKU_SYNTH_SEED:-7}
STOCKS=${GOGOOKU_SYNTH_STOCKS:-40}
DATASETS=equities_bars_daily,equities_master,indices_topix
HOME_DIR=${GOGOOKU_HOME:?GOGOOKU_HOME must be set}
MARKET="--source synthetic --seed $SEED --stocks $STOCKS"

case "${1:-}" in
init)
  if [ -f "$HOME_DIR/bundles/$BUNDLE/CURRENT" ]; then
    echo "init: $BUNDLE@$(cat "$HOME_DIR/bundles/$BUNDLE/CURRENT") is promoted; nothing to do"
    exit 0
  fi
  END=$(date -u +%Y-%m-%d)
  # the panel starts 90 days after the market: the 60-day features need the history before it
  BUILD_START=$(date -u -d "$START + 90 days" +%Y-%m-%d)
  RUN=$BUNDLE-init
  # shellcheck disable=SC2086 # MARKET is a list of options
  gogooku fetch $MARKET --start "$START" --end "$END" --datasets "$DATASETS"
  gogooku build --start "$BUILD_START" --end "$END" --name "$BUNDLE" --blocks returns,sector \
    --holdout none
  gogooku train --model lgbm --dataset "$BUNDLE" --config lgbm.toml --run "$RUN" \
    --set 'data.splits={scheme="rolling", train_days=100, val_days=20, test_days=20, step_days=20, label_horizon=20, purge_days=21, first_day=19}' \
    --set model.seeds=1 --set model.num_boost_round=300 --set model.early_stopping_rounds=100 \
    --set model.min_data_in_leaf=200
  gogooku bundle --run "$RUN" --name "$BUNDLE"
  gogooku promote "$BUNDLE" v0001
  gogooku predict --bundle "$BUNDLE"
  ;;
update)
  # shellcheck disable=SC2086
  gogooku update --bundle "$BUNDLE" --fetch-start "$START" $MARKET --datasets "$DATASETS"
  ;;
*)
  echo "usage: gogooku-job init|update" >&2
  exit 2
  ;;
esac
