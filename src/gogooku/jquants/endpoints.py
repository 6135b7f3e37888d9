"""The J-Quants V2 endpoint catalogue: paths, plans, query parameters, schemas and the type rule.

``ENDPOINTS[id]`` describes one dataset (ids as in docs/architecture.md). ``parse_records`` turns
the ``data`` list of a V2 response into a typed Polars frame; ``to_records`` is its inverse and
writes values the way the API does (flags ``"0"``/``"1"``, dates ``"YYYY-MM-DD"``, fins numbers as
strings, ``""``/``"-"``/``"*"`` where the API writes those for a missing value).

Derived columns: ``Endpoint.derived`` fields are not on the wire but read from a wire field at
parse time (``fins_details``: the line items of ``FS``, ``gogooku.jquants.fs_labels``); rendering
leaves them out.

Type rule (one place for the whole project): dates → ``pl.Date``; codes and names → ``pl.String``;
0/1 and true/false flags → ``pl.Boolean``; numbers → ``pl.Float64``; arrays of strings (TDnet
``DiscItems``/``Docs``) → one ``|``-joined ``pl.String`` (the bulk CSV's form); nested objects
and lists (fins/details ``FS``, the EDINET holder lists) → their compact JSON text, keys
sorted; ``""``, ``"-"``, ``"*"``, ``None``, ``[]`` and absent keys → null. Unknown keys are dropped with
one warning per (endpoint, key).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from dataclasses import dataclass, field

import orjson
import polars as pl

from gogooku.jquants import endpoint_fields as F
from gogooku.jquants.endpoint_fields import FieldSpec
from gogooku.jquants.fs_labels import with_line_items
from gogooku.settings import AddOn, Plan

log = logging.getLogger(__name__)

FETCH_MODES = ("date", "range", "disc_date", "latest")
NULL_TOKENS = ("", "-", "*")
_FLAG_WORDS = {"0": False, "1": True, "0.0": False, "1.0": True, "false": False, "true": True}


@dataclass(frozen=True)
class Endpoint:
    """One V2 dataset.

    ``fetch_mode`` says how the raw store queries it: ``date`` (one request per trading day with
    ``date=``), ``range`` (``from``/``to`` chunks), ``disc_date`` (one request per day with
    ``disc_date=``) or ``latest`` (only the current snapshot exists). ``date_field`` is the column
    that dates a row (partitioning, plan windows, ``from``/``to``); ``key`` identifies a row.
    ``bulk_only`` marks a dataset no API call returns (ticks): only its bulk files exist.
    ``derived`` are stored columns computed from the wire fields at parse time; ``cursor_plan`` is
    the lowest plan whose ``date=`` queries may use the ``cursor`` mode
    (``gogooku.jquants.cursor``), None where the endpoint has none.
    ``add_on`` names the add-on contract that opens it (then ``min_plan`` does not apply).
    ``coverage_from`` is the first date the API holds data for, whatever the plan's window (the
    EDINET datasets); fetch plans no unit before it and the synthetic market serves nothing
    before it. None: the plan's window alone limits it.
    """

    id: str
    path: str
    min_plan: Plan
    params: frozenset[str]
    required_any: tuple[str, ...]
    paginated: bool
    fetch_mode: str
    date_field: str
    key: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    history: str
    premium_fields: frozenset[str] = frozenset()
    bulk_only: bool = False
    derived: tuple[FieldSpec, ...] = ()
    cursor_plan: Plan | None = None
    add_on: AddOn | None = None
    coverage_from: dt.date | None = None
    schema: dict[str, pl.DataType] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if self.fetch_mode not in FETCH_MODES:
            raise ValueError(
                f"endpoint {self.id}: fetch_mode {self.fetch_mode!r} not in {FETCH_MODES}"
            )
        names = [spec.name for spec in (*self.fields, *self.derived)]
        if len(set(names)) != len(names):
            raise ValueError(f"endpoint {self.id}: duplicate field names")
        missing = [c for c in (self.date_field, *self.key) if c not in names]
        if missing:
            raise ValueError(f"endpoint {self.id}: date_field/key columns {missing} not in fields")
        specs = (*self.fields, *self.derived)
        object.__setattr__(self, "schema", {spec.name: spec.dtype for spec in specs})

    @property
    def wire_names(self) -> frozenset[str]:
        """The fields the API sends (the schema less ``derived``)."""
        return frozenset(spec.name for spec in self.fields)

    @property
    def mixed_fields(self) -> tuple[FieldSpec, ...]:
        """Number fields whose missing value the API writes as a string token (``"-"`` etc.)."""
        return tuple(s for s in self.fields if s.kind == "num" and s.null is not None)


def _ep(
    id: str,
    path: str,
    min_plan: Plan,
    params: str,
    required_any: str,
    fetch_mode: str,
    date_field: str,
    key: str,
    fields: tuple[FieldSpec, ...],
    history: str,
    *,
    paginated: bool = True,
    premium_fields: frozenset[str] = frozenset(),
    bulk_only: bool = False,
    derived: tuple[FieldSpec, ...] = (),
    cursor_plan: Plan | None = None,
    add_on: AddOn | None = None,
    coverage_from: dt.date | None = None,
) -> Endpoint:
    return Endpoint(
        id=id,
        path=path,
        min_plan=min_plan,
        params=frozenset(params.split())
        | ({"pagination_key"} if paginated else set())
        | ({"cursor"} if cursor_plan is not None else set()),
        required_any=tuple(required_any.split()),
        paginated=paginated,
        fetch_mode=fetch_mode,
        date_field=date_field,
        key=tuple(key.split()),
        fields=fields,
        history=history,
        premium_fields=premium_fields,
        bulk_only=bulk_only,
        derived=derived,
        cursor_plan=cursor_plan,
        add_on=add_on,
        coverage_from=coverage_from,
    )


_MINUTE_NOTE = (
    "minute/tick add-on, 2 years back whatever the base plan, own 60 requests/min; "
    "published ~16:30 JST"
)
_WINDOW = (
    "plan window (Free 12 weeks..2 years 12 weeks ago; Light 5 y; Standard 10 y; Premium 20 y)"
)

# fmt: off
ENDPOINTS: dict[str, Endpoint] = {
    e.id: e
    for e in (
        _ep(
            "equities_master", "/equities/master", Plan.FREE, "code date", "", "date", "Date",
            "Date Code", F.EQUITIES_MASTER,
            f"daily snapshots from 2008-05-07; {_WINDOW}; published ~17:30 JST",
        ),
        _ep(
            "equities_bars_daily", "/equities/bars/daily", Plan.FREE, "code date from to",
            "code date", "date", "Date", "Date Code", F.EQUITIES_BARS_DAILY,
            f"{_WINDOW}; published ~16:30 JST; M*/A* session keys are absent below Premium",
            premium_fields=F.BARS_PREMIUM_FIELDS,
        ),
        _ep(
            "markets_calendar", "/markets/calendar", Plan.FREE, "hol_div from to", "", "range",
            "Date", "Date", F.MARKETS_CALENDAR,
            f"{_WINDOW}; paid plans also see up to the end of next year; no pagination",
            paginated=False,
        ),
        _ep(
            "indices_topix", "/indices/bars/daily/topix", Plan.LIGHT, "from to", "", "range",
            "Date", "Date", F.INDICES_TOPIX, f"{_WINDOW}; published ~16:30 JST",
        ),
        _ep(
            "indices_bars_daily", "/indices/bars/daily", Plan.STANDARD, "code date from to",
            "code date", "date", "Date", "Date Code", F.INDICES_BARS_DAILY,
            f"{_WINDOW}; published ~16:30 JST; close-only indices have null O/H/L",
        ),
        _ep(
            "equities_investor_types", "/equities/investor-types", Plan.LIGHT, "section from to",
            "", "range", "PubDate", "PubDate Section StDate EnDate", F.EQUITIES_INVESTOR_TYPES,
            f"{_WINDOW}; weekly, published the 4th business day (usually Thu) ~16:30 JST; "
            "revisions are extra rows with a newer PubDate",
        ),
        _ep(
            "markets_margin_interest", "/markets/margin-interest", Plan.STANDARD,
            "code date from to published_date", "code date published_date", "date", "Date",
            "Date Code", F.MARKETS_MARGIN_INTEREST,
            f"{_WINDOW}; weekly until 2026-09-24: Date is the week's last business day, "
            "published the 2nd business day of the next week (~Tue 16:30 JST); daily from "
            "Date 2026-09-25: each business day publishes (PubDate) the previous business day's "
            "balances, time of day unknown",
        ),
        _ep(
            "markets_margin_alert", "/markets/margin-alert", Plan.STANDARD, "code date from to",
            "code date", "date", "PubDate", "PubDate Code AppDate", F.MARKETS_MARGIN_ALERT,
            f"{_WINDOW}; daily ~16:30 JST; date= filters PubDate; revisions reuse AppDate",
        ),
        _ep(
            "markets_short_ratio", "/markets/short-ratio", Plan.STANDARD, "s33 date from to",
            "s33 date", "date", "Date", "Date S33", F.MARKETS_SHORT_RATIO,
            f"{_WINDOW}; daily ~16:30 JST",
        ),
        _ep(
            "markets_short_sale_report", "/markets/short-sale-report", Plan.STANDARD,
            "code disc_date disc_date_from disc_date_to calc_date", "code disc_date calc_date",
            "disc_date", "DiscDate", "DiscDate CalcDate Code SSName SSAddr DICName FundName",
            F.MARKETS_SHORT_SALE_REPORT, f"{_WINDOW}; daily ~17:30 JST; no rows on days without reports",
        ),
        _ep(
            "options_225", "/derivatives/bars/daily/options/225", Plan.STANDARD, "date", "date",
            "date", "Date", "Date Code EmMrgnTrgDiv", F.OPTIONS_225,
            f"{_WINDOW}; published ~03:00 JST the next day; fields (*1) only after 2016-07-19",
        ),
        _ep(
            "fins_summary", "/fins/summary", Plan.FREE, "code date", "code date", "date",
            "DiscDate", "Code DiscNo", F.FINS_SUMMARY,
            f"{_WINDOW}; 60 requests/min on every plan; ~18:00 and ~24:30 JST; available at "
            "DiscDate+DiscTime; Premium: continuous, cursor mode",
            cursor_plan=Plan.PREMIUM,
        ),
        _ep(
            "fins_details", "/fins/details", Plan.PREMIUM, "code date", "code date", "date",
            "DiscDate", "Code DiscNo", F.FINS_DETAILS,
            f"{_WINDOW}; 60 requests/min; continuous, cursor mode; available at DiscDate+DiscTime; "
            "FS maps XBRL labels to values (line items read into typed columns)",
            derived=F.FINS_DETAILS_ITEMS,
            cursor_plan=Plan.PREMIUM,
        ),
        _ep(
            "fins_earnings_date", "/fins/earnings-date", Plan.STANDARD, "code date scheduled_date",
            "code date scheduled_date", "date", "PubDate", "PubDate Code FQName",
            F.FINS_EARNINGS_DATE,
            f"{_WINDOW} applied to PubDate (date= outside it is a 400); exactly one of "
            "code/date/scheduled_date; ~10:05 JST",
        ),
        _ep(
            "equities_earnings_calendar", "/equities/earnings-calendar", Plan.FREE, "", "",
            "latest", "Date", "Date Code", F.EQUITIES_EARNINGS_CALENDAR,
            "latest snapshot only (next business day's announcements, March/September FY ends)",
        ),
        _ep(
            "fins_dividend", "/fins/dividend", Plan.PREMIUM, "code date from to", "code date",
            "date", "PubDate", "RefNo PubDate", F.FINS_DIVIDEND,
            f"{_WINDOW}; hourly 12:00-19:00 JST; StatCode 1 new / 2 revised / 3 deleted",
        ),
        _ep(
            "markets_breakdown", "/markets/breakdown", Plan.PREMIUM, "code date from to",
            "code date", "date", "Date", "Date Code", F.MARKETS_BREAKDOWN,
            f"{_WINDOW}; daily ~18:00 JST",
        ),
        _ep(
            "equities_valuation", "/equities/valuation", Plan.FREE, "code date from to",
            "code date", "date", "Date", "Date Code", F.EQUITIES_VALUATION,
            f"{_WINDOW} (plans not in the official table; all plans per the MCP server); "
            "daily ~16:30 JST; a disclosure enters from the next business day; MktCap in "
            "million JPY",
        ),
        *(
            _ep(
                id, path, Plan.STANDARD, "edinet_code code date", "", "date", "SubDate",
                "DocId", spec,
                f"filings from {since}; Standard 10 y, Premium 20 y; API only (no bulk); "
                "edinet_code or code, not both (400); no parameter: today's filings; continuous "
                "on weekdays 08:00-17:59 JST, may lag; available by SubDate+SubTime",
                coverage_from=dt.date.fromisoformat(since),
            )
            for id, path, spec, since in (
                ("edinet_major_shareholders", "/edinet/major-shareholders",
                 F.EDINET_MAJOR_SHAREHOLDERS, "2016-06-01"),
                ("edinet_cross_shareholdings", "/edinet/cross-shareholdings",
                 F.EDINET_CROSS_SHAREHOLDINGS, "2020-03-31"),
                ("edinet_large_volume_shareholders", "/edinet/large-volume-shareholders",
                 F.EDINET_LARGE_VOLUME_SHAREHOLDERS, "2021-07-01"),
            )
        ),
        _ep(
            "td_list", "/td/list", Plan.FREE, "date code from to discItems cursor", "date code",
            "date", "DiscDate", "DiscNo", F.TD_LIST,
            "TDnet add-on, 5-year window whatever the plan; date= one day (cursor= with date: "
            "only records added since), code= 5 years, code+from/to a range; in the API minutes "
            "to ~1 h after DiscTime; a correction is a new DiscNo; /td/bulk: whole 5 years",
            add_on=AddOn.TDNET,
        ),
        _ep(
            "equities_bars_minute", "/equities/bars/minute", Plan.FREE, "code date from to",
            "code date", "date", "Date", "Date Code Time", F.EQUITIES_BARS_MINUTE,
            f"{_MINUTE_NOTE}; raw unadjusted 1-minute bars; minutes without trades omitted; "
            "closing auction in the 15:30 bar, none 15:25-15:29; Time HH:MM (HH:MM:SS accepted)",
            add_on=AddOn.MINUTE,
        ),
        _ep(
            "equities_trades", "/equities/trades", Plan.FREE, "", "", "date", "Date",
            "Date Code TransactionId", F.EQUITIES_TRADES,
            f"{_MINUTE_NOTE}; CSV bulk only (no API call): one all-issues file per month; "
            "same-time same-price trades merged",
            bulk_only=True,
            add_on=AddOn.MINUTE,
        ),
        _ep(
            "equities_bars_daily_am", "/equities/bars/daily/am", Plan.PREMIUM, "code", "",
            "latest", "Date", "Date Code", F.EQUITIES_BARS_DAILY_AM,
            "today's morning session only (~12:00 JST, readable until ~06:00 the next day); "
            "HTTP 210 outside that window; not bulk",
        ),
        _ep(
            "options_all", "/derivatives/bars/daily/options", Plan.PREMIUM,
            "date category contract_flag code", "date", "date", "Date", "Date Code EmMrgnTrgDiv",
            F.OPTIONS, f"{_WINDOW}; every index and securities option; ~03:00 JST the next day",
        ),
        _ep(
            "futures", "/derivatives/bars/daily/futures", Plan.PREMIUM,
            "date category contract_flag", "date", "date", "Date", "Date Code EmMrgnTrgDiv",
            F.FUTURES, f"{_WINDOW}; published ~03:00 JST the next day",
        ),
    )
}
# fmt: on

ENDPOINTS_BY_PATH: dict[str, Endpoint] = {e.path: e for e in ENDPOINTS.values()}

_DERIVE = {"fins_details": with_line_items}


def get_endpoint(endpoint_id: str) -> Endpoint:
    """``ENDPOINTS[endpoint_id]`` with an error that lists the known ids."""
    try:
        return ENDPOINTS[endpoint_id]
    except KeyError:
        raise KeyError(
            f"unknown dataset id {endpoint_id!r}; known ids: {', '.join(sorted(ENDPOINTS))}"
        ) from None


def empty_frame(endpoint_id: str) -> pl.DataFrame:
    """A zero-row frame with the endpoint's schema."""
    return pl.DataFrame(schema=get_endpoint(endpoint_id).schema)


