"""Reference factors: formulas, sign chosen on validation only, and the synthetic oracle."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from gogooku.models.factor import FACTOR_FILE, FactorConfig, FactorError
from gogooku.models.tabular import fit_predict_tabular
from gogooku.runs import create_run, write_predictions
from gogooku.settings import get_settings
from gogooku.store.raw import RawStore


def _predict(market, cfg, panel, run_dir):
    return fit_predict_tabular(cfg, panel, market.features, market.ranges, market.horizons, run_dir)


def _valid_rank_ic(panel: pl.DataFrame, market, score: pl.Expr) -> float:
    """Mean daily Spearman of ``score`` vs target_5d on validation days, by scipy."""
    from scipy.stats import spearmanr

    rows = panel.filter(pl.col("Date").is_between(*market.ranges.valid)).with_columns(s=score)
    rows = rows.filter(pl.col("s").is_finite() & pl.col("target_5d").is_finite())
    ics = [
        spearmanr(g["s"].to_numpy(), g["target_5d"].to_numpy()).statistic
        for _, g in rows.group_by("Date")
    ]
    return float(np.mean(ics))


@pytest.mark.parametrize(
    ("factor", "column", "base"),
    [("reversal", "ret_prev_5d", -1.0), ("momentum", "ret_prev_60d", 1.0)],
)
def test_factor_is_signed_column_with_sign_from_validation(market, tmp_path, factor, column, base):
    cfg = FactorConfig(factor=factor)
    preds = _predict(market, cfg, market.panel, tmp_path)
    ic = _valid_rank_ic(market.panel, market, pl.col(column) * base)
    sign = 1.0 if ic >= 0 else -1.0
    summary = json.loads((tmp_path / FACTOR_FILE).read_text())
    assert summary["sign"] == sign
    assert summary["valid_rank_ic"] == pytest.approx(ic, abs=1e-9)
    joined = preds.join(market.panel.select("Date", "Code", column), on=["Date", "Code"])
    expected = joined[column].cast(pl.Float64) * base * sign
    for h in market.horizons:
        assert joined[f"pred_{h}d"].equals(expected.alias(f"pred_{h}d"))


def test_sign_depends_on_validation_only(market, tmp_path):
    cfg = FactorConfig(factor="reversal")
    preds = _predict(market, cfg, market.panel, tmp_path / "a")
    sign = json.loads((tmp_path / "a" / FACTOR_FILE).read_text())["sign"]
    test_days = pl.col("Date") >= market.ranges.test[0]
    # test-period features and labels reversed: the sign and every non-test prediction stay
    flipped = market.panel.with_columns(
        pl.when(test_days).then(-pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in ("ret_prev_5d", *(f"target_{h}d" for h in market.horizons))
    )
    again = _predict(market, cfg, flipped, tmp_path / "b")
    assert json.loads((tmp_path / "b" / FACTOR_FILE).read_text())["sign"] == sign
    assert again.filter(pl.col("split") != "test").equals(preds.filter(pl.col("split") != "test"))
    # validation labels reversed: the sign flips
    valid_days = pl.col("Date").is_between(*market.ranges.valid)
    reversed_valid = market.panel.with_columns(
        pl.when(valid_days)
        .then(-pl.col("target_5d"))
        .otherwise(pl.col("target_5d"))
        .alias("target_5d")
    )
    _predict(market, cfg, reversed_valid, tmp_path / "c")
    assert json.loads((tmp_path / "c" / FACTOR_FILE).read_text())["sign"] == -sign
    # without the choice the factor keeps its textbook sign
    fixed = _predict(
        market, FactorConfig(factor="reversal", choose_sign=False), market.panel, tmp_path / "d"
    )
    joined = fixed.join(market.panel.select("Date", "Code", "ret_prev_5d"), on=["Date", "Code"])
    assert joined["pred_5d"].equals((-joined["ret_prev_5d"].cast(pl.Float64)).alias("pred_5d"))


def test_oracle_predictions_are_the_simulator_expected_returns(market, home):
    run_dir, _ = create_run("factor", "b1", market.horizons, market.ranges, run_id="oracle")
    preds = _predict(market, FactorConfig(factor="oracle"), market.panel, run_dir)
    write_predictions(run_dir, preds)
    oracle = RawStore(get_settings().raw_dir).read_oracle().collect()
    joined = preds.join(oracle, on=["Date", "Code"], how="left")
    for h in market.horizons:
        assert joined[f"pred_{h}d"].equals(
            joined[f"exp_target_{h}d"].cast(pl.Float64).alias(f"pred_{h}d")
        )
    assert joined["pred_5d"].is_not_null().all()


def test_oracle_refused_on_a_store_that_is_not_synthetic(market, home, tmp_path, monkeypatch):
    store = RawStore(get_settings().raw_dir)
    schema = RawStore.schema("markets_calendar")
    store.write_unit(
        "markets_calendar", "imported", pl.DataFrame(schema=schema), {}, source="jquants"
    )
    with pytest.raises(
        FactorError, match=r"only on the synthetic market.*holds \['jquants', 'synthetic\(seed=11"
    ):
        _predict(market, FactorConfig(factor="oracle"), market.panel, tmp_path / "a")
    monkeypatch.setenv("GOGOOKU_HOME", str(tmp_path / "empty_home"))
    with pytest.raises(FactorError, match="holds no data"):
        _predict(market, FactorConfig(factor="oracle"), market.panel, tmp_path / "b")


def test_factor_errors_name_the_missing_column(market, tmp_path):
    with pytest.raises(FactorError, match=r"panel has no column\(s\) \['ret_prev_60d'\]"):
        _predict(
            market, FactorConfig(factor="momentum"), market.panel.drop("ret_prev_60d"), tmp_path
        )
