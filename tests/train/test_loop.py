"""The training loop with a small linear stand-in model: history, checkpoints, resume, EMA,
early stopping, collapse guard, dead branches, and every searchable [train] field."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch

from gogooku.train.diagnostics import CollapseError, CollapseGuard, dead_branches, grad_norms
from gogooku.train.loop import Trainer, TrainError
from gogooku.train.schedule import lr_factor

HISTORY_KEYS = {
    "epoch", "lr", "train_loss", "loss_terms", "train_rank_ic", "train_ic", "val_rank_ic",
    "val_ic", "pred_std", "grad_norm", "activations", "dead_branches", "samples",
    "samples_per_s", "train_seconds", "seconds", "best", "val_sharpe",
}  # fmt: skip


def make(tiny_cfg, cache_and_fold, tmp_path, builder, name="run", **train):
    cache, fold = cache_and_fold
    cfg = tiny_cfg.model_copy(update={"train": tiny_cfg.train.model_copy(update=train)})
    return Trainer(cfg, cache, fold, tmp_path / name, builder=builder)


def weights(trainer):
    return torch.cat([p.detach().flatten() for p in trainer.model.parameters()])


def test_history_checkpoints_and_predictions(tiny_cfg, cache_and_fold, tmp_path, linear_builder):
    t = make(tiny_cfg, cache_and_fold, tmp_path, linear_builder, epochs=2)
    summary = t.fit()
    assert summary["epochs_run"] == 2
    rows = [json.loads(s) for s in (t.run_dir / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    for r in rows:
        assert set(r) == HISTORY_KEYS
        for key in ("train_rank_ic", "train_ic", "val_rank_ic", "val_ic", "pred_std"):
            assert set(r[key]) == {"1", "5", "20"}, key
        assert set(r["loss_terms"]) == {"rank", "cs_ic", "sharpe", "quantile"}
        assert set(r["grad_norm"]) >= {"point", "spread", "total"}
        assert set(r["activations"]) >= {"point", "branch"}
        # samples: listed stocks × training days (every training day, once per epoch)
        assert r["samples"] == int(t.cache.mask[t.train_loader.days].sum())
        assert r["pred_std"]["5"] > 0
    assert (t.run_dir / "checkpoints" / "last.pt").is_file()
    assert (t.run_dir / "checkpoints" / "best.pt").is_file()
    best = max(range(2), key=lambda i: rows[i]["val_rank_ic"]["5"])
    assert summary["best_epoch"] == best
    assert rows[best]["best"] is True


def test_resume_equals_training_straight_through(
    tiny_cfg, cache_and_fold, tmp_path, linear_builder
):
    straight = make(tiny_cfg, cache_and_fold, tmp_path, linear_builder, "a", epochs=3)
    straight.fit()
    first = make(tiny_cfg, cache_and_fold, tmp_path, linear_builder, "b", epochs=3)
    first.fit(max_epochs=1)
    assert len((first.run_dir / "history.jsonl").read_text().splitlines()) == 1
    resumed = make(tiny_cfg, cache_and_fold, tmp_path, linear_builder, "b", epochs=3)
    resumed.fit(resume=True)
    assert torch.equal(weights(straight), weights(resumed))
    assert torch.equal(
        torch.cat([v.flatten() for v in straight.ema.shadow.values()]),
        torch.cat([v.flatten() for v in resumed.ema.shadow.values()]),
    )
    a = [json.loads(s) for s in (straight.run_dir / "history.jsonl").read_text().splitlines()]
    b = [json.loads(s) for s in (resumed.run_dir / "history.jsonl").read_text().splitlines()]
    assert [r["val_rank_ic"] for r in a] == [r["val_rank_ic"] for r in b]
    assert [r["lr"] for r in a] == [r["lr"] for r in b]


def test_resume_without_checkpoint_is_an_error(tiny_cfg, cache_and_fold, tmp_path, linear_builder):
    t = make(tiny_cfg, cache_and_fold, tmp_path, linear_builder)
    with pytest.raises(TrainError, match=r"last\.pt does not exist"):
        t.fit(resume=True)


def test_collapse_guard_stops_a_constant_model(
    tiny_cfg, cache_and_fold, tmp_path, constant_builder
):
    cfg = tiny_cfg.model_copy(
        update={"loss": tiny_cfg.loss.model_copy(update={"quantile": 0.0, "sharpe": 0.0})}
    )
    t = make(cfg, cache_and_fold, tmp_path, constant_builder, epochs=5, collapse_checks=2)
    with pytest.raises(CollapseError, match=r"5d predictions stayed below .* 2 validation checks"):
        t.fit()
    rows = (t.run_dir / "history.jsonl").read_text().splitlines()
    assert len(rows) == 2, "stopped at the second low-std check"
    assert json.loads(rows[-1])["pred_std"]["5"] < 1e-6  # float rounding of a constant


def test_collapse_guard_counts_consecutive_checks():
    guard = CollapseGuard(0.1, 3)
    for s in (0.0, 0.0, 0.5, 0.0, 0.0):
        guard.check(s, 5, 0)
    with pytest.raises(CollapseError):
        guard.check(0.05, 5, 6)


def test_dead_branch_is_warned(tiny_cfg, cache_and_fold, tmp_path, linear_builder, caplog):
    def dead(f, h, c):
        return linear_builder(f, h, c, branch_scale=0.0)

    t = make(tiny_cfg, cache_and_fold, tmp_path, dead, epochs=1)
    with caplog.at_level(logging.WARNING, logger="gogooku.train.loop"):
        t.fit()
    assert "branch 'skip' is dead" in caplog.text
    row = json.loads((t.run_dir / "history.jsonl").read_text())
    assert row["dead_branches"] == ["skip"]
    assert dead_branches({"a": torch.zeros(2, 3), "b": torch.ones(2, 3)}, 1e-6) == ["a"]


def test_grad_norms_by_module():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    model[0].weight.grad = torch.full((2, 3), 1.0)
    model[0].bias.grad = torch.zeros(2)
    model[1].weight.grad = torch.tensor([[3.0, 4.0]])
    norms = grad_norms(model)
    assert norms["0"] == pytest.approx(math.sqrt(6))
    assert norms["1"] == pytest.approx(5.0)
    assert norms["total"] == pytest.approx(math.sqrt(31))


def test_lr_schedule_by_hand():
    assert lr_factor(0, 100, 10, True, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, True, 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, True, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, True, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(100, 100, 10, True, 0.1) == pytest.approx(0.1)
    assert lr_factor(55, 100, 10, False, 0.1) == 1.0


def test_cuda_device_without_cuda_is_refused(
    tiny_cfg, cache_and_fold, tmp_path, linear_builder, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TrainError, match=r"train\.device = 'cuda'"):
        make(tiny_cfg, cache_and_fold, tmp_path, linear_builder, device="cuda")


# -- every [train] field a search may change reaches the run ------------------------------------
def _run(tiny_cfg, cache_and_fold, tmp_path, builder, name, **train):
    t = make(tiny_cfg, cache_and_fold, tmp_path, builder, name, **{"epochs": 1, **train})
    try:
        summary = t.fit()
    except CollapseError:
        summary = {"collapsed": True}
    rows = [json.loads(s) for s in (t.run_dir / "history.jsonl").read_text().splitlines()]
    return {"weights": weights(t), "rows": rows, "summary": summary}


# field -> changed value; fields that only select hardware or display are listed apart
CHANGES = {
    "epochs": 2,
    "lr": 0.02,
    "weight_decay": 0.5,
    "warmup_frac": 0.5,
    "cosine": False,
    "min_lr_ratio": 0.5,
    "grad_clip": 1e-3,
    "ema_decay": 0.0,
    "patience": 1,
    "seed": 99,
    "collapse_std": 1e9,
    "collapse_checks": 2,
    "dead_branch_eps": 1e9,
    "diagnostics_every": 1,
}
NOT_SEARCHED = {
    "device": "hardware choice (test_cuda_device_without_cuda_is_refused)",
    "amp": "bf16 autocast, CUDA only",
    "compile": "torch.compile, CUDA only",
    "progress": "display only",
    "phases": "switches the ATFT's parts (tests/train/test_phases.py)",
}


def _fingerprint(result):
    rows = result["rows"]
    return (
        tuple(result["weights"].tolist()),
        tuple(json.dumps(r["val_rank_ic"]) for r in rows),
        tuple(r["lr"] for r in rows),
        tuple(tuple(r["dead_branches"]) for r in rows),
        tuple(json.dumps(r["grad_norm"]) for r in rows),
        len(rows),
        "collapsed" in result["summary"],
    )


def test_every_train_field_changes_the_run(tiny_cfg, cache_and_fold, tmp_path, linear_builder):
    from gogooku.train.config import TrainConfig

    assert set(CHANGES) | set(NOT_SEARCHED) == set(TrainConfig.model_fields)
    base_kwargs = {"collapse_checks": 1}
    base = _fingerprint(
        _run(tiny_cfg, cache_and_fold, tmp_path, linear_builder, "base", **base_kwargs)
    )
    for name, value in CHANGES.items():
        kwargs = {**base_kwargs, name: value}
        if name == "patience":
            # patience acts once validation stops improving: a tiny lr leaves the ranks unchanged
            slow = {"epochs": 3, "lr": 1e-9}
            ref = _run(tiny_cfg, cache_and_fold, tmp_path, linear_builder, "p3", **slow, patience=3)
            got = _run(tiny_cfg, cache_and_fold, tmp_path, linear_builder, "p1", **slow, patience=1)
            assert len(got["rows"]) == 2 < len(ref["rows"]) == 3, "patience"
            continue
        if name == "collapse_checks":
            # the streak length only acts once the std is below the threshold
            low = {"epochs": 2, "collapse_std": 1e9}
            one = _run(
                tiny_cfg, cache_and_fold, tmp_path, linear_builder, "c1", **low, **base_kwargs
            )
            two = _run(tiny_cfg, cache_and_fold, tmp_path, linear_builder, "c2", **low, **kwargs)
            assert one["summary"] == two["summary"] == {"collapsed": True}
            assert len(one["rows"]) == 1 and len(two["rows"]) == 2, name
            continue
        got = _fingerprint(_run(tiny_cfg, cache_and_fold, tmp_path, linear_builder, name, **kwargs))
        assert got != base, f"train.{name} = {value!r} changed nothing"


def test_on_epoch_sees_each_row_and_its_exception_stops_training(
    tiny_cfg, cache_and_fold, tmp_path, linear_builder
):
    seen = []

    class Stop(Exception):
        pass

    def hook(epoch, row):
        seen.append((epoch, row["val_rank_ic"]["5"]))
        if epoch == 1:
            raise Stop

    t = make(tiny_cfg, cache_and_fold, tmp_path, linear_builder, epochs=4, patience=10)
    with pytest.raises(Stop):
        t.fit(on_epoch=hook)
    assert [e for e, _ in seen] == [0, 1]
    rows = [json.loads(s) for s in (t.run_dir / "history.jsonl").read_text().splitlines()]
    assert [r["val_rank_ic"]["5"] for r in rows] == [v for _, v in seen]
    assert (t.run_dir / "checkpoints" / "last.pt").is_file()