# ---------------------------------------------------------------------------------------------
# parsing: V2 records -> typed frame
# ---------------------------------------------------------------------------------------------

_warned_unknown: set[tuple[str, str]] = set()


def _warn_unknown_keys(ep: Endpoint, records: list[dict]) -> None:
    if not records:
        return
    seen = set().union(*map(dict.keys, records))
    unknown = sorted(k for k in seen - ep.wire_names if (ep.id, k) not in _warned_unknown)
    if unknown:
        _warned_unknown.update((ep.id, k) for k in unknown)
        log.warning("%s: dropping unknown field(s) %s (not in the catalogue)", ep.id, unknown)


def _typed(spec: FieldSpec, column: str) -> pl.Expr:
    value = pl.col(column)
    if spec.kind == "date":
        return value.str.to_date("%Y-%m-%d", strict=False)
    if spec.kind in ("flag", "tf"):
        return value.str.to_lowercase().replace_strict(
            _FLAG_WORDS, default=None, return_dtype=pl.Boolean
        )
    if spec.kind in ("num", "numstr"):
        return value.str.strip_chars().cast(pl.Float64, strict=False)
    if spec.kind == "minute":
        return pl.when(value.str.contains(r"^\d{2}:\d{2}(:\d{2})?$")).then(value.str.slice(0, 5))
    return value


