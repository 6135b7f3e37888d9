"""The dense cache: window views equal panel rows, masks, atomic rewrite, selection, edges."""

from __future__ import annotations

import json
import shutil
from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gogooku.dataset import cache as cache_mod
from gogooku.dataset import cache_writer
from gogooku.dataset.cache import CacheError, open_cache
from gogooku.dataset.cache_writer import write_cache


def _panel_row(panel: pl.DataFrame, code: str, day: date) -> dict | None:
    rows = panel.filter((pl.col("Code") == code) & (pl.col("Date") == day))
    return rows.row(0, named=True) if rows.height else None


def _as_float(value) -> float:
    return float("nan") if value is None else float(value)


def test_build_writes_cache_in_features_json_order(built):
    cache = open_cache(built.path)
    columns = json.loads((built.path / "features.json").read_text())["columns"]
    assert cache.feature_names == [c["name"] for c in columns if c["role"] == "feature"]
    assert cache.target_names == [c["name"] for c in columns if c["role"] == "target"]
    assert cache.static_names == ["sector33_id", "sector17_id", "market_id"]
    t_n, n_n = built.panel["Date"].n_unique(), built.panel["Code"].n_unique()
    assert cache.features.shape == (t_n, n_n, len(cache.feature_names))
    assert cache.targets.shape == (t_n, n_n, 12) and cache.mask.shape == (t_n, n_n)
    assert cache.static.shape == (t_n, n_n, 3) and cache.static.dtype == np.int16
    assert cache.features.dtype == np.float32 and isinstance(cache.features, np.memmap)
    assert cache.date_list == sorted(built.panel["Date"].unique().to_list())
    assert cache.codes.tolist() == sorted(built.panel["Code"].unique().to_list())
    assert int(cache.mask.sum()) == built.panel.height


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_window_view_equals_panel_rows(holey, data):
    cache = open_cache(holey.path)
    t_n, n_n, _ = cache.shape
    length = data.draw(st.integers(1, 30), label="L")
    t = data.draw(st.integers(length - 1, t_n - 1), label="t")
    lag = data.draw(st.integers(0, length - 1), label="lag")
    n = data.draw(st.integers(0, n_n - 1), label="stock")
    window = cache.window(t, length)
    assert np.shares_memory(window, cache.features)
    day, code = cache.date_list[t - lag], str(cache.codes[n])
    row = _panel_row(holey.panel, code, day)
    got = window[length - 1 - lag, n]
    if row is None:
        assert not cache.mask[t - lag, n]
        assert np.isnan(got).all() and np.isnan(cache.targets[t - lag, n]).all()
        assert (cache.static[t - lag, n] == 0).all()
        return
    assert cache.mask[t - lag, n]
    expected = np.array([_as_float(row[f]) for f in cache.feature_names], dtype=np.float32)
    np.testing.assert_array_equal(got, expected)
    targets = np.array([_as_float(row[f]) for f in cache.target_names], dtype=np.float32)
    np.testing.assert_array_equal(cache.targets[t - lag, n], targets)
    assert cache.static[t - lag, n].tolist() == [row[s] for s in cache.static_names]


def test_unlisted_stocks_are_masked_not_dropped(holey, built):
    cache = open_cache(holey.path)
    assert cache.codes.tolist() == sorted(built.panel["Code"].unique().to_list())
    assert not cache.mask[:40, 0].any() and cache.mask[40:, 0].sum() > 100
    assert cache.mask[:151, 1].sum() > 140 and not cache.mask[151:, 1].any()
    assert int(cache.mask.sum()) == holey.panel.height


def test_window_before_first_date_is_refused(built):
    cache = open_cache(built.path)
    with pytest.raises(CacheError, match=r"window of 10 days ending at 2020-03-12 starts before"):
        cache.window(8, 10)


