"""The builder: future invariance, incremental = full rebuild, refusals, artifacts, CLI."""

from __future__ import annotations

import json
import re
from datetime import date

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.calendar import TradingCalendar
from gogooku.cli import app
from gogooku.dataset.build import DEFAULT_CHUNK_STOCKS, BuildError, build_dataset
from gogooku.dataset.cache_writer import write_cache
from gogooku.dataset.labels import HORIZONS, LabelLeakError, label_names
from gogooku.features.base import Block, Feature
from gogooku.features.registry import BLOCKS

from ..support.tables import TableStore
from .conftest import LEAKY_BLOCK, RETURNS_BLOCK, TEST_BLOCKS, make_market, read_panel

ALL_BLOCKS = {**BLOCKS, **TEST_BLOCKS}
EVERY_BLOCK = list(ALL_BLOCKS)  # opt-in blocks (gemb) too: the invariance checks cover them
SYNTH_START, SYNTH_END = date(2020, 9, 1), date(2024, 12, 30)


def _features(panel: pl.DataFrame) -> list[str]:
    return [c for c in panel.columns if c not in {"Code", "Date", *label_names()}]


@pytest.fixture(scope="module")
def synth_full_dir(synth_market, tmp_path_factory):
    """Folder of the synthetic dataset built in one stock chunk (the default chunk size), under
    a GOGOOKU_HOME of its own: a module fixture runs before the test's isolated home is set, and
    the default ``./gogooku_home`` would be shared by parallel workers (the build lock)."""
    home = tmp_path_factory.mktemp("synth_full_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOGOOKU_HOME", str(home))
        result = build_dataset(
            "full",
            SYNTH_START,
            SYNTH_END,
            store=TableStore(synth_market),
            registry=ALL_BLOCKS,
            blocks=EVERY_BLOCK,
            show_progress=False,
        )
    assert result.path.resolve().is_relative_to(home.resolve())
    return result.path.resolve()


@pytest.fixture(scope="module")
def synth_full(synth_full_dir):
    return pl.read_parquet(synth_full_dir / "panel.parquet")


@pytest.mark.slow
@pytest.mark.parametrize(
    "cut",
    [
        date(2020, 9, 30),  # the day before the halt
        date(2020, 10, 1),  # the halt (null bars)
        date(2020, 10, 2),  # the day after
        date(2022, 1, 7),  # a Friday: its weekly margin record is usable from Wednesday 01-12
        date(2022, 5, 23),  # the day before a 1:2 split of 93930
        date(2022, 5, 24),  # its ex-date
        date(2024, 11, 1),  # last 15:00-close day
        date(2024, 11, 5),  # first 15:30-close day
    ],
)
def test_future_invariance(synth_market, synth_full, cut):
    """Features of rows dated <= D are identical whether the raw store is as it stood at 19:00
    JST on D (each record cut until its publication rule makes it usable) or complete."""
    cut_result = build_dataset(
        f"cut_{cut:%Y%m%d}",
        SYNTH_START,
        SYNTH_END,
        store=TableStore(synth_market).at(cut),
        registry=ALL_BLOCKS,
        blocks=EVERY_BLOCK,
        show_progress=False,
    )
    early = read_panel(cut_result)
    assert early["Date"].max() == cut
    # Every registered block (and the test blocks) is built, so every one is checked below.
    assert set(cut_result.blocks) == set(ALL_BLOCKS)
    covered = {c for b in ALL_BLOCKS.values() for c in b.feature_names}
    assert covered == set(_features(early))
    late = synth_full.filter(pl.col("Date") <= cut)
    assert early.select("Code", "Date").equals(late.select("Code", "Date"))
    features = _features(early)
    assert len(features) > 100
    for col in features:
        assert early[col].equals(late[col]), f"feature {col} changes when data after {cut} exists"
    # Labels agree wherever their window ends on or before D, and are null where it passes D.
    cal = TradingCalendar.from_frame(synth_market["markets_calendar"])
    for h in HORIZONS:
        ends = cal.frame().with_columns(window_end=pl.col("Date").shift(-(h + 1)))
        known = early.join(ends, on="Date", how="left", maintain_order="left").with_columns(
            known=pl.col("window_end") <= cut
        )
        for name in (f"target_{h}d", f"target_{h}d_excess"):
            inside = known.filter("known")
            assert inside[name].equals(late.filter(known["known"])[name]), name
            assert known.filter(~pl.col("known"))[name].null_count() == (~known["known"]).sum()


