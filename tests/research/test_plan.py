"""Walk-forward planning: --folds parsing, refit groups, seeds, picklable fit tasks."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

from gogooku.config import SplitConfig
from gogooku.dataset.splits import walk_forward
from gogooku.research.plan import (
    FitTask,
    WalkForwardError,
    fit_name,
    group_folds,
    merge_folds,
    parse_folds,
    seed_config,
)
from gogooku.train.config import RunConfig, default_run_config

DATES = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(200)]
# train 20, val 10, test 10, gap 3: fold k tests positions 36+10k..45+10k → 16 folds (0..15)
SPLITS = SplitConfig(
    scheme="rolling", train_days=20, val_days=10, test_days=10, label_horizon=2, purge_days=3
)


@pytest.mark.parametrize(
    ("spec", "n", "expected"),
    [
        ("all", 3, [0, 1, 2]),
        (" all ", 1, [0]),
        ("last:1", 5, [4]),
        ("last:3", 5, [2, 3, 4]),
        ("last:5", 5, [0, 1, 2, 3, 4]),
        ("0..0", 5, [0]),
        ("1..3", 5, [1, 2, 3]),
        ("2..4", 5, [2, 3, 4]),
    ],
)
def test_parse_folds(spec, n, expected):
    assert parse_folds(spec, n) == expected


@pytest.mark.parametrize(
    ("spec", "n", "message"),
    [
        ("last:0", 5, "N must be 1..5"),
        ("last:6", 5, "N must be 1..5"),
        ("3..1", 5, "A <= B"),
        ("2..5", 5, "fold 5 does not exist (the dataset has folds 0..4)"),
        ("1,2", 5, "expected 'all', 'last:N' or 'A..B'"),
        ("last:x", 5, "expected 'all', 'last:N' or 'A..B'"),
        ("-1..2", 5, "expected 'all', 'last:N' or 'A..B'"),
        ("all", 0, "no walk-forward folds"),
    ],
)
def test_parse_folds_errors_name_the_option(spec, n, message):
    with pytest.raises(WalkForwardError, match="--folds") as err:
        parse_folds(spec, n)
    assert message in str(err.value)


def test_groups_share_the_first_folds_fit_and_extend_its_test_block():
    folds = walk_forward(DATES, SPLITS)
    assert len(folds) == 16
    groups = group_folds(folds, [3, 4, 5, 6, 7], refit_every=2)
    assert [g.first for g in groups] == [3, 5, 7]
    assert [[f.index for f in g.folds] for g in groups] == [[3, 4], [5, 6], [7]]
    g = groups[0].fold
    assert g.index == 3 and g.train == folds[3].train and g.val == folds[3].val
    assert (g.test.lo, g.test.hi) == (66, 85)  # fold 3's test start .. fold 4's test end
    assert (g.test.start, g.test.end) == (DATES[66], DATES[85])
    assert groups[2].fold == folds[7]  # a group of one fold is that fold
    assert merge_folds([folds[0]]) == folds[0]


def test_refit_every_one_is_one_fit_per_fold():
    folds = walk_forward(DATES, SPLITS)
    groups = group_folds(folds, parse_folds("last:3", len(folds)), refit_every=1)
    assert [g.fold for g in groups] == folds[13:]


def test_overlapping_test_windows_are_refused():
    folds = walk_forward(DATES, SPLITS.model_copy(update={"step_days": 5}))
    with pytest.raises(WalkForwardError, match="overlap"):
        group_folds(folds, [0, 1], refit_every=1)
    with pytest.raises(WalkForwardError, match="--refit-every 0"):
        group_folds(folds, [0], refit_every=0)


def test_seed_config_adds_the_seed_to_train_and_model_seed():
    lgbm = default_run_config("lgbm")
    lgbm = lgbm.model_copy(
        update={
            "train": lgbm.train.model_copy(update={"seed": 5}),
            "model": lgbm.model.model_copy(update={"seed": 7}),
        }
    )
    assert seed_config(lgbm, 0) is lgbm
    two = seed_config(lgbm, 2)
    assert (two.train.seed, two.model.seed) == (7, 9)
    assert (lgbm.train.seed, lgbm.model.seed) == (5, 7)
    linear = seed_config(default_run_config("linear"), 3)  # no [model] seed
    assert linear.train.seed == 3 and "seed" not in type(linear.model).model_fields


def test_a_fit_task_pickles_and_its_config_round_trips(tmp_path):
    cfg = seed_config(default_run_config("lgbm"), 1)
    fold = walk_forward(DATES, SPLITS)[0]
    task = FitTask("lgbm", "d", cfg.model_dump(), fold, 1, fit_name(0, 1), tmp_path, Path("/h"))
    back = pickle.loads(pickle.dumps(task))
    assert back == task and back.run_dir == tmp_path / "g000-s1"
    assert RunConfig.model_validate(back.cfg) == cfg
    assert fit_name(12, 0) == "g012-s0"


def test_check_ranges_checks_each_fold_of_a_walk_forward_run():
    from gogooku.evaluate.evaluator import EvaluationError, check_ranges
    from gogooku.runs import FoldRanges, Ranges, RunInfo

    d = dt.date
    first = Ranges(
        train=(d(2021, 1, 4), d(2021, 1, 29)),
        valid=(d(2021, 2, 1), d(2021, 2, 26)),
        test=(d(2021, 3, 1), d(2021, 3, 31)),
    )
    # a later fold's fit trains over the first fold's test days: fine, its own test is later
    later = Ranges(
        train=(d(2021, 2, 1), d(2021, 3, 31)),
        valid=(d(2021, 4, 1), d(2021, 4, 30)),
        test=(d(2021, 5, 3), d(2021, 5, 31)),
    )
    info = RunInfo(
        run_id="wf",
        model="linear",
        dataset="t",
        horizons=[1],
        created_at=dt.datetime(2021, 6, 1, tzinfo=dt.UTC),
        code_version="0",
        ranges=first.model_copy(update={"test": (d(2021, 3, 1), d(2021, 5, 31))}),
        folds=[
            FoldRanges(fold=0, ranges=first, group=0),
            FoldRanges(fold=1, ranges=later, group=1),
        ],
    )
    check_ranges(info)
    leaky = later.model_copy(update={"train": (d(2021, 2, 1), d(2021, 5, 5))})
    info.folds[1] = FoldRanges(fold=1, ranges=leaky, group=1)
    with pytest.raises(EvaluationError, match="run wf fold 1: valid range"):
        check_ranges(info)


def test_gpus_per_task_only_for_neural_kinds_that_may_use_cuda(monkeypatch):
    from types import SimpleNamespace

    import torch

    from gogooku.research import walkforward

    kinds = {"net": SimpleNamespace(neural=True), "rows": SimpleNamespace(neural=False)}
    monkeypatch.setattr(walkforward, "get_kind", kinds.__getitem__)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def cfg(device: str):
        return SimpleNamespace(train=SimpleNamespace(device=device))

    assert [walkforward.gpus_per_task("net", cfg(d)) for d in ("auto", "cuda", "cpu")] == [1, 1, 0]
    assert walkforward.gpus_per_task("rows", cfg("auto")) == 0
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert walkforward.gpus_per_task("net", cfg("auto")) == 0
