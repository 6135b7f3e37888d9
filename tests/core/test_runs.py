"""Run folders: run.json round trip, the predictions contract and atomic writes."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from gogooku.runs import (
    RunError,
    RunInfo,
    create_run,
    load_run,
    read_predictions,
    resolve_run_dir,
    split_expr,
    write_predictions,
)

D = dt.date
RANGES = {
    "train": (D(2021, 1, 4), D(2021, 1, 29)),
    "valid": (D(2021, 2, 1), D(2021, 2, 26)),
    "test": (D(2021, 3, 1), D(2021, 3, 31)),
}


def _preds(dates_splits: list[tuple[dt.date, str]], horizons=(1, 5)) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "Date": [d for d, _ in dates_splits],
            "Code": ["13010"] * len(dates_splits),
            **{f"pred_{h}d": [0.1 * i for i in range(len(dates_splits))] for h in horizons},
            "split": [s for _, s in dates_splits],
        }
    )


def test_create_load_and_write_predictions(_isolated_home):
    run_dir, info = create_run("lgbm", "t1", [5, 1], RANGES, params={"lr": 0.1}, run_id="r1")
    assert run_dir == _isolated_home / "runs" / "r1"
    loaded = load_run(run_dir)
    assert loaded == info
    assert loaded.horizons == [1, 5]
    assert loaded.ranges.test == RANGES["test"]
    raw = json.loads((run_dir / "run.json").read_text())
    assert raw["ranges"]["train"] == ["2021-01-04", "2021-01-29"]
    assert raw["code_version"].startswith("0.")
    frame = _preds([(D(2021, 1, 5), "train"), (D(2021, 2, 2), "valid"), (D(2021, 3, 2), "test")])
    write_predictions(run_dir, frame.reverse())
    back = read_predictions(run_dir)
    assert back.columns == ["Date", "Code", "pred_1d", "pred_5d", "split"]
    assert back["split"].to_list() == ["train", "valid", "test"]
    assert {p.name for p in run_dir.iterdir()} == {"run.json", "predictions.parquet"}
    assert resolve_run_dir("r1") == run_dir
    with pytest.raises(RunError, match="already exists"):
        create_run("lgbm", "t1", [1], RANGES, run_id="r1")


def test_mislabelled_split_is_refused_with_dates(_isolated_home):
    run_dir, _ = create_run("m", "t1", [1, 5], RANGES, run_id="r2")
    leak = _preds([(D(2021, 1, 20), "test"), (D(2021, 1, 21), "test")])
    with pytest.raises(
        RunError, match=r"2 rows labelled 'test'.*2021-03-01..2021-03-31.*2021-01-20"
    ):
        write_predictions(run_dir, leak)
    assert not (run_dir / "predictions.parquet").exists()
    assert [p.name for p in run_dir.iterdir()] == ["run.json"]  # no temp file left behind


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop("pred_5d"), "missing column 'pred_5d'"),
        (lambda f: f.with_columns(pl.col("Date").cast(pl.String)), "'Date' is String"),
        (lambda f: f.with_columns(split=pl.lit("holdout")), "split"),
        (lambda f: pl.concat([f, f]), "duplicate"),
        (lambda f: f.with_columns(pl.col("pred_1d").cast(pl.Int64)), "expected a float"),
    ],
)
def test_predictions_contract_errors(_isolated_home, mutate, message):
    run_dir, _ = create_run("m", "t1", [1, 5], RANGES, run_id="r3")
    with pytest.raises(RunError, match=message):
        write_predictions(run_dir, mutate(_preds([(D(2021, 3, 2), "test")])))


def test_run_info_is_strict():
    base = {
        "run_id": "x",
        "model": "m",
        "dataset": "d",
        "horizons": [1],
        "created_at": "2026-01-01T00:00:00Z",
        "code_version": "0.1.0",
        "ranges": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in RANGES.items()},
    }
    RunInfo.model_validate(base)
    with pytest.raises(ValueError, match="extra"):
        RunInfo.model_validate({**base, "surprise": 1})
    with pytest.raises(ValueError, match="after end"):
        RunInfo.model_validate(
            {**base, "ranges": {**base["ranges"], "test": ["2021-04-01", "2021-03-01"]}}
        )
    with pytest.raises(ValueError, match="distinct positive"):
        RunInfo.model_validate({**base, "horizons": [1, 1]})


def test_split_expr_assigns_by_range():
    info_ranges = RunInfo.model_validate(
        {
            "run_id": "x",
            "model": "m",
            "dataset": "d",
            "horizons": [1],
            "created_at": "2026-01-01T00:00:00Z",
            "code_version": "v",
            "ranges": RANGES,
        }
    ).ranges
    frame = pl.DataFrame(
        {"Date": [D(2021, 1, 4), D(2021, 1, 30), D(2021, 2, 26), D(2021, 3, 31), D(2021, 4, 1)]}
    )
    assert frame.select(split_expr(info_ranges))["literal"].to_list() == [
        "train",
        None,
        "valid",
        "test",
        None,
    ]


def test_missing_run_is_named(_isolated_home):
    with pytest.raises(RunError, match="no run 'nope'"):
        resolve_run_dir("nope")


def _wf_folds():
    from gogooku.runs import FoldRanges, Ranges

    march, april = (D(2021, 3, 1), D(2021, 3, 31)), (D(2021, 4, 1), D(2021, 4, 30))
    base = Ranges(**RANGES)
    return [
        FoldRanges(fold=3, ranges=base, group=3),
        FoldRanges(fold=4, ranges=base.model_copy(update={"test": april}), group=3),
    ], {**RANGES, "test": (march[0], april[1])}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f, None),
        (lambda f: f.drop("fold"), "missing column 'fold'"),
        (lambda f: f.with_columns(fold=pl.lit(5, dtype=pl.Int32)), r"folds \[5\] not in"),
        (lambda f: f.with_columns(fold=pl.lit(4, dtype=pl.Int32)), "rows of fold 4 lie outside"),
        (
            lambda f: f.with_columns(
                Date=pl.Series([D(2021, 2, 1), D(2021, 2, 2)]), split=pl.lit("valid")
            ),
            "test rows only",
        ),
    ],
)
def test_walk_forward_predictions_contract(_isolated_home, mutate, message):
    folds, ranges = _wf_folds()
    run_dir, _ = create_run("linear", "t1", [1, 5], ranges, run_id="wf", folds=folds)
    assert load_run(run_dir).folds == folds
    frame = _preds([(D(2021, 3, 2), "test"), (D(2021, 4, 2), "test")]).with_columns(
        fold=pl.Series([3, 4], dtype=pl.Int32), n_seeds=pl.lit(2, dtype=pl.Int32)
    )
    if message is None:
        write_predictions(run_dir, frame)
        assert read_predictions(run_dir).columns[-2:] == ["fold", "n_seeds"]
    else:
        with pytest.raises(RunError, match=message):
            write_predictions(run_dir, mutate(frame))


def test_a_plain_run_json_has_no_folds_key(_isolated_home):
    run_dir, _ = create_run("lgbm", "t1", [1], RANGES, run_id="plain")
    assert "folds" not in json.loads((run_dir / "run.json").read_text())
