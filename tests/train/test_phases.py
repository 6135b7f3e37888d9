"""Phase training ([train] phases) on the tiny market with a small ATFT, and the run-config
checks of the new training switches."""

from __future__ import annotations

import json

import pytest
import torch

from gogooku.config import ConfigError
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.cache import open_cache
from gogooku.train.config import load_run_config
from gogooku.train.loop import Trainer
from gogooku.train.run import select_fold
from gogooku.train.schedule import lr_factor

PHASES = [
    "train.epochs=3",
    'train.phases=[{epochs=1, off=["norm", "gat"], freeze=["attention"]}, '
    '{epochs=1, freeze=["encoder", "norm"]}, {epochs=1, lr_scale=0.5}]',
    "model.norm=san",
    "model.san_slice=5",
    "data.splits.train_days=24",
    "data.splits.val_days=10",
    "data.loader.days_per_batch=4",
]


def _snapshot(model) -> dict[str, list[torch.Tensor]]:
    return {k: [p.detach().clone() for p in ps] for k, ps in model.parameters_of().items()}


def _moved(a, b) -> dict[str, bool]:
    return {k: any(not torch.equal(x, y) for x, y in zip(a[k], b[k], strict=True)) for k in a}


def test_phases_switch_freeze_and_rescale(home, config_file, tmp_path):
    cfg = load_run_config(config_file, PHASES)
    cache, fold = open_cache(dataset_dir("tiny")), select_fold("tiny", cfg, 0)
    t = Trainer(cfg, cache, fold, tmp_path / "run")
    snaps = [_snapshot(t.model)]
    grads = []

    def hook(epoch, row):
        snaps.append(_snapshot(t.model))
        grads.append(
            {k: [p.requires_grad for p in ps] for k, ps in t.model.parameters_of().items()}
        )

    summary = t.fit(on_epoch=hook)
    # phase 0: norm and gat bypassed, attention frozen: only the encoder trains
    assert _moved(snaps[0], snaps[1]) == {
        "norm": False, "attention": False, "gat": False, "encoder": True
    }  # fmt: skip
    assert not any(grads[0]["norm"] + grads[0]["gat"] + grads[0]["attention"])
    # phase 1: everything switched on, encoder and norm frozen
    assert _moved(snaps[1], snaps[2]) == {
        "norm": False, "attention": True, "gat": True, "encoder": False
    }  # fmt: skip
    # phase 2: all parts train, at half the scheduled lr
    assert all(_moved(snaps[2], snaps[3]).values())
    assert all(all(v) for v in grads[2].values()) and t.model.off == set()
    rows = [json.loads(s) for s in (t.run_dir / "history.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in rows] == [0, 1, 2]
    steps = len(t.train_loader)
    tc = cfg.train
    warmup = -(-int(tc.warmup_frac * 3 * steps * 100) // 100)
    factor = lr_factor(2 * steps, 3 * steps, max(warmup, 1), tc.cosine, tc.min_lr_ratio)
    assert rows[2]["lr"] == pytest.approx(0.5 * tc.lr * factor)
    assert rows[1]["lr"] == pytest.approx(
        tc.lr * lr_factor(steps, 3 * steps, max(warmup, 1), tc.cosine, tc.min_lr_ratio)
    )
    # only the last (whole-model) phase competes for best.pt
    assert summary["best_epoch"] == 2 and [r["best"] for r in rows] == [False, False, True]
    assert all(isinstance(r["val_sharpe"], float) for r in rows)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.epochs=3", "train.phases=[{epochs=1}]"], "last 1 epochs in all"),
        (
            ["train.epochs=2", 'train.phases=[{epochs=1}, {epochs=1, off=["gat"]}]'],
            "last of train.phases switches off",
        ),
        (["train.epochs=1", 'train.phases=[{epochs=1, freeze=["fan"]}]'], r"phases\[0\].freeze"),
        (
            ["train.epochs=2", 'train.phases=[{epochs=1, off=["encoder"]}, {epochs=1}]'],
            r"phases\[0\].off",
        ),
        (["loss.dmn=1.0"], "contiguous_days = true"),
        (
            ["loss.dmn=1.0", "data.loader.contiguous_days=true", "data.loader.days_per_batch=1"],
            "days_per_batch >= 2",
        ),
        (["model.norm=san", "model.san_slice=3"], "san_slice=3"),
        (["model.fan=false", "model.norm=fan"], "disagree"),
    ],
)
def test_new_switches_are_checked_with_the_key(config_file, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(config_file, overrides)


def test_phases_need_a_kind_with_parts(apex_config_file):
    with pytest.raises(ConfigError, match="model kind 'apex' has no parts"):
        load_run_config(apex_config_file, ["train.phases=[{epochs=1}]"])