@functools.lru_cache(maxsize=512)
def _conversion(specs: tuple[FieldSpec, ...]) -> tuple[tuple[pl.Expr, ...], tuple[pl.Expr, ...]]:
    """The null-token and typing expressions of ``specs``, built once per field set.

    Building Polars expressions costs more Python time than applying them to one page of a few
    hundred rows, so they are reused across every response of an endpoint.
    """
    nulling = tuple(
        pl.when(pl.col(s.name).is_in(NULL_TOKENS))
        .then(None)
        .otherwise(pl.col(s.name))
        .alias(s.name)
        for s in specs
    )
    return nulling, tuple(_typed(s, s.name).alias(s.name) for s in specs)


def typing_exprs(specs: tuple[FieldSpec, ...]) -> tuple[tuple[pl.Expr, ...], tuple[pl.Expr, ...]]:
    """(null-token expressions, typing expressions) of string columns named as ``specs``.

    The first turn ``""``, ``"-"`` and ``"*"`` into null; the second cast each column by the type
    rule; a value that does not convert becomes null (callers compare null counts to find it).
    """
    return _conversion(tuple(specs))


def _convert(ep: Endpoint, what: str, specs: list[FieldSpec], raw: pl.DataFrame) -> pl.DataFrame:
    """Null the API's null tokens, cast each string column to its dtype, fail on a bad value.

    Columns that ``raw`` already holds as Float64 (JSON numbers read directly) pass unchanged.
    """
    schema = raw.schema
    text = tuple(s for s in specs if schema[s.name] == pl.String)
    if not text:
        return raw
    nulling, typing = _conversion(text)
    nulled = raw.with_columns(nulling)
    typed = nulled.with_columns(typing)
    before, after = nulled.null_count().row(0), typed.null_count().row(0)
    for name, n_before, n_after in zip(typed.columns, before, after, strict=True):
        if n_after != n_before:
            bad = nulled.filter(pl.col(name).is_not_null() & typed[name].is_null())[name][0]
            spec = next(s for s in text if s.name == name)
            raise ValueError(
                f"{ep.id}: field {what}{name} has value {bad!r} that is not a valid {spec.kind} "
                f"({spec.dtype})"
            )
    return typed


