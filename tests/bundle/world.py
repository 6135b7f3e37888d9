"""A tiny trained world shared by tests/bundle and tests/serve: a synthetic 24-stock dataset
(2020) fetched and built through the real CLI, and four runs on fold 0 (LightGBM ``lg``, ridge
``ln``, ATFT ``at`` and APEX ``ap`` — market gate on the sector block — with hidden size 16,
window 5, one epoch), built once per test session under
pytest's base temp folder (both folders' conftests call ``world``)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import typer
from typer.testing import CliRunner

from gogooku.dataset.cli import build_command
from gogooku.store.cli import fetch_command

FETCH = [
    "fetch", "--source", "synthetic", "--seed", "11", "--stocks", "24",
    "--start", "2020-01-01", "--end", "2020-12-31",
    "--datasets", "equities_bars_daily,equities_master,indices_topix",
]  # fmt: skip
BUILD = ["build", "--start", "2020-03-02", "--end", "2020-12-30", "--name", "tiny"]
BUILD += ["--blocks", "returns,sector"]

DATA = """
[data.splits]
scheme = "rolling"
train_days = 60
val_days = 20
test_days = 20
label_horizon = 20
purge_days = 21
first_day = 9

[data.loader]
window = 5
days_per_batch = 2
seed = 3

[loss]
horizons = [1, 5, 20]
"""
MODELS = {
    "lg": 'kind = "lgbm"\nnum_boost_round = 20\nmin_data_in_leaf = 20\nnum_threads = 1\n',
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


def world(tmp_path_factory) -> Path:
    """The session's GOGOOKU_HOME with raw/, datasets/tiny and runs/{lg,ln,at,ap}."""
    home = tmp_path_factory.getbasetemp() / "bundle_world"
    if (home / "done").exists():
        return home
    from gogooku.config import load_config
    from gogooku.train.cli import train_run
    from gogooku.train.config import RunConfig

    old = os.environ.get("GOGOOKU_HOME")
    os.environ["GOGOOKU_HOME"] = str(home)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        app = typer.Typer()
        app.command("fetch")(fetch_command)
        app.command("build")(build_command)
        for args in (FETCH, BUILD):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
        for run, kind in (("lg", "lgbm"), ("ln", "linear"), ("at", "atft"), ("ap", "apex")):
            path = home / f"{run}.toml"
            path.write_text(run_config(run))
            train_run(kind, "tiny", load_config(path, RunConfig), run_id=run, evaluate=False)
    finally:
        torch.set_num_threads(threads)
        if old is None:
            os.environ.pop("GOGOOKU_HOME", None)
        else:
            os.environ["GOGOOKU_HOME"] = old
    (home / "done").touch()
    return home


def link_world(world_home: Path, home: Path) -> Path:
    """``home`` with raw/, datasets/ and runs/ of the world linked in (bundles and the
    prediction store stay the test's own)."""
    home.mkdir(parents=True, exist_ok=True)
    for name in ("raw", "datasets", "runs"):
        (home / name).symlink_to(world_home / name, target_is_directory=True)
    return home
