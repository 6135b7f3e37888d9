"""The quality market and dataset every study trains on (``studies/quality.py``,
``studies/configs.py``): the synthetic market fetched through the real client and the panel built
with every block, both reused when present.

``zoo_split`` is the split of the model zoo (``bench/bench_zoo.py``) and ``studies/trials.py``.

Default: seed 7, 300 stocks, market version 2, dataset ``q300`` 2019-01-04..2022-12-30, raw store from 95 calendar
days before (the warm-up of the first features); split ``configs/quality_data.toml``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from gogooku.config import CONFIGS_DIR

ROOT = Path(__file__).resolve().parents[1]
DATA_CONFIG = CONFIGS_DIR / "quality_data.toml"
SEED, STOCKS = 7, 300
MARKET_VERSION = 2
START, END = date(2019, 1, 4), date(2022, 12, 30)
WARM_UP = timedelta(days=95)


def fetch_market(
    stocks: int, seed: int, start: date, end: date, market_version: int = MARKET_VERSION
) -> dict:
    """The synthetic raw store through the real client (a no-op when the store has the range)."""
    cmd = [
        str(Path(sys.executable).parent / "gogooku"),
        "fetch",
        "--source",
        "synthetic",
        "--seed",
        str(seed),
        "--stocks",
        str(stocks),
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--market-version",
        str(market_version),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return {"start": start.isoformat(), "seconds": round(time.perf_counter() - t0, 1)}


def ensure_dataset(name: str, start: date, end: date) -> dict:
    """Build ``name`` with every block (reused when its metadata has the same start and end)."""
    from gogooku.dataset.build import build_dataset, dataset_dir

    meta_path = dataset_dir(name) / "metadata.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta["start"] == start.isoformat() and meta["end"] == end.isoformat():
            return {"reused": True, "dates": meta["dates"], "stocks": meta["stocks"]}
    t0 = time.perf_counter()
    build_dataset(name, start, end, incremental=False, show_progress=False)
    meta = json.loads(meta_path.read_text())
    return {
        "reused": False,
        "seconds": round(time.perf_counter() - t0, 1),
        "dates": meta["dates"],
        "stocks": meta["stocks"],
        "n_features": meta["n_features"],
    }


def ensure_quality_dataset(
    home: Path,
    dataset: str,
    stocks: int = STOCKS,
    start: date = START,
    end: date = END,
    seed: int = SEED,
) -> None:
    """Point GOGOOKU_HOME at ``home`` and make the quality market (market seed ``seed``, default
    7) and ``dataset`` there. One home holds one market: a store that already has the range is
    not fetched again, whatever the seed, so give every seed its own home."""
    os.environ["GOGOOKU_HOME"] = str(home)
    fetch_market(stocks, seed, start - WARM_UP, end)
    ensure_dataset(dataset, start, end)


def zoo_split(dataset: str, test_days: int, train_days: int | None):
    """The quality split with test and step ``test_days`` (and ``train_days``), the training span
    shrunk when no fold fits the dataset; returns (split, number of folds)."""
    from gogooku.config import SplitConfig, load_config
    from gogooku.dataset.build import dataset_dir
    from gogooku.dataset.splits import dataset_dates, walk_forward

    split = load_config(DATA_CONFIG, SplitConfig, section="splits")
    update = {"test_days": test_days, "step_days": test_days}
    if train_days is not None:
        update["train_days"] = train_days
    split = split.model_copy(update=update)
    dates = dataset_dates(dataset_dir(dataset))
    fitting = len(dates) - split.first_day - 2 * split.gap - split.val_days - split.test_days
    if fitting < 60:
        raise SystemExit(f"dataset {dataset!r} has {len(dates)} days: too short for the split")
    split = split.model_copy(update={"train_days": min(split.train_days, fitting)})
    return split, len(walk_forward(dates, split))