def _parse_struct(ep: Endpoint, spec: FieldSpec, records: list[dict]) -> pl.Series:
    values = [r.get(spec.name) for r in records]
    members = [FieldSpec(m, "flag") for m in spec.members]
    raw = pl.from_dicts(
        [v if isinstance(v, dict) else {} for v in values],
        schema=dict.fromkeys(spec.members, pl.String),
        strict=False,
    )
    typed = _convert(ep, f"{spec.name}.", members, raw)
    present = pl.Series([isinstance(v, dict) for v in values], dtype=pl.Boolean)
    return (
        typed.select(
            pl.when(present).then(pl.struct(spec.members)).otherwise(None).alias(spec.name)
        )
        .to_series()
        .cast(spec.dtype)
    )


def _raise_non_scalar(ep: Endpoint, specs: list[FieldSpec], records: list[dict]) -> None:
    for record in records:
        for spec in specs:
            value = record.get(spec.name)
            if isinstance(value, (list, dict)):
                raise ValueError(
                    f"{ep.id}: field {spec.name} has value {value!r} that is not a valid "
                    f"{spec.kind} ({spec.dtype})"
                )


def _joined_lists(ep: Endpoint, records: list[dict]) -> list[dict]:
    """``records`` with every ``list`` field's array written ``|``-joined (strings pass)."""
    names = [s.name for s in ep.fields if s.kind == "list"]
    if not names:
        return records
    out = []
    for record in records:
        values = {n: record[n] for n in names if isinstance(record.get(n), list)}
        out.append({**record, **{n: "|".join(map(str, v)) for n, v in values.items()}})
    return out