@pytest.mark.slow
def test_incremental_build_equals_full_rebuild(synth_market):
    store = TableStore(synth_market)
    old_end, new_end = date(2024, 6, 28), date(2024, 7, 5)
    first = build_dataset(
        "inc", SYNTH_START, old_end, store=store, registry=ALL_BLOCKS, show_progress=False
    )
    assert not first.incremental
    extended = build_dataset(
        "inc", SYNTH_START, new_end, store=store, registry=ALL_BLOCKS, show_progress=False
    )
    assert extended.incremental
    rebuilt = build_dataset(
        "reb", SYNTH_START, new_end, store=store, registry=ALL_BLOCKS, show_progress=False
    )
    assert not rebuilt.incremental
    inc, full = read_panel(extended), read_panel(rebuilt)
    assert inc.columns == full.columns
    assert inc.select("Code", "Date").equals(full.select("Code", "Date"))
    assert inc["Date"].max() == new_end
    mismatched = []
    for col in inc.columns:
        a, b = inc[col], full[col]
        if not a.is_null().equals(b.is_null()):
            mismatched.append(col)
        elif a.dtype.is_float():
            gap = (a - b).abs() - 1e-6 * b.abs().clip(lower_bound=1.0)
            # Rolling sums restart their running total at a different row: last-bit differences.
            if (gap.fill_null(0.0) > 0).any():
                mismatched.append(col)
        elif not a.equals(b):
            mismatched.append(col)
    assert mismatched == []
    meta = json.loads((extended.path / "metadata.json").read_text())
    assert meta["incremental"] is True and meta["end"] == "2024-07-05"
    assert meta["rows"] == inc.height
    # The extended cache (old date rows copied, changed rows scattered) equals a full write.
    names = [p.name for p in (extended.path / "cache").iterdir() if p.suffix == ".npy"]
    extended_cache = {n: (extended.path / "cache" / n).read_bytes() for n in names}
    write_cache(extended.path)
    assert extended_cache == {n: (extended.path / "cache" / n).read_bytes() for n in names}


def test_leaky_block_is_refused(small_market):
    with pytest.raises(LabelLeakError, match="'t_peek' equals label 'target_1d'"):
        build_dataset(
            "leak",
            date(2020, 8, 3),
            date(2021, 2, 26),
            store=TableStore(small_market),
            registry={"t_leaky": LEAKY_BLOCK},
            show_progress=False,
        )


def test_block_with_wrong_columns_is_named(small_market):
    bad = Block(
        name="bad",
        sources=("equities_bars_daily",),
        availability="bars_same_day",
        lookback=0,
        features=(Feature("declared", "x", "x", None),),
        compute=lambda ctx: ctx.base.select("Code", "Date", pl.col("C").alias("other")),
    )
    with pytest.raises(BuildError, match=r"block 'bad'.*missing \['declared'\], extra \['other'\]"):
        build_dataset(
            "bad",
            date(2020, 8, 3),
            date(2020, 9, 30),
            store=TableStore(small_market),
            registry={"bad": bad},
            show_progress=False,
        )


def test_unknown_block_and_bad_range_are_refused(small_market):
    store = TableStore(small_market)
    with pytest.raises(BuildError, match=r"unknown block\(s\) \['nope'\]"):
        build_dataset("x", date(2020, 8, 3), date(2020, 9, 30), blocks=["nope"], store=store)
    with pytest.raises(BuildError, match="--start 2020-09-30 is after --end 2020-08-03"):
        build_dataset("x", date(2020, 9, 30), date(2020, 8, 3), store=store)


