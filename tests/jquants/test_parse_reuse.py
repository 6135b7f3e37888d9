"""Expressions reused across responses: the conversion of one page never leaks into the next.

``parse_records`` and ``wire_frame`` build their Polars expressions once per field set and reuse
them; these tests alternate pages whose columns arrive as numbers, as text with null tokens, and
with different omitted fields, and check every page against its own expected values.
"""

from __future__ import annotations

import polars as pl
import pytest

from gogooku.jquants.endpoints import ENDPOINTS, parse_records, wire_frame

NUMBERS = [{"Date": "2024-01-04", "Code": "72030", "O": 2500.0, "C": 2510, "UL": "0"}]
TOKENS = [{"Date": "2024-01-05", "Code": "72030", "O": "-", "C": "2520.5", "UL": "1"}]


def _row(frame: pl.DataFrame) -> dict:
    return frame.select("Date", "Code", "O", "C", "UL").row(0, named=True)


def test_pages_alternating_numbers_and_tokens_parse_each_on_its_own() -> None:
    for _ in range(2):
        numbers = _row(parse_records("equities_bars_daily", NUMBERS))
        tokens = _row(parse_records("equities_bars_daily", TOKENS))
        assert numbers["O"] == 2500.0 and numbers["C"] == 2510.0 and numbers["UL"] is False
        assert tokens["O"] is None and tokens["C"] == 2520.5 and tokens["UL"] is True
        assert str(numbers["Date"]) == "2024-01-04" and str(tokens["Date"]) == "2024-01-05"


def test_bad_value_after_good_pages_still_names_the_field() -> None:
    parse_records("equities_bars_daily", TOKENS)
    with pytest.raises(ValueError, match="equities_bars_daily: field C has value 'abc'"):
        parse_records("equities_bars_daily", [{**TOKENS[0], "C": "abc"}])


def test_wire_frame_honours_each_drop_set() -> None:
    ep = ENDPOINTS["equities_bars_daily"]
    frame = parse_records(ep.id, NUMBERS)
    premium = sorted(ep.premium_fields)
    full = wire_frame(ep.id, frame)
    dropped = wire_frame(ep.id, frame, frozenset(premium))
    again = wire_frame(ep.id, frame)
    assert set(premium) <= set(full.columns)
    assert not set(premium) & set(dropped.columns)
    assert again.columns == full.columns == list(ep.schema)
    assert dropped.row(0, named=True)["UL"] == "0"