def parse_records(endpoint_id: str, records: list[dict]) -> pl.DataFrame:
    """Typed frame with exactly ``ENDPOINTS[endpoint_id].schema`` from V2 ``data`` records.

    Number fields holding only JSON numbers are read directly as Float64; otherwise values are
    read as strings (numbers keep their decimal text), the tokens ``""``, ``"-"`` and ``"*"``
    become null, and each column is cast to its dtype; a value that does not convert raises
    ``ValueError`` naming the endpoint, field and value.
    """
    ep = get_endpoint(endpoint_id)
    _warn_unknown_keys(ep, records)
    records = _json_as_text(ep, records)
    records = _joined_lists(ep, records)
    plain = [s for s in ep.fields if s.kind != "struct"]
    try:
        # Fast path: JSON numbers straight into Float64 (reading them as text is ~10x slower).
        raw = pl.from_dicts(
            records,
            schema={s.name: pl.Float64 if s.kind == "num" else pl.String for s in plain},
            strict=True,
        )
    except (pl.exceptions.ComputeError, TypeError):
        # A number field holds a string ("-", "", "1520"): read every field as text.
        try:
            raw = pl.from_dicts(records, schema={s.name: pl.String for s in plain}, strict=False)
        except (pl.exceptions.ComputeError, TypeError):
            _raise_non_scalar(ep, plain, records)
            raise
    typed = _convert(ep, "", plain, raw)
    structs = [_parse_struct(ep, s, records) for s in ep.fields if s.kind == "struct"]
    if structs:
        typed = typed.with_columns(structs)
    if ep.derived:
        typed = _DERIVE[ep.id](typed)
    return typed.select(_schema_casts(endpoint_id))