def test_feature_selection_by_name_and_block(built):
    cache = open_cache(built.path)
    names = [cache.feature_names[7], cache.feature_names[2], "sector33_id"]
    idx = cache.feature_index(names=names)
    assert [cache.feature_names[i] for i in idx] == sorted(names, key=cache.feature_names.index)
    window = cache.window(50, 5)
    gathered = cache_mod.select_columns(window, idx)
    assert not np.shares_memory(gathered, cache.features)
    np.testing.assert_array_equal(gathered, window[..., idx])
    block_idx = cache.feature_index(blocks=["sector"])
    assert {cache.feature_blocks[i] for i in block_idx} == {"sector"}
    assert len(block_idx) == cache.feature_blocks.count("sector")
    view = cache_mod.select_columns(window, block_idx)
    assert np.shares_memory(view, cache.features)
    np.testing.assert_array_equal(view, window[..., block_idx])
    with pytest.raises(CacheError, match=r"unknown feature\(s\) \['nope'\]"):
        cache.feature_index(names=["nope"])
    with pytest.raises(CacheError, match=r"unknown block\(s\) \['nope'\]"):
        cache.feature_index(blocks=["nope"])


def _copy(src, dst):
    dst.mkdir()
    for name in ("panel.parquet", "features.json"):
        shutil.copy(src / name, dst / name)
    return dst


def test_cache_write_is_atomic(holey, tmp_path, monkeypatch):
    path = _copy(holey.path, tmp_path / "ds")
    write_cache(path)
    before = {p.name: p.read_bytes() for p in (path / "cache").iterdir()}
    reader = open_cache(path)
    old_view = np.array(reader.window(100, 3))

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cache_writer, "_write_edges", fail)
    with pytest.raises(OSError, match="disk full"):
        write_cache(path, float16=True)
    assert {p.name: p.read_bytes() for p in (path / "cache").iterdir()} == before
    assert sorted(p.name for p in path.iterdir()) == ["cache", "features.json", "panel.parquet"]
    monkeypatch.undo()
    write_cache(path, float16=True)
    assert sorted(p.name for p in path.iterdir()) == ["cache", "features.json", "panel.parquet"]
    # a reader that mapped the old files keeps reading them
    np.testing.assert_array_equal(reader.window(100, 3), old_view)
    fresh = open_cache(path)
    assert fresh.features.dtype == np.float16
    np.testing.assert_allclose(
        fresh.window(100, 3).astype(np.float32), old_view, rtol=1e-3, atol=1e-4
    )


def test_stale_cache_is_refused(holey, tmp_path):
    path = _copy(holey.path, tmp_path / "ds")
    write_cache(path)
    pl.read_parquet(path / "panel.parquet").head(100).write_parquet(path / "panel.parquet")
    with pytest.raises(CacheError, match=r"cache\.json: stale cache"):
        open_cache(path)
    shutil.rmtree(path / "cache")
    with pytest.raises(CacheError, match=r"cache\.json: not found"):
        open_cache(path)


def _write_graph(path, panel, codes):
    days = sorted(panel["Date"].unique().to_list())
    edges = pl.DataFrame(
        {
            "Date": [days[3], days[3], days[3], days[10], date(2019, 1, 4)],
            "src": [codes[2], codes[0], codes[5], codes[1], codes[1]],
            "dst": [codes[3], codes[4], codes[2], codes[2], codes[2]],
            "weight": [0.5, 0.25, 1.0, 2.0, 9.0],
        }
    )
    edges.write_parquet(path / "graph_edges.parquet")
    return days


