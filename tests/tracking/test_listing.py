"""``gogooku runs list``: rows from hand-made run folders, filters, sort, JSON and table, and a
corrupt folder listed with its problem."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.runs import FoldRanges, Ranges, create_run, write_run_info

D = dt.date
RANGES = Ranges(
    train=(D(2020, 1, 6), D(2020, 3, 31)),
    valid=(D(2020, 4, 1), D(2020, 4, 30)),
    test=(D(2020, 5, 1), D(2020, 5, 29)),
)


def _metrics(rank_ic: float, icir: float, sharpe: float | None) -> dict:
    entry = {
        "signal": {"rank_ic_mean": rank_ic, "rank_icir": icir},
        "portfolio": {"long_short": {"net": {"sharpe": sharpe}}},
    }
    return {"main_horizon": 5, "splits": {"test": {"horizons": {"5d": entry}}}}


def _run(run_id: str, model: str, dataset: str, created: dt.datetime, metrics=None, folds=None):
    run_dir, info = create_run(model, dataset, [1, 5], RANGES, run_id=run_id, folds=folds)
    write_run_info(run_dir, info.model_copy(update={"created_at": created}))
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


@pytest.fixture
def runs(_isolated_home):
    utc = dt.UTC
    _run("a", "lgbm", "jq", dt.datetime(2026, 1, 2, tzinfo=utc), _metrics(0.02, 0.3, 1.5))
    _run("b", "linear", "jq", dt.datetime(2026, 3, 1, tzinfo=utc), _metrics(0.05, 0.2, None))
    _run("c", "lgbm", "us", dt.datetime(2026, 2, 1, tzinfo=utc))
    folds = [FoldRanges(fold=k, ranges=RANGES, group=k) for k in (3, 4)]
    _run("wf", "lgbm", "jq", dt.datetime(2026, 4, 1, tzinfo=utc), _metrics(0.01, 0.1, 0.5), folds)
    broken = _isolated_home / "runs" / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    bad_metrics = _run("d", "factor", "jq", dt.datetime(2026, 1, 1, tzinfo=utc))
    (bad_metrics / "metrics.json").write_text("[]")
    return _isolated_home


def _json(*args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["runs", "list", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_every_folder_is_a_row_newest_first_with_its_figures_or_problem(runs):
    rows = _json()
    assert [r["run_id"] for r in rows] == ["wf", "b", "c", "a", "d", "broken"]
    by_id = {r["run_id"]: r for r in rows}
    assert by_id["a"] | {"created_at": None} == {
        "run_id": "a",
        "model": "lgbm",
        "dataset": "jq",
        "kind": "run",
        "n_folds": None,
        "train": "2020-01-06..2020-03-31",
        "test": "2020-05-01..2020-05-29",
        "created_at": None,
        "evaluated": True,
        "main_horizon": 5,
        "rank_ic": 0.02,
        "rank_icir": 0.3,
        "ls_sharpe": 1.5,
        "problem": None,
    }
    assert (by_id["wf"]["kind"], by_id["wf"]["n_folds"]) == ("walkforward", 2)
    assert by_id["c"]["evaluated"] is False
    assert by_id["c"]["rank_ic"] is by_id["c"]["main_horizon"] is None
    assert by_id["d"]["evaluated"] is False and "metrics.json: unreadable" in by_id["d"]["problem"]
    assert "invalid run.json" in by_id["broken"]["problem"] and by_id["broken"]["model"] is None


def test_filters_sort_and_limit(runs):
    assert [r["run_id"] for r in _json("--model", "lgbm")] == ["wf", "c", "a"]
    assert [r["run_id"] for r in _json("--dataset", "jq", "--since", "2026-01-02")] == [
        "wf",
        "b",
        "a",
    ]
    assert [r["run_id"] for r in _json("--sort", "rank_ic")] == [
        "b", "a", "wf", "c", "d", "broken"
    ]  # fmt: skip
    assert [r["run_id"] for r in _json("--sort", "ls_sharpe", "--limit", "2")] == ["a", "wf"]
    assert [r["run_id"] for r in _json("--sort", "run_id", "--limit", "1")] == ["a"]


def test_table_and_bad_options(runs):
    result = CliRunner().invoke(app, ["runs", "list", "--model", "lgbm"])
    assert result.exit_code == 0, result.output
    line = next(s for s in result.output.splitlines() if "│ a " in s)
    assert "+0.0200" in line and "+0.3000" in line and "+1.5000" in line and "yes" in line
    assert "(2 folds)" in result.output
    bad = CliRunner().invoke(app, ["runs", "list", "--sort", "nonsense"])
    assert bad.exit_code == 1
    assert "runs list failed: --sort 'nonsense': expected one of created_at" in bad.output
    assert "Traceback" not in bad.output
    assert CliRunner().invoke(app, ["runs", "list", "--since", "May"]).exit_code == 2


def test_no_runs_folder_lists_nothing(_isolated_home):
    assert _json() == []
