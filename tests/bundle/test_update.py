"""``update``: fetch, extend the dataset incrementally, predict the newest day with the promoted
and the shadow version, monitor; idempotent."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from gogooku.bundle.job import update
from gogooku.bundle.livestore import LiveStore
from gogooku.bundle.predstore import PredictionStore
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import promote, set_shadow

DATASETS = "equities_bars_daily,equities_master,indices_topix"


@pytest.mark.slow
def test_update_extends_the_dataset_and_is_idempotent(trained_world, _isolated_home):
    home = _isolated_home
    home.mkdir(parents=True)
    for name in ("raw", "datasets"):  # copies: the update writes into both
        shutil.copytree(trained_world / name, home / name)
    (home / "runs").symlink_to(trained_world / "runs", target_is_directory=True)
    create_bundle("lg", "lg")
    create_bundle("ln", "lg")
    promote("lg", "v0001")
    set_shadow("lg", "v0002")
    args = ("lg", "synthetic", dt.date(2020, 1, 1), dt.date(2021, 1, 15), 11, 24, DATASETS)
    first, shadow = update(*args)
    assert (shadow.version, shadow.date, shadow.rows) == ("v0002", first.date, first.rows)
    # the monitor ran: drift of the new day for both versions; nothing matured yet
    for version in ("v0001", "v0002"):
        assert LiveStore().drift_dates("lg", version) == {first.date}
        assert LiveStore().live_series("lg", version).height == 0
    meta = json.loads((home / "datasets" / "tiny" / "metadata.json").read_text())
    assert meta["end"] == "2021-01-15" and meta["incremental"] is True
    assert dt.date(2021, 1, 4) <= first.date <= dt.date(2021, 1, 15)
    assert 20 <= first.rows <= first.listed == 24 and first.version == "v0001"
    second, _ = update(*args)
    assert (second.date, second.rows) == (first.date, first.rows)
    assert json.loads((home / "datasets" / "tiny" / "metadata.json").read_text()) == meta
    assert len(PredictionStore().read_day("lg", "v0001", first.date)) == first.rows