def test_graph_in_force_is_the_latest_built_on_or_before_each_date(holey, tmp_path, caplog):
    path = _copy(holey.path, tmp_path / "ds")
    codes = sorted(holey.panel["Code"].unique().to_list())
    days = sorted(holey.panel["Date"].unique().to_list())
    edges = pl.DataFrame(
        {
            "Date": [days[3], days[3], days[3], days[10], days[10], date(2019, 1, 4)],
            "src": [codes[2], codes[0], codes[5], codes[1], "99990", codes[7]],
            "dst": [codes[3], codes[4], codes[2], codes[2], codes[1], codes[8]],
            "weight": [0.5, 0.25, 1.0, 2.0, 3.0, 9.0],
        },
        schema_overrides={"weight": pl.Float32},
    )
    edges.write_parquet(path / "graph_edges.parquet")
    write_cache(path)
    assert "1 of 6 edges name stocks without any panel row" in caplog.text
    cache = open_cache(path)

    def triples(t):
        e = cache.edges(t)
        return list(zip(e.src.tolist(), e.dst.tolist(), e.weight.tolist(), strict=True)), e.built

    # before day 3 the graph built on 2019-01-04 is in force
    assert triples(0) == ([(7, 8, 9.0)], date(2019, 1, 4))
    assert triples(2) == ([(7, 8, 9.0)], date(2019, 1, 4))
    graph3 = ([(0, 4, 0.25), (2, 3, 0.5), (5, 2, 1.0)], days[3])
    assert triples(3) == graph3 and triples(9) == graph3
    assert triples(10) == ([(1, 2, 2.0)], days[10]) == triples(len(days) - 1)
    pl.DataFrame(
        {"Date": [days[5]], "src": [codes[0]], "dst": [codes[1]], "weight": [1.0]}
    ).write_parquet(path / "graph_edges.parquet")
    write_cache(path)
    cache = open_cache(path)
    assert len(cache.edges(4).src) == 0 and cache.edges(4).built is None
    assert cache.edges(5).built == days[5]
    pl.DataFrame({"Date": ["2020-03-02"], "src": [1], "dst": [2], "weight": [1.0]}).write_parquet(
        path / "graph_edges.parquet"
    )
    with pytest.raises(CacheError, match=r"graph_edges\.parquet: column Date must be a Date"):
        write_cache(path)


def test_edges_held_as_enum_codes_give_the_files_of_their_string_rows(holey, tmp_path, caplog):
    """The build hands the cache its edges with ``Enum`` codes (categories: the build's codes,
    one of them without a panel row); the edge files equal those from the written strings."""
    codes = sorted(holey.panel["Code"].unique().to_list())
    days = sorted(holey.panel["Date"].unique().to_list())
    categories = pl.Enum(["99990", *reversed(codes)])  # not in the axis order
    edges = pl.DataFrame(
        {
            "Date": [days[3], days[3], days[3], days[10], days[10], date(2019, 1, 4)],
            "src": [codes[5], codes[0], codes[2], codes[1], "99990", codes[7]],
            "dst": [codes[3], codes[4], codes[2], codes[2], codes[1], codes[8]],
            "weight": [0.5, 0.25, 1.0, 2.0, 3.0, 9.0],
        },
        schema_overrides={"src": categories, "dst": categories, "weight": pl.Float32},
    )
    dates = holey.panel["Date"].unique().sort().to_numpy().astype("datetime64[D]")
    axis = np.array(codes)
    from_file, held = tmp_path / "from_file", tmp_path / "held"
    from_file.mkdir(), held.mkdir()
    edges.with_columns(pl.col("src", "dst").cast(pl.String)).write_parquet(
        tmp_path / "graph_edges.parquet"
    )
    assert cache_writer._write_edges(tmp_path, from_file, dates, axis)
    assert cache_writer._write_edges(tmp_path / "absent", held, dates, axis, edges)
    assert caplog.text.count("1 of 6 edges name stocks without any panel row") == 2
    names = sorted(f.name for f in from_file.iterdir())
    assert names == sorted(f.name for f in held.iterdir()) and "edge_src.npy" in names
    for name in names:
        assert (from_file / name).read_bytes() == (held / name).read_bytes(), name
    assert np.load(held / "edge_src.npy").tolist() == [7, 0, 2, 5, 1]


def test_write_cache_errors_name_the_file(tmp_path):
    with pytest.raises(CacheError, match=r"panel\.parquet: not found"):
        write_cache(tmp_path)