def parse_text_frame(endpoint_id: str, raw: pl.DataFrame) -> pl.DataFrame:
    """``parse_records`` for rows already in a frame of text columns (a bulk CSV read as text).

    Nested (struct) fields hold the JSON text of their object; fields ``raw`` lacks are null.
    """
    ep = get_endpoint(endpoint_id)
    plain = [s for s in ep.fields if s.kind != "struct"]
    text = raw.select(
        pl.col(s.name) if s.name in raw.columns else pl.lit(None, dtype=pl.String).alias(s.name)
        for s in plain
    )
    typed = _convert(ep, "", plain, text)
    structs = [
        _parse_struct(
            ep,
            s,
            [
                {s.name: orjson.loads(cell) if cell else None}
                for cell in (
                    raw.get_column(s.name) if s.name in raw.columns else [None] * raw.height
                )
            ],
        )
        for s in ep.fields
        if s.kind == "struct"
    ]
    if structs:
        typed = typed.with_columns(structs)
    if ep.derived:
        typed = _DERIVE[ep.id](typed)
    return typed.select(_schema_casts(endpoint_id))


def _json_as_text(ep: Endpoint, records: list[dict]) -> list[dict]:
    """``records`` with each ``json`` field's object or list as its compact JSON text (keys
    sorted); text (a bulk CSV cell) passes as it is."""
    names = [s.name for s in ep.fields if s.kind == "json"]
    if not names:
        return records
    out = []
    for record in records:
        copy = dict(record)
        for name in names:
            value = copy.get(name)
            if isinstance(value, (dict, list)):
                copy[name] = json.dumps(
                    value, ensure_ascii=False, sort_keys=True, separators=(",", ":")
                )
            elif value is not None and not isinstance(value, str):
                raise ValueError(
                    f"{ep.id}: field {name} has value {value!r} that is not a JSON object or list"
                )
        out.append(copy)
    return out


@functools.cache
def _schema_casts(endpoint_id: str) -> tuple[pl.Expr, ...]:
    """``pl.col(name).cast(dtype)`` for the endpoint's schema, in catalogue order (built once)."""
    return tuple(pl.col(name).cast(dtype) for name, dtype in ENDPOINTS[endpoint_id].schema.items())


# ---------------------------------------------------------------------------------------------
# rendering: typed frame -> V2 records
# ---------------------------------------------------------------------------------------------


def _flag_text(value: pl.Expr, true: str, false: str) -> pl.Expr:
    return (
        pl.when(value.is_null()).then(None).when(value).then(pl.lit(true)).otherwise(pl.lit(false))
    )


