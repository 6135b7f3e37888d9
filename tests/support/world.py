"""A tiny trained world shared by tests/bundle and tests/serve: a synthetic 24-stock dataset
(2020, the session's ``tiny_home``, i.e. ``tiny_market("returns,sector")`` of tests/conftest.py),
and four runs on fold 0 (LightGBM ``lg``, two seeds, ridge ``ln``, ATFT ``at`` and APEX ``ap`` —
market gate on the sector block — with hidden size 16, window 5, one epoch), built once per test
session under pytest's base temp folder (the session fixture ``trained_world`` calls ``world``)."""

from __future__ import annotations

import os
from pathlib import Path

from .configs import SPLITS

DATA = (
    SPLITS
    + """
[data.loader]
window = 5
days_per_batch = 2
seed = 3

[target]
horizons = [1, 5, 20]
"""
)
MODELS = {
    "lg": 'kind = "lgbm"\nnum_boost_round = 20\nmin_data_in_leaf = 20\nnum_threads = 1\nseeds = 2\n',
    "ln": 'kind = "linear"\n',
    "at": 'kind = "atft"\nhidden_size = 16\nattention_heads = 2\ngat_heads = 1\nwindow = 5\n'
    "static_embedding_dim = 2\n",
    "ap": 'kind = "apex"\nwindow = 5\nhidden_size = 16\nattention_heads = 2\nencoder_layers = 1\n'
    'attention_layers = 1\nmarket_blocks = ["sector"]\n',
}
TRAIN = "\n[train]\nepochs = 1\nlr = 0.003\nseed = 5\nprogress = false\ndiagnostics_every = 10\n"


def run_config(kind: str, **model_overrides: str) -> str:
    model = MODELS[kind] + "".join(f"{k} = {v}\n" for k, v in model_overrides.items())
    return DATA + "\n[model]\n" + model + (TRAIN if kind in ("at", "ap") else "")


def world(tmp_path_factory, market: Path) -> Path:
    """The session's GOGOOKU_HOME with ``market``'s raw/ and datasets/tiny linked in and
    runs/{lg,ln,at,ap} trained on them."""
    home = tmp_path_factory.getbasetemp() / "bundle_world"
    if (home / "done").exists():
        return home
    from gogooku.config import load_config
    from gogooku.train.config import RunConfig
    from gogooku.train.run import train_run

    home.mkdir(parents=True, exist_ok=True)
    for name in ("raw", "datasets"):
        (home / name).symlink_to(market / name, target_is_directory=True)
    old = os.environ.get("GOGOOKU_HOME")
    os.environ["GOGOOKU_HOME"] = str(home)
    try:
        for run, kind in (("lg", "lgbm"), ("ln", "linear"), ("at", "atft"), ("ap", "apex")):
            path = home / f"{run}.toml"
            path.write_text(run_config(run))
            cfg = load_config(path, RunConfig)
            train_run(kind, "tiny", cfg, run_id=run, fold_index=0, evaluate=False)
    finally:
        if old is None:
            os.environ.pop("GOGOOKU_HOME", None)
        else:
            os.environ["GOGOOKU_HOME"] = old
    (home / "done").touch()
    return home
