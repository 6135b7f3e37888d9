"""``update``: fetch, extend the dataset incrementally, predict the newest day; idempotent."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from gogooku.bundle.job import update
from gogooku.bundle.predstore import PredictionStore
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import promote

DATASETS = "equities_bars_daily,equities_master,indices_topix"


@pytest.mark.slow
def test_update_extends_the_dataset_and_is_idempotent(trained_world, _isolated_home):
    home = _isolated_home
    home.mkdir(parents=True)
    for name in ("raw", "datasets"):  # copies: the update writes into both
        shutil.copytree(trained_world / name, home / name)
    (home / "runs").symlink_to(trained_world / "runs", target_is_directory=True)
    create_bundle("lg", "lg")
    promote("lg", "v0001")
    args = ("lg", "synthetic", dt.date(2020, 1, 1), dt.date(2021, 1, 15), 11, 24, DATASETS)
    first = update(*args)
    meta = json.loads((home / "datasets" / "tiny" / "metadata.json").read_text())
    assert meta["end"] == "2021-01-15" and meta["incremental"] is True
    assert dt.date(2021, 1, 4) <= first.date <= dt.date(2021, 1, 15)
    assert 20 <= first.rows <= first.listed == 24 and first.version == "v0001"
    second = update(*args)
    assert (second.date, second.rows) == (first.date, first.rows)
    assert json.loads((home / "datasets" / "tiny" / "metadata.json").read_text()) == meta
    assert len(PredictionStore().read_day("lg", "v0001", first.date)) == first.rows
