"""Reference factors: formulas, sign chosen on validation only, and the synthetic oracle."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from gogooku.kinds.tabular import fit_predict_tabular
from gogooku.models.factor import FACTOR_FILE, FactorConfig, FactorError
from gogooku.runs import create_run, write_predictions
from gogooku.settings import get_settings
from gogooku.store.raw import RawStore


def _predict(baselines_market, cfg, panel, run_dir):
    return fit_predict_tabular(
        cfg,
        panel,
        baselines_market.features,
        baselines_market.ranges,
        baselines_market.target,
        run_dir,
    )


def _valid_rank_ic(panel: pl.DataFrame, baselines_market, score: pl.Expr) -> float:
    """Mean daily Spearman of ``score`` vs target_5d on validation days, by scipy."""
    from scipy.stats import spearmanr

    rows = panel.filter(pl.col("Date").is_between(*baselines_market.ranges.valid)).with_columns(
        s=score
    )
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
def test_factor_is_signed_column_with_sign_from_validation(
    baselines_market, tmp_path, factor, column, base
):
    cfg = FactorConfig(factor=factor)
    preds = _predict(baselines_market, cfg, baselines_market.panel, tmp_path)
    ic = _valid_rank_ic(baselines_market.panel, baselines_market, pl.col(column) * base)
    sign = 1.0 if ic >= 0 else -1.0
    summary = json.loads((tmp_path / FACTOR_FILE).read_text())
    assert summary["sign"] == sign
    assert summary["valid_rank_ic"] == pytest.approx(ic, abs=1e-9)
    joined = preds.join(baselines_market.panel.select("Date", "Code", column), on=["Date", "Code"])
    expected = joined[column].cast(pl.Float64) * base * sign
    for h in baselines_market.horizons:
        assert joined[f"pred_{h}d"].equals(expected.alias(f"pred_{h}d"))


def test_sign_depends_on_validation_only(baselines_market, tmp_path):
    cfg = FactorConfig(factor="reversal")
    preds = _predict(baselines_market, cfg, baselines_market.panel, tmp_path / "a")
    sign = json.loads((tmp_path / "a" / FACTOR_FILE).read_text())["sign"]
    test_days = pl.col("Date") >= baselines_market.ranges.test[0]
    # test-period features and labels reversed: the sign and every non-test prediction stay
    flipped = baselines_market.panel.with_columns(
        pl.when(test_days).then(-pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in ("ret_prev_5d", *(f"target_{h}d" for h in baselines_market.horizons))
    )
    again = _predict(baselines_market, cfg, flipped, tmp_path / "b")
    assert json.loads((tmp_path / "b" / FACTOR_FILE).read_text())["sign"] == sign
    assert again.filter(pl.col("split") != "test").equals(preds.filter(pl.col("split") != "test"))
    # validation labels reversed: the sign flips
    valid_days = pl.col("Date").is_between(*baselines_market.ranges.valid)
    reversed_valid = baselines_market.panel.with_columns(
        pl.when(valid_days)
        .then(-pl.col("target_5d"))
        .otherwise(pl.col("target_5d"))
        .alias("target_5d")
    )
    _predict(baselines_market, cfg, reversed_valid, tmp_path / "c")
    assert json.loads((tmp_path / "c" / FACTOR_FILE).read_text())["sign"] == -sign
    # without the choice the factor keeps its textbook sign
    fixed = _predict(
        baselines_market,
        FactorConfig(factor="reversal", choose_sign=False),
        baselines_market.panel,
        tmp_path / "d",
    )
    joined = fixed.join(
        baselines_market.panel.select("Date", "Code", "ret_prev_5d"), on=["Date", "Code"]
    )
    assert joined["pred_5d"].equals((-joined["ret_prev_5d"].cast(pl.Float64)).alias("pred_5d"))


def test_oracle_predictions_are_the_simulator_expected_returns(baselines_market, baselines_home):
    run_dir, _ = create_run(
        "factor", "b1", baselines_market.horizons, baselines_market.ranges, run_id="oracle"
    )
    preds = _predict(
        baselines_market, FactorConfig(factor="oracle"), baselines_market.panel, run_dir
    )
    write_predictions(run_dir, preds)
    oracle = RawStore(get_settings().raw_dir).read_oracle().collect()
    joined = preds.join(oracle, on=["Date", "Code"], how="left")
    for h in baselines_market.horizons:
        assert joined[f"pred_{h}d"].equals(
            joined[f"exp_target_{h}d"].cast(pl.Float64).alias(f"pred_{h}d")
        )
    assert joined["pred_5d"].is_not_null().all()


def test_oracle_refused_on_a_store_that_is_not_synthetic(
    baselines_market, baselines_home, tmp_path, monkeypatch
):
    store = RawStore(get_settings().raw_dir)
    schema = RawStore.schema("markets_calendar")
    store.write_unit(
        "markets_calendar", "imported", pl.DataFrame(schema=schema), {}, source="jquants"
    )
    with pytest.raises(
        FactorError, match=r"only on the synthetic market.*holds \['jquants', 'synthetic\(seed=11"
    ):
        _predict(
            baselines_market, FactorConfig(factor="oracle"), baselines_market.panel, tmp_path / "a"
        )
    monkeypatch.setenv("GOGOOKU_HOME", str(tmp_path / "empty_home"))
    with pytest.raises(FactorError, match="holds no data"):
        _predict(
            baselines_market, FactorConfig(factor="oracle"), baselines_market.panel, tmp_path / "b"
        )


def test_factor_errors_name_the_missing_column(baselines_market, tmp_path):
    with pytest.raises(FactorError, match=r"panel has no column\(s\) \['ret_prev_60d'\]"):
        _predict(
            baselines_market,
            FactorConfig(factor="momentum"),
            baselines_market.panel.drop("ret_prev_60d"),
            tmp_path,
        )
