"""Inputs of ``"window"`` model kinds (the networks): one day's :class:`DayBatch` for a bundle.

- ``dataset_batch(bundle, ds_dir, day)``: through ``DayBatchLoader`` on the dataset cache (the
  trainer's evaluation loader: every listed stock, ``normalize="cached"``), with the bundle's raw
  columns appended after the normalised features (``MarketColumns``, as the market-guided networks train);
- ``rows_batch(bundle, rows, edges)``: the same from raw feature rows of the ``window`` dates
  ending at the scored date, normalised per date with ``normalize_cross_section`` — the function
  the cache used — and the stock graph in force given as code pairs.

Both return (batch, codes of the batch's stock axis). Only this module of ``gogooku.bundle``
imports torch, so serving a tabular bundle does not.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import torch

from gogooku.bundle.store import BundleInfo
from gogooku.config import LoaderConfig, NormalizationConfig
from gogooku.dataset.cache import open_cache
from gogooku.dataset.loader import DayBatch, DayBatchLoader
from gogooku.dataset.normalize import normalize_cross_section
from gogooku.models.market_inputs import MarketColumns


def dataset_batch(
    info: BundleInfo, loader_cfg: LoaderConfig, ds_dir: Path, day: date
) -> tuple[DayBatch, np.ndarray]:
    """The batch of ``day`` from the dataset cache (module doc); ``loader_cfg`` is the run's."""
    cache = open_cache(ds_dir)
    spec = NormalizationConfig.model_validate(info.normalization)
    lcfg = loader_cfg.model_copy(
        update={
            "features": info.features,
            "feature_blocks": None,
            "targets": None,
            "shuffle": False,
            "require_labels": False,
            "stocks_per_day": None,
        }
    )
    loader = DayBatchLoader(cache, lcfg, spec, [day], "cpu")
    if info.raw_features:
        loader = MarketColumns(loader, cache, cache.feature_index(info.raw_features))
    batch = next(iter(loader))
    codes = np.asarray(cache.codes).astype(str)[batch.codes[0].numpy()]
    return batch, codes


def rows_batch(
    info: BundleInfo, rows: pl.DataFrame, edges: pl.DataFrame | None
) -> tuple[DayBatch, np.ndarray]:
    """The batch of the last of ``rows``' dates from raw rows (module doc)."""
    spec = NormalizationConfig.model_validate(info.normalization)
    dates = rows["Date"].unique().sort().to_list()
    day = dates[-1]
    codes = rows["Code"].unique().sort()
    pos = pl.DataFrame({"Code": codes}).with_row_index("_n")
    day_pos = pl.DataFrame({"Date": dates}).with_row_index("_t")
    keyed = rows.join(day_pos, on="Date").join(pos, on="Code")
    t_i, n_i = keyed["_t"].to_numpy(), keyed["_n"].to_numpy()
    length, n = len(dates), codes.len()
    raw = np.full((length, n, len(info.features)), np.nan, dtype=np.float32)
    raw[t_i, n_i] = _float_block(keyed, info.features)
    listed = np.zeros((length, n), dtype=bool)
    listed[t_i, n_i] = True
    x = normalize_cross_section(raw, listed, spec)
    if info.raw_features:
        market = np.full((length, n, len(info.raw_features)), np.nan, dtype=np.float32)
        market[t_i, n_i] = _float_block(keyed, info.raw_features)
        x = np.concatenate([x, market], axis=-1)
    static = np.zeros((n, len(info.static_names)), dtype=np.int64)
    last = keyed.filter(pl.col("_t") == length - 1)
    if info.static_names:
        ids = last.select(pl.col(s).fill_null(0).cast(pl.Int16) for s in info.static_names)
        static[last["_n"].to_numpy()] = ids.to_numpy()
    graph = None
    if edges is not None:
        mapped = edges.join(pos, left_on="src", right_on="Code").join(
            pos.rename({"_n": "_d"}), left_on="dst", right_on="Code"
        )
        src, dst = mapped["_n"].to_numpy(), mapped["_d"].to_numpy()
        keep = listed[-1][src] & listed[-1][dst]
        index = torch.from_numpy(np.stack([src[keep], dst[keep]]).astype(np.int64))
        graph = [(index, torch.from_numpy(mapped["weight"].to_numpy()[keep].astype(np.float32)))]
    h = len(info.horizons)
    batch = DayBatch(
        x=torch.from_numpy(x[None]),
        y=torch.full((1, n, h), float("nan")),
        mask=torch.from_numpy(listed[-1:].copy()),
        y_mask=torch.zeros((1, n, h), dtype=torch.bool),
        x_mask=torch.from_numpy(listed[None]),
        static=torch.from_numpy(static[None]),
        codes=torch.arange(n).unsqueeze(0),
        dates=[day],
        edges=graph,
    )
    return batch, codes.to_numpy().astype(str)


def _float_block(frame: pl.DataFrame, names: list[str]) -> np.ndarray:
    """(rows, len(names)) float32 of ``frame``'s columns, NaN where null."""
    cols = (pl.col(n).cast(pl.Float32).fill_null(float("nan")) for n in names)
    return frame.select(cols).to_numpy().astype(np.float32)