def test_windows_never_cross_stocks(small_market):
    """Block-boundary test: every code's values equal a build on that code alone."""
    store = TableStore(small_market)
    both = read_panel(
        build_dataset(
            "both",
            date(2020, 8, 3),
            date(2021, 2, 26),
            store=store,
            registry={"t_returns": RETURNS_BLOCK},
            show_progress=False,
        )
    )
    for code in ("13010", "13030"):
        alone_tables = {
            k: (v.filter(pl.col("Code") == code) if "Code" in v.columns else v)
            for k, v in small_market.items()
        }
        alone = read_panel(
            build_dataset(
                f"alone_{code}",
                date(2020, 8, 3),
                date(2021, 2, 26),
                store=TableStore(alone_tables),
                registry={"t_returns": RETURNS_BLOCK},
                show_progress=False,
            )
        )
        part = both.filter(pl.col("Code") == code)
        for col in ("t_ret_1d", "t_ret_mean_5d", "t_ret_20d", "t_vo_sum_3d", "target_5d"):
            assert part[col].equals(alone[col]), (code, col)
    # 13030 lists mid-period: its first rows are warm-up nulls, not the previous code's values.
    first = both.filter(pl.col("Code") == "13030").head(20)
    assert first["t_ret_20d"].null_count() == 20
    assert first["t_ret_1d"][0] is None


def test_artifacts_features_json_and_metadata(small_market):
    result = build_dataset(
        "art",
        date(2020, 8, 3),
        date(2021, 2, 26),
        store=TableStore(small_market),
        registry=TEST_BLOCKS,
        show_progress=False,
    )
    panel = read_panel(result)
    assert panel.schema["Code"] == pl.String and panel.schema["Date"] == pl.Date
    assert panel.schema["t_ret_1d"] == pl.Float32 and panel.schema["t_vo_sum_3d"] == pl.Float64
    index = json.loads((result.path / "features.json").read_text())
    cols = {c["name"]: c for c in index["columns"]}
    assert list(cols) == panel.columns
    assert cols["Code"]["role"] == "key" and cols["target_20d_sector"]["role"] == "target"
    ret = cols["t_ret_20d"]
    assert ret["role"] == "feature" and ret["block"] == "t_returns" and ret["window"] == 21
    assert ret["formula"] == "AdjC[t]/AdjC[t-20]-1" and ret["dtype"] == "Float32"
    assert ret["availability"]["rule"] == "bars_same_day"
    assert ret["availability"]["sources"][0].startswith("equities_bars_daily: bars_same_day")
    meta = json.loads((result.path / "metadata.json").read_text())
    assert meta["rows"] == panel.height == result.rows
    assert meta["stocks"] == 4 and meta["dates"] == panel["Date"].n_unique()
    assert meta["start"] == "2020-08-03" and meta["end"] == "2021-02-26"
    assert meta["warmup_days"] == 25 and meta["blocks"] == ["t_returns", "t_sector"]
    assert len(meta["schema_hash"]) == 64 and meta["peak_rss_mb"] > 0
    assert not list(result.path.glob(".*.tmp"))


def _raw_store_from(tables, root):
    from gogooku.store.raw import RawStore, UnitWrite

    store = RawStore(root)
    for dataset, frame in tables.items():
        field = RawStore.date_field(dataset)
        months = frame.with_columns(pl.col(field).dt.strftime("%Y-%m").alias("_m"))
        units = [
            UnitWrite(str(m), part.drop("_m"), {"month": str(m)}, None, None, None)
            for (m,), part in months.group_by("_m", maintain_order=True)
        ]
        store.write_units(dataset, units, source="test")
    return store


