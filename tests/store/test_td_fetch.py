"""``gogooku fetch`` of TDnet: skipped with one message without the add-on; with it, the history
comes from one /td/bulk file and only the days after its ``lastUpdated`` are paged."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gogooku.settings import AddOn, Plan
from gogooku.store.fetch import settle_time
from gogooku.store.raw import RawStore
from gogooku.store.synthetic import fetch_synthetic_market
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import generate_market
from gogooku.synth.request_log import RequestLog


@pytest.fixture(scope="module")
def market():
    return generate_market(
        SynthConfig(seed=11, stocks=20, start=dt.date(2024, 1, 1), end=dt.date(2024, 2, 29))
    )


def test_without_the_add_on_td_is_skipped_with_one_message(tmp_path, market):
    store = RawStore(tmp_path / "raw")
    report, _ = fetch_synthetic_market(
        store, market, ["td_list"], Plan.PREMIUM, progress=False, addons=frozenset()
    )
    td = [m for m in report.messages if m.startswith("td_list")]
    assert td == [
        "td_list: skipped: needs the tdnet add-on (JQUANTS_ADDONS), which this key does not hold"
    ]
    assert report.results["td_list"].requests == 0
    assert not store.catalog.units("td_list")


def test_with_the_add_on_history_comes_from_one_bulk_file(tmp_path, market):
    store = RawStore(tmp_path / "raw")
    log = RequestLog()
    report, _ = fetch_synthetic_market(
        store,
        market,
        ["td_list"],
        Plan.PREMIUM,
        progress=False,
        addons=frozenset({AddOn.TDNET}),
        log=log,
    )
    result = report.results["td_list"]
    days = market.state.days
    units = store.catalog.units("td_list")
    assert len(units) == len(days)
    bulk = [u for u in units if u.fetched_at <= settle_time(days[-1])]
    paged = len(units) - len(bulk)
    assert paged <= 2 and len(bulk) >= len(days) - 2
    assert all(settle_time(u.unit_end) <= u.fetched_at for u in bulk)
    assert result.requests == 1 + paged  # /td/bulk, then one date= request per later day
    # The server's log agrees (the calendar's months, /td/bulk, its file, the paged days).
    counts = log.counts()
    assert counts["/td/bulk"] == 1 and counts["/td/list"] == paged
    assert sum(p.startswith("/td-files/bulk/") for p in log.paths) == 1
    keys = {(r.path.startswith("/td-files/"), r.api_key) for r in log.requests}
    assert keys == {(False, "synthetic-local-key"), (True, None)}  # signed URLs need no key
    assert any("from /td/bulk" in note for note in result.notes)
    stored = store.scan("td_list").collect().sort("DiscNo")
    table = market.tables["td_list"].sort("DiscNo")
    last_bulk_day = max(u.unit_end for u in bulk)
    early = pl.col("DiscDate") <= last_bulk_day
    assert_frame_equal(stored.filter(early), table.filter(early))
    again, _ = fetch_synthetic_market(
        store, market, ["td_list"], Plan.PREMIUM, progress=False, addons=frozenset({AddOn.TDNET})
    )
    assert again.results["td_list"].requests <= paged  # only unsettled paged days again
