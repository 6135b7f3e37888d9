"""The catalogue against docs/architecture.md, the reference's plan table and the type rule."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from gogooku.jquants.derived import DERIVED
from gogooku.jquants.endpoints import ENDPOINTS, ENDPOINTS_BY_PATH, empty_frame, get_endpoint
from gogooku.settings import Plan

ARCHITECTURE = Path(__file__).parents[2] / "docs" / "architecture.md"
ROW = re.compile(r"^\| `(?P<id>[a-z0-9_]+)` \| `(?P<path>[^`]+)` \| (?P<plan>[a-z]+) \|$")
DERIVED_ROW = re.compile(
    r"^\| `(?P<id>[a-z0-9_]+)` \| `(?P<parent>[a-z0-9_]+)` \| `(?P<key>[^`]+)` \|"
)


def architecture_rows() -> dict[str, tuple[str, Plan]]:
    rows = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line.strip())
        if match:
            rows[match["id"]] = (match["path"], Plan(match["plan"]))
    return rows


def test_catalogue_covers_exactly_the_architecture_dataset_ids():
    rows = architecture_rows()
    assert set(ENDPOINTS) == set(rows)
    for endpoint_id, (path, plan) in rows.items():
        assert ENDPOINTS[endpoint_id].path == path, endpoint_id
        assert ENDPOINTS[endpoint_id].min_plan is plan, endpoint_id
        assert ENDPOINTS_BY_PATH[path].id == endpoint_id


def test_derived_datasets_are_the_architecture_table_and_not_endpoints():
    lines = ARCHITECTURE.read_text(encoding="utf-8").splitlines()
    rows = [m for line in lines if (m := DERIVED_ROW.match(line.strip()))]
    assert {m["id"]: (m["parent"], tuple(m["key"].split())) for m in rows} == {
        d.id: (d.parent, d.key) for d in DERIVED.values()
    }
    for derived in DERIVED.values():
        assert derived.id not in ENDPOINTS and derived.parent in ENDPOINTS
        assert set(derived.key) <= set(derived.schema)


@pytest.mark.parametrize(
    ("endpoint_id", "mode", "date_field"),
    [
        ("equities_bars_daily", "date", "Date"),
        ("equities_master", "date", "Date"),
        ("markets_short_ratio", "date", "Date"),
        ("markets_margin_alert", "date", "PubDate"),
        ("options_225", "date", "Date"),
        ("fins_summary", "date", "DiscDate"),
        ("indices_bars_daily", "date", "Date"),
        ("markets_breakdown", "date", "Date"),
        ("futures", "date", "Date"),
        ("fins_dividend", "date", "PubDate"),
        ("fins_earnings_date", "date", "PubDate"),
        ("markets_calendar", "range", "Date"),
        ("indices_topix", "range", "Date"),
        ("equities_investor_types", "range", "PubDate"),
        # The reference requires code or date on margin-interest, so a whole-market range query
        # does not exist: it is fetched per day like the other cross-sections.
        ("markets_margin_interest", "date", "Date"),
        ("markets_short_sale_report", "disc_date", "DiscDate"),
        ("equities_earnings_calendar", "latest", "Date"),
    ],
)
def test_fetch_mode_and_date_field(endpoint_id, mode, date_field):
    endpoint = ENDPOINTS[endpoint_id]
    assert endpoint.fetch_mode == mode
    assert endpoint.date_field == date_field
    assert endpoint.schema[date_field] == pl.Date


def test_query_parameters_follow_the_reference():
    assert ENDPOINTS["equities_bars_daily"].required_any == ("code", "date")
    assert ENDPOINTS["equities_bars_daily"].params == {
        "code",
        "date",
        "from",
        "to",
        "pagination_key",
    }
    assert ENDPOINTS["markets_calendar"].params == {"hol_div", "from", "to"}
    assert not ENDPOINTS["markets_calendar"].paginated
    assert ENDPOINTS["markets_short_ratio"].required_any == ("s33", "date")
    assert ENDPOINTS["markets_short_sale_report"].required_any == ("code", "disc_date", "calc_date")
    assert ENDPOINTS["options_225"].required_any == ("date",)
    assert ENDPOINTS["futures"].params >= {"category", "contract_flag"}
    assert ENDPOINTS["equities_earnings_calendar"].params == {"pagination_key"}
    assert ENDPOINTS["fins_earnings_date"].required_any == ("code", "date", "scheduled_date")


def test_keys_and_field_order():
    assert ENDPOINTS["equities_bars_daily"].key == ("Date", "Code")
    assert ENDPOINTS["options_225"].key == ("Date", "Code", "EmMrgnTrgDiv")
    assert ENDPOINTS["equities_investor_types"].key == ("PubDate", "Section", "StDate", "EnDate")
    assert list(ENDPOINTS["indices_topix"].schema) == ["Date", "O", "H", "L", "C"]
    bars = list(ENDPOINTS["equities_bars_daily"].schema)
    assert bars[:16] == [
        "Date", "Code", "O", "H", "L", "C", "UL", "LL", "Vo", "Va",
        "AdjFactor", "AdjO", "AdjH", "AdjL", "AdjC", "AdjVo",
    ]  # fmt: skip
    assert bars[-2:] == ["MktCap", "ExRT"]
    assert len(bars) == 44
    assert len(ENDPOINTS["equities_investor_types"].schema) == 56
    summary = list(ENDPOINTS["fins_summary"].schema)
    assert summary[:4] == ["DiscDate", "DiscTime", "Code", "DiscNo"]
    assert {"NxFNp", "NxFNp2Q", "FNP", "NxFNCNP", "ShEq", "ROE", "NCShEq", "NCROE"} <= set(summary)
    assert summary.index("RetroRst") < summary.index("ShOutFY") < summary.index("NxFNCEPS")


def test_type_rule_on_well_known_fields():
    def dtype(endpoint_id, name):
        return ENDPOINTS[endpoint_id].schema[name]

    for endpoint_id in ENDPOINTS:
        schema = ENDPOINTS[endpoint_id].schema
        if "Code" in schema:
            assert schema["Code"] == pl.String, endpoint_id
    assert dtype("equities_master", "S33") == pl.String
    assert dtype("equities_master", "Mkt") == pl.String
    assert dtype("markets_calendar", "HolDiv") == pl.String
    assert dtype("markets_margin_interest", "IssType") == pl.String
    assert dtype("equities_bars_daily", "UL") == pl.Boolean
    assert dtype("equities_bars_daily", "MLL") == pl.Boolean
    assert dtype("futures", "CCMFlag") == pl.Boolean
    assert dtype("fins_summary", "MatChgSub") == pl.Boolean
    assert dtype("fins_summary", "Sales") == pl.Float64
    assert dtype("fins_summary", "DiscTime") == pl.String
    assert dtype("fins_summary", "NxtFYEn") == pl.Date
    assert dtype("fins_dividend", "PubTime") == pl.String
    assert dtype("options_225", "LTD") == pl.Date
    assert dtype("options_225", "PCDiv") == pl.String
    assert dtype("markets_short_sale_report", "PrevRptDate") == pl.Date
    assert dtype("markets_margin_alert", "PubReason") == pl.Struct(
        {
            "Restricted": pl.Boolean,
            "DailyPublication": pl.Boolean,
            "Monitoring": pl.Boolean,
            "RestrictedByJSF": pl.Boolean,
            "PrecautionByJSF": pl.Boolean,
            "UnclearOrSecOnAlert": pl.Boolean,
        }
    )


def test_premium_fields_are_the_bars_session_fields():
    premium = ENDPOINTS["equities_bars_daily"].premium_fields
    assert len(premium) == 26
    assert {"MO", "MUL", "MAdjVo", "AC", "ALL", "AAdjO"} <= premium
    assert not premium & {"O", "C", "UL", "AdjC", "MktCap"}


def test_empty_frame_and_unknown_id():
    frame = empty_frame("fins_dividend")
    assert frame.height == 0
    assert frame.schema == ENDPOINTS["fins_dividend"].schema
    with pytest.raises(
        KeyError, match=r"unknown dataset id 'prices_daily_quotes'.*equities_bars_daily"
    ):
        get_endpoint("prices_daily_quotes")