def test_cli_build_on_a_raw_store(small_market, _isolated_home):
    from gogooku.settings import Settings

    _raw_store_from(small_market, Settings().raw_dir)
    runner = CliRunner()
    args = ["build", "--start", "2020-08-03", "--end", "2021-01-29", "--name", "cli"]
    blocks = ["--blocks", "returns,sector", "--warmup-days", "30", "--chunk-stocks", "3"]
    result = runner.invoke(app, [*args, *blocks])
    assert result.exit_code == 0, result.output
    assert "built" in result.output and "2020-08-03..2021-01-29" in result.output
    path = _isolated_home / "datasets" / "cli"
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["blocks"] == ["returns", "sector"] and meta["warmup_days"] == 30
    assert meta["chunk_stocks"] == 3
    assert meta["source_hashes"]["equities_bars_daily"].startswith("catalog:")
    assert "feature coverage by block" in result.output
    assert re.search(r"│ sector\s+│\s+\d+ │\s+\d+\.\d │", result.output), result.output
    # One more month: extended incrementally.
    args[4] = "2021-02-26"
    result = runner.invoke(app, [*args, *blocks])
    assert result.exit_code == 0, result.output
    assert "extended " in result.output and "2020-08-03..2021-02-26" in result.output
    bad = runner.invoke(
        app, ["build", "--start", "2020-13-01", "--end", "2021-01-29", "--name", "x"]
    )
    assert bad.exit_code != 0 and "2020-13-01" in bad.output
    unknown = runner.invoke(app, [*args, "--blocks", "nope"])
    assert unknown.exit_code == 1 and "unknown block(s) ['nope']" in unknown.output
    no_chunk = runner.invoke(app, [*args, "--chunk-stocks", "0"])
    assert no_chunk.exit_code == 1 and "--chunk-stocks must be >= 1, got 0" in no_chunk.output


@pytest.mark.slow
def test_stock_chunks_give_the_one_chunk_panel(synth_market, synth_full, synth_full_dir):
    """Chunks of 4 stocks (10 chunks, every block) write the panel of the one-chunk build."""
    result = build_dataset(
        "chunked",
        SYNTH_START,
        SYNTH_END,
        store=TableStore(synth_market),
        registry=ALL_BLOCKS,
        blocks=EVERY_BLOCK,
        show_progress=False,
        chunk_stocks=4,
    )
    chunked = read_panel(result)
    assert synth_full["Code"].n_unique() > 30
    assert chunked.schema == synth_full.schema
    assert chunked.equals(synth_full)
    whole = synth_full_dir
    assert pl.read_parquet(result.path / "graph_edges.parquet").equals(
        pl.read_parquet(whole / "graph_edges.parquet")
    )
    meta, meta_whole = (json.loads((p / "metadata.json").read_text()) for p in (result.path, whole))
    for key in ("rows", "stocks", "dates", "schema_hash", "blocks", "skipped_blocks"):
        assert meta[key] == meta_whole[key], key
    assert meta["chunk_stocks"] == 4 and meta_whole["chunk_stocks"] == DEFAULT_CHUNK_STOCKS
    assert set(meta["block_seconds"]) == set(meta["blocks"])
    index, index_whole = (
        json.loads((p / "features.json").read_text()) for p in (result.path, whole)
    )
    assert index["columns"] == index_whole["columns"]
    assert not list(result.path.glob(".*"))


def test_chunk_boundaries_do_not_split_stocks(small_market):
    """One stock per chunk: windows and sector means equal the one-chunk build's."""
    kwargs = {"store": TableStore(small_market), "registry": TEST_BLOCKS, "show_progress": False}
    one = read_panel(build_dataset("one", date(2020, 8, 3), date(2021, 2, 26), **kwargs))
    per_stock = read_panel(
        build_dataset("per", date(2020, 8, 3), date(2021, 2, 26), chunk_stocks=1, **kwargs)
    )
    assert per_stock.equals(one)
    # The sector mean reads the other stocks of the date (not only the chunk's one stock).
    assert (per_stock["t_sector_ret_1d"] != per_stock["t_ret_1d"]).any()


def test_the_panel_and_cache_writes_are_timed_as_stages_of_the_build(small_market):
    kwargs = {"store": TableStore(small_market), "registry": TEST_BLOCKS, "show_progress": False}
    result = build_dataset("timed", date(2020, 8, 3), date(2021, 2, 26), chunk_stocks=2, **kwargs)
    stages = json.loads((result.path / "metadata.json").read_text())["stage_seconds"]
    assert stages["panel_write"]["cpu"] > 0 and stages["cache_write"]["cpu"] > 0
    assert stages["chunks"]["wall"] > 0 and stages["blocks"]["wall"] > 0


def test_chunk_size_must_be_positive(small_market):
    with pytest.raises(BuildError, match="--chunk-stocks must be >= 1, got 0"):
        build_dataset(
            "x",
            date(2020, 8, 3),
            date(2020, 9, 30),
            store=TableStore(small_market),
            registry=TEST_BLOCKS,
            show_progress=False,
            chunk_stocks=0,
        )


