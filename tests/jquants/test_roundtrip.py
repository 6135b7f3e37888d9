"""to_records writes what the API writes, and parse_records(to_records(df)) == df for any frame."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from gogooku.jquants import fs_labels
from gogooku.jquants.endpoints import (
    ENDPOINTS,
    NULL_TOKENS,
    parse_records,
    records_json,
    to_records,
)

from .conftest import load_fixture

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12).filter(
    lambda s: s not in NULL_TOKENS
)
numbers = st.floats(allow_nan=False, allow_infinity=False).map(lambda x: x + 0.0)
times = st.times().map(lambda t: t.strftime("%H:%M:%S"))
minutes = st.times().map(lambda t: t.strftime("%H:%M"))
dates = st.dates(dt.date(1990, 1, 1), dt.date(2040, 12, 31))
flags = st.booleans()
# A stored list is its |-joined items (item codes, document kinds); [] is stored as null.
item_lists = st.lists(st.text("0123456789gsx", min_size=1, max_size=4), min_size=1, max_size=3).map(
    "|".join
)
nested = st.lists(
    st.fixed_dictionaries(
        {"Name": st.sampled_from([None, "", "株式会社", 'a"b']), "Ratio": numbers}
    ),
    max_size=2,
).map(lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":")))


def value_strategy(spec):
    base = {
        "date": dates,
        "str": texts,
        "time": times,
        "minute": minutes,
        "flag": flags,
        "tf": flags,
        "num": numbers,
        "numstr": numbers,
        "list": item_lists,
        "json": nested,
    }
    if spec.kind == "json" and spec.name == "FS":
        labels = st.sampled_from(
            [fs_labels.STANDARD_LABEL, "Total assets", "Goodwill", "Net sales"]
        )
        amounts = st.one_of(st.just(""), st.integers(-(10**12), 10**12).map(str))
        objects = st.dictionaries(labels, amounts, max_size=4)
        return st.one_of(
            st.none(),
            objects.map(lambda d: json.dumps(d, sort_keys=True, separators=(",", ":"))),
        )
    if spec.kind == "struct":
        member = st.one_of(st.none(), flags)
        return st.one_of(st.none(), st.fixed_dictionaries(dict.fromkeys(spec.members, member)))
    return st.one_of(st.none(), base[spec.kind])


@st.composite
def frames(draw, endpoint_id):
    endpoint = ENDPOINTS[endpoint_id]
    rows = draw(st.integers(0, 4))
    data = {
        spec.name: [draw(value_strategy(spec)) for _ in range(rows)] for spec in endpoint.fields
    }
    wire = pl.DataFrame(data, schema={s.name: s.dtype for s in endpoint.fields})
    if endpoint.derived:
        wire = fs_labels.with_line_items(wire)
    return wire.select(pl.col(name).cast(dtype) for name, dtype in endpoint.schema.items())


@pytest.mark.parametrize("endpoint_id", sorted(ENDPOINTS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_through_json(endpoint_id, data):
    frame = data.draw(frames(endpoint_id))
    wire = json.loads(json.dumps(to_records(endpoint_id, frame)))
    assert_frame_equal(parse_records(endpoint_id, wire), frame)
    assert json.loads(records_json(endpoint_id, frame)) == wire


def test_bars_wire_quirks():
    frame = parse_records("equities_bars_daily", load_fixture("equities_bars_daily"))
    jpx, new, _ = to_records("equities_bars_daily", frame)
    assert jpx["Date"] == "2023-03-24"
    assert jpx["Code"] == "86970"
    assert (jpx["UL"], jpx["LL"], new["UL"]) == ("0", "0", "1")
    assert jpx["O"] == 2047.0 and isinstance(jpx["O"], float)
    assert new["MO"] is None and new["MktCap"] is None
    short = to_records(
        "equities_bars_daily", frame, drop=ENDPOINTS["equities_bars_daily"].premium_fields
    )
    assert "MO" not in short[0] and "AAdjVo" not in short[0] and short[0]["AdjC"] == 2045.0


def test_fins_summary_writes_numbers_and_flags_as_strings():
    frame = parse_records("fins_summary", load_fixture("fins_summary"))
    jpx = to_records("fins_summary", frame)[0]
    assert jpx["Sales"] == "100529000000"
    assert jpx["EPS"] == "66.76"
    assert jpx["FDivAnn"] == "62"
    assert jpx["OdP"] == "" and jpx["NxtFYSt"] == ""
    assert (jpx["ChgAcEst"], jpx["MatChgSub"], jpx["SigChgInC"]) == ("true", "false", "")
    assert jpx["DiscTime"] == "12:00:00"


def test_null_tokens_are_written_back():
    alert = to_records(
        "markets_margin_alert",
        parse_records("markets_margin_alert", load_fixture("markets_margin_alert")),
    )
    assert alert[0]["ShrtOutRatio"] == "*" and alert[1]["ShrtOutChg"] == "-"
    assert alert[0]["PubReason"]["PrecautionByJSF"] == "1"
    assert alert[0]["PubReason"]["Restricted"] == "0"
    assert alert[2]["PubReason"] is None
    futures = to_records("futures", parse_records("futures", load_fixture("futures")))
    assert futures[0]["MO"] == "" and futures[0]["EO"] == 2825.5 and futures[0]["CCMFlag"] == "1"
    dividend = to_records(
        "fins_dividend", parse_records("fins_dividend", load_fixture("fins_dividend"))
    )
    assert dividend[0]["DivRate"] == "-" and dividend[0]["PayDate"] == "-"
    assert dividend[0]["DistAmt"] == ""
    master = to_records(
        "equities_master", parse_records("equities_master", load_fixture("equities_master"))
    )
    assert [r["ScaleCat"] for r in master] == ["TOPIX Large70", "-", "-"]
    earnings = to_records(
        "fins_earnings_date",
        parse_records("fins_earnings_date", load_fixture("fins_earnings_date")),
    )
    assert earnings[1]["SchDate"] == ""


def test_non_finite_numbers_are_written_as_null():
    frame = pl.DataFrame(
        {
            "Date": [dt.date(2024, 1, 4)] * 2,
            "O": [float("nan"), float("inf")],
            "H": [1.0, 2.0],
            "L": [1.0, 2.0],
            "C": [1.0, 2.0],
        },
        schema=ENDPOINTS["indices_topix"].schema,
    )
    assert [r["O"] for r in to_records("indices_topix", frame)] == [None, None]
    assert json.loads(records_json("indices_topix", frame))[1]["O"] is None


def test_to_records_rejects_a_frame_off_the_catalogue_schema():
    frame = pl.DataFrame({"Date": [dt.date(2024, 1, 4)], "HolDiv": [1]})
    with pytest.raises(
        ValueError,
        match=r"markets_calendar: columns with a dtype other than the catalogue's: \{'HolDiv': 'Int64'\}",
    ):
        to_records("markets_calendar", frame)
    with pytest.raises(
        ValueError, match=r"markets_calendar: frame lacks catalogue column\(s\) \['HolDiv'\]"
    ):
        to_records("markets_calendar", frame.drop("HolDiv"))
