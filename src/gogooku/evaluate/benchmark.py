"""The benchmark a run's books are measured against (``[evaluate] benchmark``).

Choices:

- ``topix``: TOPIX closes from the raw store's ``indices_topix``; refused when it has no close on
  or before the window's first day or none on or after its last traded day.
- ``index:NAME``: the closes of ``indices_bars_daily`` rows with ``Code == NAME`` (a J-Quants
  index code, or an index brought in by ``gogooku import index FILE --name NAME``), with the
  same coverage check.
- ``universe``: built from the evaluated market itself (the stocks of the backtest's market
  frame). With A the split-adjusted close carried over days without a trade (the backtest's A)
  and the members of day t the stocks listed on t−1 and on t with a price by t−1::

      r_i,t   = A_i,t / A_i,t−1 − 1
      equal:  b_t = mean_i r_i,t
      cap:    b_t = Σ_i m_i,t−1 · r_i,t / Σ_i m_i,t−1   over members with a known m
      m_i,d   = ShOutFY_i(d) · F_i(avail) / F_i(d) · P_i,d   (market cap at the close of d)

  ShOutFY_i(d) is the shares outstanding of the latest ``fins_summary`` record of stock i
  available on d (the statements block's ``statement_disclosure`` rule: DiscDate when disclosed
  before that day's close, else the next trading day), F the cumulative ``AdjFactor`` over the
  stock's stored bars (so later splits scale the disclosed shares) and P_i,d = A_i,d · F_i(d) the
  raw close. Cap weighting is used when every day after the first has at least one member with a
  known cap; otherwise the whole series is equal-weighted and ``reason`` says why.
- ``equal_weight``: ``universe`` equal-weighted whatever the statements hold.
- ``auto`` (the default): ``topix`` when ``indices_topix`` covers the window, else ``universe``
  (``reason`` names what TOPIX lacked).

The result is a level series ``Date, C`` on the market frame's days (C_first = 1 and
C_t = C_t−1 · (1 + b_t) for ``universe``), so the backtest reads every choice the same way:
``benchmark`` = C_t / C_t−1 − 1, the last level carried over missing days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from gogooku.calendar import TradingCalendar
from gogooku.dataset.asof import asof_join
from gogooku.errors import GogookuError
from gogooku.evaluate.config import INDEX_PREFIX, check_benchmark_choice
from gogooku.features.availability import AVAILABLE_FROM, with_available_from

_ORDER = ("DiscDate", "DiscTime")


class BenchmarkError(GogookuError, ValueError):
    """The chosen benchmark cannot be built (names the choice and what is missing)."""


@dataclass(frozen=True)
class Benchmark:
    """Levels ``Date, C`` of the chosen benchmark and how it was built."""

    levels: pl.DataFrame
    name: str
    weighting: str
    reason: str | None = None

    def describe(self) -> dict[str, str | None]:
        """The ``benchmark`` entry of metrics.json."""
        return {"name": self.name, "weighting": self.weighting, "reason": self.reason}


def benchmark_label(entry: dict | None) -> str:
    """A split's ``benchmark`` entry in words: ``TOPIX``, ``index NAME``, ``universe
    (cap-weighted)`` or ``universe (equal-weighted)``; ``benchmark`` for a metrics.json
    written before benchmarks were recorded."""
    if not entry:
        return "benchmark"
    name = str(entry.get("name"))
    if name == "topix":
        return "TOPIX"
    if name.startswith("index:"):
        return f"index {name.removeprefix('index:')}"
    weighting = {"cap": "cap-weighted", "equal": "equal-weighted"}.get(
        str(entry.get("weighting")), str(entry.get("weighting"))
    )
    return f"{name} ({weighting})"


def _traded_days(market: pl.DataFrame) -> tuple[date, date]:
    traded = market.filter(pl.col("listed") & ~pl.col("no_trade"))["Date"]
    days = traded if traded.len() else market["Date"]
    return days.min(), days.max()


def _index_levels(closes: pl.DataFrame, market: pl.DataFrame, what: str) -> pl.DataFrame:
    """``closes`` (``Date, C``) as levels on the window's days (the last close carried over days
    without one), or a BenchmarkError naming the gap."""
    first, last = market["Date"].min(), _traded_days(market)[1]
    closes = closes.drop_nulls("C").unique("Date", keep="last").sort("Date")
    if closes.height == 0:
        raise BenchmarkError(f"benchmark {what}: no closes in the raw store for {first}..{last}")
    if closes["Date"].min() > first or closes["Date"].max() < last:
        raise BenchmarkError(
            f"benchmark {what}: closes cover {closes['Date'].min()}..{closes['Date'].max()}, "
            f"not the evaluated window {first}..{last}"
        )
    days = market.select(pl.col("Date").unique().sort())
    return days.join_asof(
        closes.select("Date", pl.col("C").cast(pl.Float64)), on="Date", strategy="backward"
    )


def _topix_closes(store, start: date, end: date) -> pl.DataFrame:
    return (
        store.scan("indices_topix")
        .select("Date", "C")
        .filter(pl.col("Date").is_between(start - timedelta(days=31), end))
        .collect()
    )


def _index_closes(store, name: str, start: date, end: date) -> pl.DataFrame:
    return (
        store.scan("indices_bars_daily")
        .filter(
            (pl.col("Code") == name) & pl.col("Date").is_between(start - timedelta(days=31), end)
        )
        .select("Date", "C")
        .collect()
    )


def _member_returns(market: pl.DataFrame) -> pl.DataFrame:
    """Per (Code, Date) of the market frame: A, r = A_t / A_t−1 − 1 and ``member`` (see module)."""
    listed = pl.col("listed").fill_null(False)
    traded = listed & ~pl.col("no_trade").fill_null(True) & pl.col("C").is_not_null()
    factor = pl.when(listed).then(pl.col("AdjFactor").fill_null(1.0)).otherwise(1.0)
    frame = (
        market.sort("Code", "Date")
        .with_columns(F=factor.cum_prod().over("Code"))
        .with_columns(A=pl.when(traded).then(pl.col("C") / pl.col("F")).forward_fill().over("Code"))
        .with_columns(
            A_prev=pl.col("A").shift(1).over("Code"),
            listed_prev=listed.shift(1).over("Code").fill_null(False),
        )
    )
    member = listed & pl.col("listed_prev") & pl.col("A_prev").is_not_null()
    return frame.with_columns(
        member=member, r=pl.when(member).then(pl.col("A") / pl.col("A_prev") - 1.0)
    )


def _split_factor(store, codes: pl.Series, end: date) -> pl.LazyFrame:
    """``Code, Date, split_F``: ∏ AdjFactor over the stock's stored bars dated ≤ Date, at the
    dates where it changes (split ex-dates)."""
    return (
        store.scan("equities_bars_daily")
        .select("Code", "Date", "AdjFactor")
        .filter(
            pl.col("Code").is_in(codes.implode())
            & (pl.col("Date") <= end)
            & pl.col("AdjFactor").is_not_null()
            & (pl.col("AdjFactor") != 1.0)
        )
        .unique(subset=["Code", "Date"], keep="first")
        .sort("Code", "Date")
        .with_columns(split_F=pl.col("AdjFactor").cum_prod().over("Code"))
        .select("Code", "Date", "split_F")
    )


def _with_split_factor(rows: pl.DataFrame, splits: pl.LazyFrame, date_col: str) -> pl.DataFrame:
    """``rows`` plus ``split_F`` as of ``date_col`` (1 before the stock's first split)."""
    joined = rows.sort(date_col).join_asof(
        splits.collect().sort("Date"),
        left_on=date_col,
        right_on="Date",
        by="Code",
        strategy="backward",
        suffix="_split",
        check_sortedness=False,
    )
    return joined.drop([c for c in joined.columns if c.endswith("_split")]).with_columns(
        pl.col("split_F").fill_null(1.0)
    )


def market_caps(store, calendar: TradingCalendar, returns: pl.DataFrame, end: date) -> pl.DataFrame:
    """``Code, Date, mcap``: m_i,d of the module doc on every row of ``returns`` (null where the
    stock has no ShOutFY available on d or no price yet)."""
    codes = returns["Code"].unique()
    fins = store.scan("fins_summary")
    names = fins.collect_schema().names()
    if "ShOutFY" not in names:
        return returns.select("Code", "Date", mcap=pl.lit(None, dtype=pl.Float64))
    records = with_available_from(
        fins.select("Code", *_ORDER, "ShOutFY").filter(
            pl.col("Code").is_in(codes.implode())
            & pl.col("ShOutFY").is_not_null()
            & (pl.col("ShOutFY") > 0)
            & (pl.col("DiscDate") <= end)
        ),
        "fins_summary",
        calendar,
    ).collect()
    if records.height == 0:
        return returns.select("Code", "Date", mcap=pl.lit(None, dtype=pl.Float64))
    splits = _split_factor(store, codes, end)
    records = _with_split_factor(records, splits, AVAILABLE_FROM).rename({"split_F": "F_avail"})
    rows = _with_split_factor(returns.select("Code", "Date", "A", "F"), splits, "Date")
    shares = asof_join(
        rows,
        records.select("Code", AVAILABLE_FROM, *_ORDER, "ShOutFY", "F_avail"),
        source_name="fins_summary",
        by="Code",
        columns=["ShOutFY", "F_avail"],
        order_by=_ORDER,
    ).collect()
    # P_d = A_d · F_window(d) (A is adjusted from the window's first day), and split_F is the
    # store-wide F(d), so m = ShOutFY · F(avail) / F(d) · P_d.
    return shares.select(
        "Code",
        "Date",
        mcap=pl.col("ShOutFY") * pl.col("F_avail") / pl.col("split_F") * pl.col("A") * pl.col("F"),
    )


def universe_returns(
    store,
    calendar: TradingCalendar,
    market: pl.DataFrame,
    cap: bool = True,
) -> tuple[pl.DataFrame, str, str | None]:
    """``Date, b`` (b = 0 on the first day), the weighting used and why not cap (module doc)."""
    returns = _member_returns(market)
    days = market.select(pl.col("Date").unique().sort())
    equal = returns.filter(pl.col("member")).group_by("Date").agg(b_equal=pl.col("r").mean())
    out = days.join(equal, on="Date", how="left")
    if not cap:
        return out.select("Date", b=pl.col("b_equal").fill_null(0.0)), "equal", None
    caps = market_caps(store, calendar, returns, market["Date"].max())
    weighted = (
        returns.join(caps, on=["Code", "Date"], how="left")
        .sort("Code", "Date")
        .with_columns(w=pl.col("mcap").shift(1).over("Code"))
        .filter(pl.col("member") & pl.col("w").is_not_null() & (pl.col("w") > 0))
        .group_by("Date")
        .agg(b_cap=(pl.col("w") * pl.col("r")).sum() / pl.col("w").sum())
    )
    out = out.join(weighted, on="Date", how="left").sort("Date")
    uncovered = out.slice(1).filter(pl.col("b_cap").is_null())["Date"]
    if uncovered.len() == 0:
        return out.select("Date", b=pl.col("b_cap").fill_null(0.0)), "cap", None
    reason = (
        f"shares outstanding (fins_summary ShOutFY) unknown for every stock on {uncovered.len()} "
        f"of {out.height - 1} days (first {uncovered[0]})"
    )
    return out.select("Date", b=pl.col("b_equal").fill_null(0.0)), "equal", reason


def _levels(returns: pl.DataFrame) -> pl.DataFrame:
    return returns.sort("Date").select("Date", C=(1.0 + pl.col("b")).cum_prod())


def build_benchmark(
    store, calendar: TradingCalendar, market: pl.DataFrame, choice: str
) -> Benchmark:
    """The benchmark ``choice`` on the days of ``market`` (a :func:`backtest.load_market` frame)."""
    try:
        check_benchmark_choice(choice)
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None
    start, end = market["Date"].min(), market["Date"].max()
    if choice.startswith(INDEX_PREFIX):
        name = choice.removeprefix(INDEX_PREFIX)
        closes = _index_closes(store, name, start, end)
        what = f"{choice!r} (indices_bars_daily rows with Code == {name!r})"
        return Benchmark(_index_levels(closes, market, what), choice, "index")
    reason = None
    if choice in ("topix", "auto"):
        closes = _topix_closes(store, start, end)
        try:
            levels = _index_levels(closes, market, "'topix' (indices_topix)")
        except BenchmarkError as exc:
            if choice == "topix":
                raise
            reason = f"auto: {exc}"
        else:
            return Benchmark(levels, "topix", "index")
    returns, weighting, why = universe_returns(
        store, calendar, market, cap=choice != "equal_weight"
    )
    if choice == "equal_weight":
        why = "[evaluate] benchmark = equal_weight"
    reason = "; ".join(r for r in (reason, why) if r) or None
    return Benchmark(_levels(returns), "universe", weighting, reason)
