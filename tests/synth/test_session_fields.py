"""Morning/afternoon session fields of the synthetic bars: consistency, plan gating, stability."""

from __future__ import annotations

import datetime as dt

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gogooku.jquants.endpoints import ENDPOINTS, parse_records
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.settings import Plan
from gogooku.synth.api import create_app
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import SyntheticMarket, generate_market
from gogooku.synth.sessions import with_sessions

CONFIG = SynthConfig(seed=3, stocks=40, start=dt.date(2020, 9, 1), end=dt.date(2020, 12, 31))
PREMIUM_FIELDS = ENDPOINTS["equities_bars_daily"].premium_fields


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return generate_market(CONFIG, side_tables=False)


@pytest.fixture(scope="module")
def sessions(market) -> pl.DataFrame:
    return with_sessions(market.tables["equities_bars_daily"], CONFIG.seed)


def _served(market, plan: Plan, params: dict[str, str], page_size: int = 5000) -> list[dict]:
    app = create_app(market, api_key=None, plan=plan, rate_limit=False, page_size=page_size)
    records, query = [], dict(params)
    with httpx.Client(transport=ASGISyncTransport(app), base_url="http://t/v2") as client:
        while True:
            body = client.get("/equities/bars/daily", params=query).json()
            records += body["data"]
            if "pagination_key" not in body:
                return records
            query = {**params, "pagination_key": body["pagination_key"]}


def test_sessions_are_consistent_with_the_whole_day(sessions):
    traded = sessions.filter(pl.col("O").is_not_null())
    assert traded.height > 3000
    checks = traded.select(
        mo=(pl.col("MO") == pl.col("O")).all(),
        ac=(pl.col("AC") == pl.col("C")).all(),
        high=(pl.max_horizontal("MH", "AH") == pl.col("H")).all(),
        low=(pl.min_horizontal("ML", "AL") == pl.col("L")).all(),
        m_range=(
            (pl.col("MH") >= pl.max_horizontal("MO", "MC"))
            & (pl.col("ML") <= pl.min_horizontal("MO", "MC"))
        ).all(),
        a_range=(
            (pl.col("AH") >= pl.max_horizontal("AO", "AC"))
            & (pl.col("AL") <= pl.min_horizontal("AO", "AC"))
        ).all(),
        volume=(pl.col("MVo") + pl.col("AVo") == pl.col("Vo")).all(),
        value=((pl.col("MVa") + pl.col("AVa") - pl.col("Va")).abs() <= 1e-6 * pl.col("Va")).all(),
        a_vwap=(pl.col("AVa") / pl.col("AVo")).is_between(pl.col("AL"), pl.col("AH")).all(),
        lots=((pl.col("MVo") % 100 == 0) & (pl.col("MVo") > 0) & (pl.col("AVo") > 0)).all(),
        adj=(
            ((pl.col("MAdjC") / pl.col("MC") - pl.col("AdjC") / pl.col("C")).abs() < 1e-12)
            & ((pl.col("AAdjVo") / pl.col("AVo") - pl.col("AdjVo") / pl.col("Vo")).abs() < 1e-12)
            & ((pl.col("MAdjO") - pl.col("AdjO")).abs() <= 1e-9 * pl.col("AdjO"))
        ).all(),
        mul=((~pl.col("MUL") | pl.col("UL")) & (pl.col("AUL") == pl.col("UL"))).all(),
        mll=((~pl.col("MLL") | pl.col("LL")) & (pl.col("ALL") == pl.col("LL"))).all(),
    )
    assert checks.row(0, named=True) == dict.fromkeys(checks.columns, True)
    share = (traded["MVo"] / traded["Vo"]).mean()
    assert 0.45 < share < 0.55
    assert (traded["MC"] != traded["MO"]).mean() > 0.5  # the morning close is drawn, not copied


def test_no_trade_days_and_the_halt_have_null_sessions(sessions):
    idle = sessions.filter(pl.col("O").is_null())
    assert idle.filter(pl.col("Date") == dt.date(2020, 10, 1)).height == CONFIG.stocks
    numeric = [c for c in PREMIUM_FIELDS if sessions.schema[c] == pl.Float64]
    assert idle.select(pl.col(numeric).is_not_null().any()).row(0) == (False,) * len(numeric)
    flags = ["MUL", "MLL", "AUL", "ALL"]
    assert idle.select(pl.col(flags).any()).row(0) == (False,) * 4


def test_existing_table_is_unchanged_and_premium_serves_the_rendered_fields(market, sessions):
    table = market.tables["equities_bars_daily"]
    assert not set(table.columns) & PREMIUM_FIELDS  # the market's tables stay as they were
    params = {"date": "2020-11-04"}
    records = _served(market, Plan.PREMIUM, params, 7)
    assert {r["MUL"] for r in records} | {r["ALL"] for r in records} <= {"0", "1"}  # as UL/LL
    premium = parse_records("equities_bars_daily", records)
    expected = sessions.filter(pl.col("Date") == dt.date(2020, 11, 4))
    assert_frame_equal(premium, expected)
    standard = _served(market, Plan.STANDARD, params)
    assert standard and not set(standard[0]) & PREMIUM_FIELDS
    assert _served(market, Plan.PREMIUM, {"date": "2020-11-07"}) == []  # a Saturday: no rows
    by_code = parse_records("equities_bars_daily", _served(market, Plan.PREMIUM, {"code": "13910"}))
    assert_frame_equal(by_code, sessions.filter(pl.col("Code") == "13910").sort("Date"))


def test_session_fields_are_prefix_stable(sessions):
    shorter = SynthConfig(seed=3, stocks=40, start=CONFIG.start, end=dt.date(2020, 11, 15))
    short = with_sessions(
        generate_market(shorter, side_tables=False).tables["equities_bars_daily"], 3
    )
    assert_frame_equal(short, sessions.filter(pl.col("Date") <= dt.date(2020, 11, 15)))
    other_seed = with_sessions(short.drop(PREMIUM_FIELDS), 4)
    assert not other_seed["MC"].equals(short["MC"])