def _wire(spec: FieldSpec) -> pl.Expr:
    value = pl.col(spec.name)
    if spec.kind == "date":
        out = value.dt.strftime("%Y-%m-%d")
    elif spec.kind == "flag":
        out = _flag_text(value, "1", "0")
    elif spec.kind == "tf":
        out = _flag_text(value, "true", "false")
    elif spec.kind == "num":
        return pl.when(value.is_finite()).then(value).otherwise(None).alias(spec.name)
    elif spec.kind == "numstr":
        integral = value.is_finite() & (value == value.floor()) & (value.abs() < 1e15)
        out = (
            pl.when(integral)
            .then(value.cast(pl.Int64).cast(pl.String))
            .when(value.is_finite())
            .then(value.cast(pl.String))
            .otherwise(None)
        )
    elif spec.kind == "list":
        empty = pl.lit([], dtype=pl.List(pl.String))
        return (
            pl.when(value.is_null() | (value == ""))
            .then(empty)
            .otherwise(value.str.split("|"))
            .alias(spec.name)
        )
    elif spec.kind == "struct":
        members = [_flag_text(value.struct.field(m), "1", "0").alias(m) for m in spec.members]
        return pl.when(value.is_null()).then(None).otherwise(pl.struct(members)).alias(spec.name)
    else:
        out = value
    if spec.null is not None:
        out = out.fill_null(pl.lit(spec.null))
    return out.alias(spec.name)


def _check_frame(ep: Endpoint, frame: pl.DataFrame, drop: frozenset[str]) -> None:
    wanted = {c: t for c, t in ep.schema.items() if c not in drop and c in ep.wire_names}
    schema = frame.schema
    missing = [c for c in wanted if c not in schema]
    if missing:
        raise ValueError(f"{ep.id}: frame lacks catalogue column(s) {missing}")
    wrong = {c: str(schema[c]) for c, t in wanted.items() if schema[c] != t}
    if wrong:
        raise ValueError(f"{ep.id}: columns with a dtype other than the catalogue's: {wrong}")


def wire_frame(
    endpoint_id: str, frame: pl.DataFrame, drop: frozenset[str] = frozenset()
) -> pl.DataFrame:
    """``frame`` with every column in its wire form (strings, numbers, structs of strings).

    Number fields with a string null token (``"-"`` on margin-alert changes …) stay numeric here,
    null included; ``to_records`` writes their token. Fields in ``drop`` may be absent from
    ``frame`` and are left out.
    """
    _check_frame(get_endpoint(endpoint_id), frame, drop)
    return frame.select(_wire_exprs(endpoint_id, frozenset(drop)))


@functools.lru_cache(maxsize=256)
def _wire_exprs(endpoint_id: str, drop: frozenset[str]) -> tuple[pl.Expr, ...]:
    """The ``_wire`` expressions of the endpoint's fields not in ``drop`` (built once)."""
    return tuple(_wire(s) for s in ENDPOINTS[endpoint_id].fields if s.name not in drop)


def to_records(
    endpoint_id: str, frame: pl.DataFrame, drop: frozenset[str] = frozenset()
) -> list[dict]:
    """JSON-ready V2 records of ``frame`` (the inverse of ``parse_records``).

    ``drop`` names fields to leave out of every record (the API omits Premium-only keys on lower
    plans instead of sending null).
    """
    ep = get_endpoint(endpoint_id)
    records = wire_frame(endpoint_id, frame, drop).to_dicts()
    for spec in ep.fields:
        if spec.kind == "json" and spec.name not in drop:
            for record in records:
                text = record[spec.name]
                record[spec.name] = json.loads(text) if text else None
    for spec in ep.mixed_fields:
        if spec.name in drop:
            continue
        for record in records:
            if record[spec.name] is None:
                record[spec.name] = spec.null
    return records


def records_json(endpoint_id: str, frame: pl.DataFrame, drop: frozenset[str] = frozenset()) -> str:
    """``json.dumps(to_records(...))`` as one JSON array string, written by Polars when possible."""
    ep = get_endpoint(endpoint_id)
    if any(s.name not in drop for s in ep.mixed_fields) or any(
        s.kind == "json" and s.name not in drop for s in ep.fields
    ):
        return json.dumps(
            to_records(endpoint_id, frame, drop), ensure_ascii=False, separators=(",", ":")
        )
    if frame.height == 0:
        return "[]"
    return wire_frame(endpoint_id, frame, drop).write_json()
