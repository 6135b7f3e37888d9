"""Every parameter of the shipped ATFT search space (configs/hpo_atft.toml [search]) reaches the
run: its two extreme values, set through the search's own ``apply_params``, give different
trained weights, EMA weights or history after one epoch on the tiny dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gogooku.config import CONFIGS_DIR
from gogooku.dataset.build import dataset_dir
from gogooku.dataset.cache import open_cache
from gogooku.hpo.space import apply_params, load_hpo_config
from gogooku.train.loop import HISTORY_FILE, Trainer
from gogooku.train.run import select_fold

from .conftest import ATFT

SHIPPED = CONFIGS_DIR / "hpo_atft.toml"
# three optimiser steps per epoch keep the 2 x 8 one-epoch fits fast
FAST = ATFT.replace("days_per_batch = 4", "days_per_batch = 20").replace("epochs = 2", "epochs = 1")


def _fingerprint(cfg, tmp_path: Path, name: str) -> tuple:
    trainer = Trainer(
        cfg, open_cache(dataset_dir("tiny")), select_fold("tiny", cfg, 0), tmp_path / name
    )
    trainer.fit()
    weights = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    ema = torch.cat([t.flatten() for t in trainer.ema.shadow.values()])
    rows = (trainer.run_dir / HISTORY_FILE).read_text().splitlines()
    history = tuple((r["train_loss"], json.dumps(r["val_rank_ic"])) for r in map(json.loads, rows))
    return weights, ema, history


def _differ(a: tuple, b: tuple) -> bool:
    (wa, ea, ha), (wb, eb, hb) = a, b
    same_w = wa.shape == wb.shape and torch.equal(wa, wb)
    same_e = ea.shape == eb.shape and torch.equal(ea, eb)
    return not (same_w and same_e and ha == hb)


@pytest.mark.slow
def test_every_searched_atft_parameter_changes_the_run(home, write_config, tmp_path):
    search = SHIPPED.read_text().split("\n[search]\n", 1)[1]
    base, space = load_hpo_config(write_config(FAST + "\n[search]\n" + search))
    shipped_base, shipped_space = load_hpo_config(SHIPPED)
    assert shipped_space == space and shipped_base.model.kind == "atft"
    for path, dist in space.params.items():
        low, high = dist.candidates()[0], dist.candidates()[-1]
        assert low != high, path
        cfgs = [apply_params(base, {path: v}) for v in (low, high)]
        section, *rest = path.split(".")
        values = [getattr(getattr(c, section), rest[-1]) for c in cfgs]
        assert values == [low, high], path
        a, b = (_fingerprint(c, tmp_path, f"{path}-{i}") for i, c in enumerate(cfgs))
        assert _differ(a, b), f"{path}: {low!r} and {high!r} trained the same run"