def test_incremental_build_with_new_listings_equals_full_rebuild(tmp_path, _isolated_home):
    """A code listing inside the code order and one after the last old code: the streamed merge
    of the old panel with the new rows, and the cache (written whole: N grew), match a rebuild."""
    tables = make_market(n_codes=6)
    late = pl.col("Code") != "13060"
    tables["equities_bars_daily"] = tables["equities_bars_daily"].filter(
        late | (pl.col("Date") >= date(2021, 2, 1))
    )
    tables["equities_master"] = tables["equities_master"].filter(
        late | (pl.col("Date") >= date(2021, 2, 1))
    )
    store = TableStore(tables)
    kwargs = {"store": store, "registry": TEST_BLOCKS, "show_progress": False, "chunk_stocks": 2}
    first = build_dataset("grow", date(2020, 8, 3), date(2020, 8, 14), **kwargs)
    assert read_panel(first)["Code"].n_unique() == 4
    extended = build_dataset("grow", date(2020, 8, 3), date(2021, 3, 1), **kwargs)
    rebuilt = build_dataset("grow2", date(2020, 8, 3), date(2021, 3, 1), **kwargs)
    assert extended.incremental and not rebuilt.incremental
    inc, full = read_panel(extended), read_panel(rebuilt)
    assert inc["Code"].n_unique() == 6
    assert inc.select("Code", "Date").equals(full.select("Code", "Date"))
    for col in inc.columns[2:]:
        assert inc[col].is_null().equals(full[col].is_null()), col
        diff = (inc[col].cast(pl.Float64) - full[col].cast(pl.Float64)).abs().fill_null(0.0)
        assert diff.max() < 1e-6, col
    names = [p.name for p in (extended.path / "cache").iterdir() if p.suffix == ".npy"]
    grown = {n: (extended.path / "cache" / n).read_bytes() for n in names}
    write_cache(extended.path)
    assert grown == {n: (extended.path / "cache" / n).read_bytes() for n in names}


