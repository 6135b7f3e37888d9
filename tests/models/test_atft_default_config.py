"""configs/atft.toml is a complete run config whose model builds for the demo dataset's shapes."""

from __future__ import annotations

import torch

from gogooku.config import CONFIGS_DIR
from gogooku.models.atft_gat_fan import AtftConfig, build_atft
from gogooku.train.config import load_run_config

from .conftest import make_batch

CONFIG = CONFIGS_DIR / "atft.toml"


def test_default_atft_config_loads_and_builds():
    cfg = load_run_config(CONFIG)
    assert isinstance(cfg.model, AtftConfig)
    assert cfg.model.window == cfg.data.loader.window
    model = build_atft(cfg.model, 6, cfg.target.horizons, (34, 18, 4)).eval()
    batch = make_batch(length=cfg.model.window, f=6, n=5)
    out = model(batch)
    assert out.point.shape == (2, 5, len(cfg.target.horizons))
    assert out.quantile_levels == tuple(cfg.model.quantiles)
    assert torch.isfinite(out.quantiles).all()
