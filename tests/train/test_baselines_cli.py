"""The baselines through ``gogooku train`` (run folder, config.toml, predictions, evaluation) and the
shipped configs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.config import CONFIGS_DIR, dump_config
from gogooku.runs import read_predictions
from gogooku.train.config import load_run_config, with_data

from ..support.markets import BASELINES_SPLITS

CONFIGS = CONFIGS_DIR


@pytest.mark.parametrize("kind", ["lgbm", "linear", "factor"])
def test_shipped_configs_are_complete_run_configs(kind):
    cfg = load_run_config(CONFIGS / f"{kind}.toml")
    assert cfg.model.kind == kind
    assert cfg.data.splits.purge >= max(cfg.target.horizons) + 1


def _config(
    tmp_path: Path,
    kind: str,
    days: tuple[int, int] = (100, 40),
    target: dict | None = None,
    **model,
) -> Path:
    """configs/<kind>.toml with the baselines market's splits (one fold of ``days`` = (train,
    valid = test) trading days from the first panel day; the shipped ten-year splits fit no
    fold here), and ``target`` and ``model`` overrides."""
    splits = BASELINES_SPLITS.model_copy(
        update={"train_days": days[0], "val_days": days[1], "test_days": days[1]}
    )
    cfg = with_data(load_run_config(CONFIGS / f"{kind}.toml"), splits)
    cfg = cfg.model_copy(
        update={
            "model": cfg.model.model_copy(update=model),
            "target": cfg.target.model_validate({**cfg.target.model_dump(), **(target or {})}),
        }
    )
    return dump_config(cfg, tmp_path / f"{kind}-{'-'.join(map(str, model.values()))}.toml")


def _train(kind: str, config: Path, run: str) -> dict:
    result = CliRunner().invoke(
        app, ["train", "--model", kind, "--dataset", "b1", "--config", str(config), "--run", run]
    )
    assert result.exit_code == 0, result.output
    assert "valid  5d: RankIC" in result.output
    return json.loads((Path(result.output.split(" at ")[-1].strip()) / "metrics.json").read_text())


def _rank_ic(metrics: dict, split: str, horizon: str = "5d") -> float:
    return metrics["splits"][split]["horizons"][horizon]["signal"]["rank_ic_mean"]


def test_linear_run_through_gogooku_train(baselines_market, baselines_home, tmp_path):
    metrics = _train("linear", _config(tmp_path, "linear"), "lin")
    run_dir = baselines_home / "runs" / "lin"
    preds = read_predictions(run_dir)
    assert preds["split"].unique().sort().to_list() == ["test", "train", "valid"]
    assert (
        preds.filter(pl.col("split") == "valid")["Date"].min() == baselines_market.ranges.valid[0]
    )
    assert (run_dir / "config.toml").is_file() and (run_dir / "report.html").is_file()
    assert set(metrics["splits"]) == {"train", "valid", "test"}


def test_a_horizon_without_labels_is_a_clean_train_failure(
    baselines_market, baselines_home, tmp_path
):
    config = _config(tmp_path, "factor")  # the target is checked when the file is read
    config.write_text(
        config.read_text()
        .replace("horizons = [1, 5, 10, 20]", "horizons = [1, 3, 5]")
        .replace("main_horizon = 5", "main_horizon = 3")
    )
    result = CliRunner().invoke(
        app, ["train", "--model", "factor", "--dataset", "b1", "--config", str(config)]
    )
    assert result.exit_code == 1
    assert "horizons [3] have no label in the panel (label horizons (1, 5, 10, 20))" in (
        result.output
    )


@pytest.mark.slow
def test_lgbm_beats_zero_and_stays_below_the_oracle(baselines_large_home, tmp_path, monkeypatch):
    monkeypatch.setenv("GOGOOKU_HOME", str(baselines_large_home))
    days = (150, 50)
    lgbm = _train("lgbm", _config(tmp_path, "lgbm", days, num_threads=2), "lgbm")
    oracle = _train("factor", _config(tmp_path, "factor", days, factor="oracle"), "oracle")
    assert _rank_ic(lgbm, "valid") > 0
    assert _rank_ic(lgbm, "test") > 0 and _rank_ic(oracle, "test") > 0
    # the oracle is the true expected return, so a model can beat it on 50 test days of 100
    # stocks only by chance: its lead must stay within 3 standard errors of the difference of
    # the two mean daily RankICs (a model that sees the future lands far above)
    sig = {
        n: m["splits"]["test"]["horizons"]["5d"]["signal"] for n, m in (("l", lgbm), ("o", oracle))
    }
    se = math.sqrt(sum(s["rank_ic_std"] ** 2 / s["n_days"] for s in sig.values()))
    assert _rank_ic(lgbm, "test") < _rank_ic(oracle, "test") + 3 * se
    importance = pl.read_csv(baselines_large_home / "runs" / "lgbm" / "feature_importance.csv")
    assert importance["gain"].sum() > 0


def test_factor_on_a_missing_dataset_is_a_clean_train_failure(_isolated_home):
    result = CliRunner().invoke(
        app,
        ["train", "--model", "factor", "--dataset", "t9", "--config", str(CONFIGS / "factor.toml")],
    )
    assert result.exit_code == 1
    assert "train failed" in result.output and "t9" in result.output