def test_panel_float_columns_are_not_dictionary_encoded(synth_full_dir):
    """The panel writer leaves dictionaries to the non-float columns (a float feature's would
    overflow and be thrown away: slow and larger)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(synth_full_dir / "panel.parquet").metadata
    group = meta.row_group(0)
    encodings = {
        group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)
    }
    schema = pl.read_parquet_schema(synth_full_dir / "panel.parquet")
    floats = [n for n, t in schema.items() if t.is_float()]
    assert floats and all("RLE_DICTIONARY" not in encodings[n] for n in floats)
    assert "RLE_DICTIONARY" in encodings["Code"]


def test_build_cache_equals_write_cache_of_the_panel(synth_full_dir, tmp_path):
    """The cache the build writes from its in-memory chunks is byte-identical to ``write_cache``
    of the finished panel."""
    import shutil

    for name in ("panel.parquet", "features.json", "graph_edges.parquet"):
        if (synth_full_dir / name).exists():
            shutil.copy(synth_full_dir / name, tmp_path / name)
    write_cache(tmp_path)
    built = sorted(p.name for p in (synth_full_dir / "cache").iterdir())
    assert built == sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert "features.npy" in built and "edge_src.npy" in built
    for name in built:
        assert (synth_full_dir / "cache" / name).read_bytes() == (
            tmp_path / "cache" / name
        ).read_bytes(), name


def test_a_killed_builds_leftovers_are_removed_and_a_second_build_is_refused(
    small_market, tmp_path
):
    import fcntl

    from gogooku.dataset.build_lock import BuildLockedError, lock_path
    from gogooku.settings import Settings

    settings = Settings(home=tmp_path)
    folder = settings.datasets_dir / "kept"
    folder.mkdir(parents=True)
    (folder / ".build-x1y2").mkdir()
    (folder / ".build-x1y2" / "spill.parquet").write_bytes(b"spill")
    (folder / "cache.tmp-0a1b").mkdir()
    (folder / ".metadata.json.0a1b.tmp").write_text("{")

    def build() -> None:
        build_dataset(
            "kept",
            date(2020, 8, 3),
            date(2020, 9, 30),
            store=TableStore(small_market),
            settings=settings,
            registry=TEST_BLOCKS,
            show_progress=False,
        )

    with open(lock_path(folder), "a") as other:  # another process building the same dataset
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BuildLockedError, match="being built by another process"):
            build()
        assert (folder / ".build-x1y2" / "spill.parquet").is_file()
    build()
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["cache", "features.json", "metadata.json", "panel.parquet"]


# case -> (DiscTime, DiscDate before (False) / from (True) 2024-11-05 or either (None), whether the
# statement enters the panel on DiscDate itself rather than the next session)
STATEMENT_TIMES = {
    "15:00 before 2024-11-05 (the close)": ("15:00:00", False, False),
    "15:00 from 2024-11-05 (before the 15:30 close)": ("15:00:00", True, True),
    "15:30 from 2024-11-05 (the close)": ("15:30:00", True, False),
    "18:59:59": ("18:59:59", None, False),
    "19:00": ("19:00:00", None, False),
    "21:00": ("21:00:00", None, False),
    "empty": (None, None, False),
}


def test_synthetic_statements_enter_the_panel_on_their_availability_day(synth_market, synth_full):
    """Every disclosure-time case of the synthetic market: the statement's fiscal quarter is in
    ``stmt_fq`` from DiscDate when DiscTime is before that day's close, else from the next session,
    and never on the session before."""
    days = synth_full["Date"].unique().sort()
    statements = (
        synth_market["fins_summary"]
        .filter(pl.col("DocType").str.contains("FinancialStatements"))
        .select(
            "Code",
            "DiscDate",
            "DiscTime",
            pl.col("CurPerType").replace_strict({"1Q": 1, "2Q": 2, "3Q": 3, "FY": 4}).alias("fq"),
            (pl.col("DiscDate") >= date(2024, 11, 5)).alias("late_close"),
        )
        .filter(pl.col("DiscDate").is_between(SYNTH_START, days[-2]))
    )
    fq = {(c, d): v for c, d, v in synth_full.select("Code", "Date", "stmt_fq").iter_rows()}
    for case, (time, late_close, same_day) in STATEMENT_TIMES.items():
        disc_time = pl.col("DiscTime")
        rows = statements.filter(disc_time.is_null() if time is None else disc_time == time)
        if late_close is not None:
            rows = rows.filter(pl.col("late_close") == late_close)
        checked = 0
        for code, disc, _, quarter, _ in rows.iter_rows():
            k = days.search_sorted(disc)
            enter = days[k] if same_day else days[k + 1]
            before = days[days.search_sorted(enter) - 1]
            if (code, enter) not in fq or (code, before) not in fq:
                continue  # listed too late or delisted by then
            assert fq[(code, enter)] == quarter, (case, code, disc)
            assert fq[(code, before)] != quarter, (case, code, disc)
            checked += 1
        assert checked > 0, f"the synthetic market has no statement disclosed at {case}"


def test_delisted_synthetic_stocks_keep_their_last_labels_with_the_crash(synth_market, synth_full):
    """A stock whose rows end before the panel's: the rows whose window runs past its last day
    are labelled with its last traded close, and the crash before the delisting is in them."""
    last_day = synth_full["Date"].max()
    spans = synth_full.group_by("Code").agg(pl.col("Date").max().alias("last"))
    delisted = spans.filter(pl.col("last") < last_day)["Code"].to_list()
    assert delisted, "the synthetic market has no delisting in the panel"
    bars = synth_market["equities_bars_daily"]
    worst = 0.0
    for code in delisted:
        adj = bars.filter(pl.col("Code") == code).sort("Date")["AdjC"].to_list()
        closes = [c for c in adj if c is not None]
        rows = synth_full.filter(pl.col("Code") == code).sort("Date").tail(21)
        labels = rows["target_20d"].to_list()
        for t, label in enumerate(labels[:-1]):
            entry = adj[len(adj) - 21 + t + 1]
            if entry is None:
                assert label is None
                continue
            assert label == pytest.approx(closes[-1] / entry - 1, rel=1e-5), (code, t)
        assert labels[-1] is None  # its last day: nothing to buy the next session
        worst = min(worst, *(v for v in labels if v is not None))
    assert worst < -0.4
