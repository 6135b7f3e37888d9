"""The prediction job (``gogooku predict``) and the daily update (``gogooku update``).

``predict(ref, day)`` loads ``NAME[@VERSION]`` (default the promoted version; verified, and its
signature checked when ``$GOGOOKU_BUNDLE_KEY_FILE`` names a key, since ``/v1/rankings`` serves
what it stores), refuses a dataset whose feature hash differs from the bundle's, scores every
stock listed on ``day`` (default: the dataset's latest date) with ``LoadedBundle.score_dataset``
and replaces that day in the prediction store, with sector and company name from the raw store's master data as of ``day``
(the latest master row of each code dated on or before it). ``listed`` — the denominator of the
service's coverage gauge — is the number of codes in that master snapshot (the scored rows when
the raw store has no master data).

``update(ref, source, fetch_start, end)``: ``fetch_from_source`` (what ``gogooku fetch`` runs)
for fetch_start..end (a re-run is a no-op), an incremental ``build_dataset`` of the bundle's
dataset up to ``end`` with the start, blocks and warm-up recorded in its ``metadata.json``
(skipped when the dataset already reaches ``end``), then ``predict`` for the newest date —
with the promoted version and, when ``ref`` names no version and NAME has one, the shadow
version (``bundles/NAME/SHADOW``; its dataset is extended too when it differs) — and last
``gogooku.bundle.monitor.monitor`` of NAME. Every step is idempotent, so cron may re-run it.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from gogooku.bundle.monitor import DEFAULT_TOP_K, monitor
from gogooku.bundle.predstore import DayRun, PredictionStore, to_store_frame
from gogooku.bundle.scoring import load_bundle
from gogooku.bundle.signing import configured_key
from gogooku.bundle.store import current_version, parse_ref, resolve, shadow_version
from gogooku.dataset.build import build_dataset, dataset_dir
from gogooku.logs import console
from gogooku.settings import get_settings
from gogooku.store.raw import RawStore
from gogooku.store.sources import Source, fetch_from_source, parse_datasets

MASTER = "equities_master"


def latest_date(dataset: str) -> dt.date:
    """The last date of the dataset's panel."""
    path = dataset_dir(dataset) / "panel.parquet"
    return pl.scan_parquet(path).select(pl.col("Date").max()).collect().item()


def master_asof(day: dt.date) -> pl.DataFrame:
    """``Code, sector, sector_name, name`` of the master snapshot as of ``day`` (empty frame when
    the raw store holds no master data)."""
    raw_dir = get_settings().raw_dir
    schema = {"Code": pl.String, "sector": pl.String, "sector_name": pl.String, "name": pl.String}
    if not (raw_dir / MASTER).is_dir():
        return pl.DataFrame(schema=schema)
    return (
        RawStore(raw_dir)
        .scan(MASTER)
        .filter(pl.col("Date") <= day)
        .sort("Date")
        .group_by("Code")
        .last()
        .select(
            "Code",
            pl.col("S33").alias("sector"),
            pl.col("S33Nm").alias("sector_name"),
            pl.col("CoName").alias("name"),
        )
        .collect()
        .cast(schema)
    )


def predict(ref: str, day: dt.date | None = None, store: PredictionStore | None = None) -> DayRun:
    """Score ``day`` with bundle ``ref`` and store it (see module doc)."""
    name, version = parse_ref(ref)
    bundle = load_bundle(resolve(name, version), key=configured_key())
    info = bundle.info
    bundle.check_dataset()
    day = day or latest_date(info.dataset)
    scores = bundle.score_dataset(day)
    master = master_asof(day)
    frame = to_store_frame(scores, info.horizons, info.main_horizon).join(
        master, on="Code", how="left"
    )
    listed = master.height or frame.height
    return (store or PredictionStore()).write_day(
        name, info.version, day, frame, listed, info.dataset
    )


def update(
    ref: str,
    source: str,
    fetch_start: dt.date,
    end: dt.date,
    seed: int = 7,
    stocks: int = 300,
    datasets: str | None = None,
    market_version: int = 2,
    monitor_top_k: int = DEFAULT_TOP_K,
) -> list[DayRun]:
    """Fetch, extend the datasets, predict the newest date with ``ref`` and, when ``ref`` names
    no version, with NAME's shadow version too, then monitor NAME (see module doc). The day
    runs, ``ref``'s first."""
    name, version = parse_ref(ref)
    refs = [ref]
    shadow = shadow_version(name) if version is None else None
    if shadow is not None and shadow != current_version(name):  # a rollback may make them one
        refs.append(f"{name}@{shadow}")
    fetch_from_source(
        RawStore(get_settings().raw_dir),
        Source(source),
        fetch_start,
        end,
        parse_datasets(datasets),
        seed=seed,
        stocks=stocks,
        market_version=market_version,
        console=console,
    )
    wanted = [
        json.loads((resolve(*parse_ref(r)) / "bundle.json").read_text())["dataset"] for r in refs
    ]
    for dataset in dict.fromkeys(wanted):
        _extend(dataset, end)
    runs = [predict(r) for r in refs]
    monitor(name, top_k=monitor_top_k)
    return runs


def _extend(dataset: str, end: dt.date) -> None:
    """Build ``dataset`` incrementally up to ``end`` with the start, blocks and warm-up of its
    ``metadata.json`` (nothing when it already reaches ``end``)."""
    meta = json.loads((dataset_dir(dataset) / "metadata.json").read_text())
    if dt.date.fromisoformat(meta["end"]) < end:
        build_dataset(
            dataset,
            dt.date.fromisoformat(meta["start"]),
            end,
            blocks=meta["blocks"],
            warmup_days=meta["warmup_days"],
            incremental=True,
            show_progress=False,
        )
