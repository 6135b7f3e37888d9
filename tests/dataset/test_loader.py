"""The day-batch loader: epoch coverage, seeded shuffles, batch contents, subsampling, edges."""

from __future__ import annotations

import shutil

import numpy as np
import polars as pl
import pytest
import torch

from gogooku.config import LoaderConfig, NormalizationConfig
from gogooku.dataset.cache import CacheError, open_cache
from gogooku.dataset.cache_writer import write_cache
from gogooku.dataset.loader import DayBatchLoader
from gogooku.dataset.normalize import normalize_cross_section


def _epoch_days(loader) -> list:
    return [d for batch in loader for d in batch.dates]


def test_every_day_once_per_epoch_and_seeded_shuffle(holey):
    cache = open_cache(holey.path)
    config = LoaderConfig(window=10, days_per_batch=3, seed=4, normalize="off")
    loader = DayBatchLoader(cache, config)
    # days whose 10-day window starts before the first cached date are excluded
    usable = cache.date_list[9:]
    labelled = [d for d in usable if np.isfinite(cache.targets[cache.date_index(d)]).any()]
    assert len(labelled) < len(usable)  # the last days have no label yet
    epochs = [_epoch_days(loader) for _ in range(3)]
    for days in epochs:
        assert sorted(days) == labelled and len(days) == len(set(days))
    assert epochs[0] != epochs[1] != epochs[2] and epochs[0] != sorted(epochs[0])
    again = DayBatchLoader(cache, config)
    assert [_epoch_days(again) for _ in range(3)] == epochs
    other = DayBatchLoader(cache, config.model_copy(update={"seed": 5}))
    assert _epoch_days(other) != epochs[0]
    assert len(loader) == -(-len(labelled) // 3)
    ordered = DayBatchLoader(cache, config.model_copy(update={"shuffle": False}))
    assert _epoch_days(ordered) == labelled


def test_batch_is_the_cache_window_and_the_day_labels(holey):
    cache = open_cache(holey.path)
    config = LoaderConfig(window=5, days_per_batch=2, normalize="off", shuffle=False)
    days = cache.date_list[50:54]
    batch = next(iter(DayBatchLoader(cache, config, days=days)))
    t0, n_n, f_n = cache.date_index(days[0]), cache.shape[1], cache.shape[2]
    assert batch.x.shape == (2, 5, n_n, f_n) and batch.y.shape == (2, n_n, 12)
    assert batch.dates == days[:2]
    for b, t in enumerate((t0, t0 + 1)):
        np.testing.assert_array_equal(batch.x[b].numpy(), cache.features[t - 4 : t + 1])
        np.testing.assert_array_equal(batch.y[b].numpy(), cache.targets[t])
        np.testing.assert_array_equal(batch.mask[b].numpy(), cache.mask[t])
        np.testing.assert_array_equal(batch.x_mask[b].numpy(), cache.mask[t - 4 : t + 1])
        np.testing.assert_array_equal(batch.static[b].numpy(), cache.static[t])
        assert (
            batch.y_mask[b].numpy().tolist()
            == (cache.mask[t][:, None] & np.isfinite(cache.targets[t])).tolist()
        )
    assert batch.static.dtype == torch.int64 and batch.edges is None


def test_label_of_day_t_is_the_panel_target_at_t(holey):
    cache = open_cache(holey.path)
    config = LoaderConfig(window=1, normalize="off", shuffle=False, targets=["target_5d"])
    day = cache.date_list[120]
    batch = next(iter(DayBatchLoader(cache, config, days=[day])))
    rows = holey.panel.filter(pl.col("Date") == day).sort("Code")
    listed = batch.mask[0].numpy()
    got = batch.y[0, listed, 0].numpy()
    np.testing.assert_array_equal(got, rows["target_5d"].fill_null(np.nan).to_numpy())


def test_feature_and_target_selection(holey):
    cache = open_cache(holey.path)
    config = LoaderConfig(
        window=2,
        normalize="off",
        features=["ret_prev_1d"],
        feature_blocks=["sector"],
        targets=["target_20d", "target_1d"],
    )
    loader = DayBatchLoader(cache, config, days=cache.date_list[30:31])
    batch = next(iter(loader))
    idx = cache.feature_index(["ret_prev_1d"], ["sector"])
    assert loader.feature_names == [cache.feature_names[i] for i in idx]
    np.testing.assert_array_equal(batch.x[0].numpy(), cache.features[29:31][..., idx])
    t = cache.target_index(["target_20d", "target_1d"])
    np.testing.assert_array_equal(batch.y[0].numpy(), cache.targets[30][..., t])


@pytest.mark.parametrize("mode", ["cached", "batch"])
def test_stock_subsampling_keeps_the_full_cross_section_normalisation(holey, mode):
    cache = open_cache(holey.path)
    spec = NormalizationConfig(method="robust_z")
    days = cache.date_list[45:47]
    sub = LoaderConfig(window=4, stocks_per_day=7, shuffle=False, seed=3, normalize=mode)
    full = LoaderConfig(window=4, shuffle=False, normalize=mode)
    batches = list(DayBatchLoader(cache, sub, spec, days=days))
    reference = list(DayBatchLoader(cache, full, spec, days=days))
    for batch, ref in zip(batches, reference, strict=True):
        stocks = batch.codes[0].numpy()
        assert len(stocks) == 7 and len(set(stocks)) == 7 and batch.mask[0].all()
        assert cache.mask[cache.date_index(batch.dates[0])][stocks].all()
        assert torch.equal(batch.x[0], ref.x[0][:, stocks])
        assert torch.equal(batch.y[0].nan_to_num(9), ref.y[0][stocks].nan_to_num(9))
    again = list(DayBatchLoader(cache, sub, spec, days=days))
    assert [b.codes.tolist() for b in again] == [b.codes.tolist() for b in batches]
    many = LoaderConfig(window=4, stocks_per_day=40, shuffle=False)
    padded = next(iter(DayBatchLoader(cache, many, spec, days=days)))
    listed = int(cache.mask[cache.date_index(days[0])].sum())
    assert padded.codes.shape == (1, min(40, cache.shape[1])) and int(padded.mask.sum()) == listed


@pytest.mark.parametrize("mode", ["cached", "batch"])
def test_normalised_batch_is_normalize_cross_section_of_the_window(holey, mode):
    cache = open_cache(holey.path)
    spec = NormalizationConfig(missing_indicator=True)
    config = LoaderConfig(window=6, normalize=mode)
    loader = DayBatchLoader(cache, config, spec, days=cache.date_list[80:81])
    batch = next(iter(loader))
    expected = normalize_cross_section(
        np.asarray(cache.window(80, 6)), np.asarray(cache.mask[75:81]), spec
    )
    assert batch.x.shape[-1] == 2 * cache.shape[2] == len(loader.output_features)
    assert np.array_equal(batch.x[0].numpy(), expected)


def test_edges_are_remapped_to_batch_positions(holey, tmp_path):
    path = tmp_path / "ds"
    path.mkdir()
    for name in ("panel.parquet", "features.json"):
        shutil.copy(holey.path / name, path / name)
    codes = sorted(holey.panel["Code"].unique().to_list())
    days = sorted(holey.panel["Date"].unique().to_list())
    pl.DataFrame(
        {
            "Date": [days[58]] * 3,
            "src": [codes[2], codes[10], codes[20]],
            "dst": [codes[10], codes[20], codes[2]],
            "weight": [0.5, 0.25, 1.0],
        }
    ).write_parquet(path / "graph_edges.parquet")
    write_cache(path)
    cache = open_cache(path)
    full = next(iter(DayBatchLoader(cache, LoaderConfig(window=3), days=[days[60]])))
    index, weight = full.edges[0]
    assert index.tolist() == [[2, 10, 20], [10, 20, 2]] and weight.tolist() == [0.5, 0.25, 1.0]
    sub = LoaderConfig(window=3, stocks_per_day=25, seed=0)
    batch = next(iter(DayBatchLoader(cache, sub, days=[days[60]])))
    stocks = batch.codes[0].tolist()
    index, weight = batch.edges[0]
    kept = [(s, d) for s, d in ((2, 10), (10, 20), (20, 2)) if s in stocks and d in stocks]
    assert [(stocks[s], stocks[d]) for s, d in index.t().tolist()] == kept


def test_no_usable_day_is_an_error(holey):
    cache = open_cache(holey.path)
    with pytest.raises(CacheError, match=r"no usable day \(window 30"):
        DayBatchLoader(cache, LoaderConfig(window=30), days=cache.date_list[:20])
    with pytest.raises(CacheError, match=r"date 2019-01-04 is not on the cache's date axis"):
        DayBatchLoader(cache, LoaderConfig(window=3), days=[np.datetime64("2019-01-04").item()])


def test_contiguous_days_give_consecutive_days_of_the_same_stocks(holey):
    cache = open_cache(holey.path)
    config = LoaderConfig(
        window=10, days_per_batch=4, seed=4, normalize="off", contiguous_days=True
    )
    loader = DayBatchLoader(cache, config)
    days = list(loader.days)
    blocks = [[cache.date_index(d) for d in batch.dates] for batch in loader]
    # every day once; each batch a run of consecutive usable days; the remainder joins the last
    assert sorted(t for b in blocks for t in b) == days
    assert all(b == days[days.index(b[0]) : days.index(b[0]) + len(b)] for b in blocks)
    assert sorted(len(b) for b in blocks)[:-1] == [4] * (len(blocks) - 1)
    assert 4 <= max(len(b) for b in blocks) < 8 and len(loader) == len(blocks)
    assert blocks != sorted(blocks)  # the blocks' order is shuffled …
    ordered = DayBatchLoader(cache, config.model_copy(update={"shuffle": False}))
    assert [cache.date_index(d) for b in ordered for d in b.dates] == days  # … unless off
    sub = DayBatchLoader(cache, config.model_copy(update={"stocks_per_day": 9}))
    for batch in sub:
        first = batch.codes[0]
        assert (batch.codes == first).all()  # one draw of stocks per batch
        t0 = cache.date_index(batch.dates[0])
        assert cache.mask[t0][first.numpy()].all()
        for d, day in enumerate(batch.dates):
            expected = cache.mask[cache.date_index(day)][first.numpy()]
            assert np.array_equal(batch.mask[d].numpy(), expected)
