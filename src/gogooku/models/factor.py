"""Reference factors (kind "factor"): no training, one score per stock and day for every horizon.

- ``reversal`` = −ret_prev_5d (short-term reversal: last week's losers rebound);
- ``momentum`` = ret_prev_60d (past 60-session return);
- ``oracle`` = the synthetic market's expected h-day return ``exp_target_{h}d`` from
  ``RawStore.read_oracle()`` as ``pred_{h}d`` — the ceiling a model could reach; refused unless
  every source recorded in the raw store's catalogue is the synthetic market
  (``synthetic(seed=…)``).

Sign (reversal and momentum, ``choose_sign = true``): s = +1 if the factor's mean daily RankIC
against the label of ``[target] main_horizon`` over the *validation* rows is ≥ 0, else −1; the prediction is
s × factor. Train and test rows never enter the choice. The choice is written to ``factor.json``
in the run folder (factor, column, sign, valid RankIC).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import polars as pl

from gogooku.config import StrictModel
from gogooku.dataset.tabular import TabularError
from gogooku.io import atomic_write_text
from gogooku.models.gbdt import mean_daily_rank_ic
from gogooku.runs import Ranges, split_expr
from gogooku.settings import get_settings
from gogooku.store.raw import RawStore
from gogooku.target import TargetConfig, pred_column

FACTOR_COLUMNS: dict[str, tuple[str, float]] = {
    "reversal": ("ret_prev_5d", -1.0),
    "momentum": ("ret_prev_60d", 1.0),
}
FACTOR_FILE = "factor.json"


class FactorError(TabularError):
    """A factor cannot be computed: missing column, no validation labels, or no oracle."""


class FactorConfig(StrictModel):
    """``[model]`` of a factor run."""

    kind: Literal["factor"] = "factor"
    factor: Literal["reversal", "momentum", "oracle"] = "reversal"
    choose_sign: bool = True


def _keys(panel: pl.LazyFrame, ranges: Ranges, extra: list[str]) -> pl.DataFrame:
    return (
        panel.select("Date", "Code", *extra)
        .with_columns(split=split_expr(ranges))
        .filter(pl.col("split").is_not_null())
        .collect()
        .sort("Date", "Code")
    )


def oracle_scores(raw_dir: Path, keys: pl.DataFrame, horizons: list[int]) -> pl.DataFrame:
    """``keys`` (Date, Code, split) with ``pred_{h}d`` = the synthetic oracle's exp_target_{h}d."""
    store = RawStore(raw_dir)
    sources = store.catalog.sources()
    if not sources or any(not s.startswith("synthetic") for s in sources):
        found = sorted(sources) or "no data"
        raise FactorError(
            f"factor 'oracle' exists only on the synthetic market; the raw store {raw_dir} "
            f"holds {found}"
        )
    oracle = store.read_oracle().collect()
    if oracle.height == 0:
        raise FactorError(f"factor 'oracle': the raw store {raw_dir} has no synthetic oracle")
    absent = [h for h in horizons if f"exp_target_{h}d" not in oracle.columns]
    if absent:
        raise FactorError(f"factor 'oracle': the synthetic oracle has no exp_target for {absent}")
    cols = [pl.col(f"exp_target_{h}d").cast(pl.Float64).alias(pred_column(h)) for h in horizons]
    return keys.join(oracle.select("Date", "Code", *cols), on=["Date", "Code"], how="left")


def predict_factor(
    cfg: FactorConfig,
    panel: pl.LazyFrame | pl.DataFrame,
    ranges: Ranges,
    target: TargetConfig,
    run_dir: Path,
) -> pl.DataFrame:
    """``Date, Code, split, pred_{h}d`` of the factor on the panel rows of the three splits."""
    horizons = target.sorted_horizons
    lazy = panel.lazy()
    names = lazy.collect_schema().names()
    if cfg.factor == "oracle":
        keys = _keys(lazy, ranges, [])
        out = oracle_scores(get_settings().raw_dir, keys, horizons)
        summary: dict[str, object] = {"factor": "oracle", "sign": 1.0}
    else:
        column, base_sign = FACTOR_COLUMNS[cfg.factor]
        label = target.main_label
        needed = [column, *([label] if cfg.choose_sign else [])]
        absent = [c for c in needed if c not in names]
        if absent:
            raise FactorError(f"factor {cfg.factor!r}: panel has no column(s) {absent}")
        rows = _keys(lazy, ranges, needed)
        base = pl.col(column).cast(pl.Float64) * base_sign
        rows = rows.with_columns(score=base)
        sign, valid_ic = 1.0, None
        if cfg.choose_sign:
            valid = rows.filter(
                (pl.col("split") == "valid")
                & pl.col(label).is_finite()
                & pl.col("score").is_finite()
            )
            if valid.height == 0:
                raise FactorError(
                    f"factor {cfg.factor!r}: no validation row with both {column} and {label}"
                )
            valid_ic = mean_daily_rank_ic(valid, valid["score"].to_numpy(), label)
            sign = 1.0 if valid_ic >= 0 else -1.0
        out = rows.select(
            "Date",
            "Code",
            "split",
            *((pl.col("score") * sign).alias(pred_column(h)) for h in horizons),
        )
        summary = {
            "factor": cfg.factor,
            "column": column,
            "base_sign": base_sign,
            "sign": sign,
            "valid_rank_ic": valid_ic,
            "main_horizon": target.main_horizon,
            "label": label,
        }
    atomic_write_text(Path(run_dir) / FACTOR_FILE, json.dumps(summary, indent=2) + "\n")
    return out
