"""What a run folder gives MLflow (``gogooku.tracking.record``), without MLflow: names and values
read back from hand-written run files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from gogooku.runs import create_run, load_run
from gogooku.tracking.record import (
    config_params,
    dataset_fingerprint,
    epoch_metrics,
    final_metrics,
    git_commit,
    run_params,
)

D = dt.date
RANGES = {
    "train": (D(2020, 1, 6), D(2020, 3, 31)),
    "valid": (D(2020, 4, 1), D(2020, 4, 30)),
    "test": (D(2020, 5, 1), D(2020, 5, 29)),
}
HISTORY = [
    {"epoch": 0, "lr": 0.001, "train_loss": 0.5, "val_rank_ic": {"5": 0.01, "20": None}},
    {"epoch": 1, "lr": 0.002, "train_loss": 0.25, "val_rank_ic": {"5": 0.03, "20": 0.1}},
]
METRICS = {
    "main_horizon": 5,
    "splits": {
        "test": {
            "horizons": {
                "5d": {
                    "signal": {"rank_ic_mean": 0.04, "rank_icir": 0.5, "ic_mean": None},
                    "portfolio": {"long_short": {"net": {"sharpe": 1.25}}},
                }
            },
            "folds": [{"fold": 2, "horizons": {"5d": {"rank_ic_mean": -0.02}}}],
        }
    },
}


@pytest.fixture
def run_dir(_isolated_home):
    path, _ = create_run("linear", "tiny", [5, 20], RANGES, {"fold": 2}, run_id="r1")
    (path / "config.toml").write_text(
        '[model]\nkind = "linear"\nalpha = 2.0\n\n[target]\nhorizons = [5, 20]\n\n'
        '[tracking]\nenabled = true\nuri = "http://user:secret@host"\n'
    )
    (path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HISTORY))
    (path / "metrics.json").write_text(json.dumps(METRICS))
    (path / "train_summary.json").write_text('{"best_epoch": 1, "stopped": "epochs"}')
    return path


def test_epoch_metrics_are_every_finite_history_value_at_its_epoch(run_dir):
    enhanced = run_dir / "enhanced"
    enhanced.mkdir()
    (enhanced / "history.jsonl").write_text(json.dumps({"epoch": 0, "train_loss": 0.75}) + "\n")
    assert epoch_metrics(run_dir) == [
        ("epoch.train_loss", 0.5, 0),
        ("epoch.lr", 0.001, 0),
        ("epoch.val_rank_ic.5d", 0.01, 0),
        ("epoch.train_loss", 0.25, 1),
        ("epoch.lr", 0.002, 1),
        ("epoch.val_rank_ic.5d", 0.03, 1),
        ("epoch.val_rank_ic.20d", 0.1, 1),
        ("enhanced.epoch.train_loss", 0.75, 0),
    ]


def test_final_metrics_flatten_the_headline_numbers_and_skip_nulls(run_dir):
    assert final_metrics(run_dir) == {
        "test.5d.rank_ic": 0.04,
        "test.5d.rank_icir": 0.5,
        "test.5d.long_short_net_sharpe": 1.25,
        "test.fold2.5d.rank_ic": -0.02,
        "summary.best_epoch": 1.0,
    }


def test_params_are_the_flat_config_without_tracking_and_the_run_facts(run_dir):
    assert config_params(run_dir) == {
        "model.kind": "linear",
        "model.alpha": "2.0",
        "target.horizons": "[5, 20]",
    }
    meta = {"schema_hash": "abc", "source_hashes": {"equities_bars_daily": "catalog:1"}}
    folder = run_dir.parents[1] / "datasets" / "tiny"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({**meta, "rows": 3}))
    expected = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()
    assert dataset_fingerprint("tiny") == (folder, expected)
    params = run_params(run_dir, load_run(run_dir))
    assert params["run.dataset_fingerprint"] == expected
    assert params["run.train"] == "2020-01-06..2020-03-31"
    assert params["run.test"] == "2020-05-01..2020-05-29"
    assert params["run.fold"] == "2"
    assert params["run.horizons"] == "[5, 20]"
    assert not any("secret" in v for v in params.values())


def test_git_commit_of_a_code_version():
    assert git_commit("0.1.0+g4fa02a275e7e") == "4fa02a275e7e"
    assert git_commit("0.1.0") is None
    assert dataset_fingerprint("absent")[1] is None
