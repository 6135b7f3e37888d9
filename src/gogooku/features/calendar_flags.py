"""Calendar and validity block (``calendar``).

Date flags come from the trading calendar (``BlockContext.calendar``), which JPX publishes ahead
of time (``gogooku fetch`` stores it through the end of the next year), so knowing that t is the
last trading day of its month is not look-ahead, and a build on a store fetched up to D gives
the same values on days up to D as one on a longer store. Where the calendar itself ends, values
that need later trading days are null, never a guess (``is_month_end``, ``days_to_next_session``
on the calendar's last day, ``days_to_month_end`` in its last month, ``days_to_sq`` after its
last SQ day, ``is_sq_day`` on its last day before an SQ date past it). Definitions, with
"trading day" from the calendar:

- ``is_month_end``: t is the last trading day of its month (next trading day in a later month);
  ``is_quarter_end`` the same in March, June, September or December; ``is_month_start``: first
  trading day of its month.
- ``trading_day_of_month``: 1 on the month's first trading day; ``days_to_month_end``: trading
  days from t to the month's last trading day (0 on it).
- ``is_sq_day``: the monthly SQ day, the second Friday of the month, or the previous trading day
  when that Friday is not a trading day; ``is_major_sq_day`` in Mar/Jun/Sep/Dec;
  ``days_to_sq``: trading days from t to the next SQ day (0 on it).
- ``days_to_next_session`` / ``days_since_prev_session``: calendar days to the next / since the
  previous trading day (3 over a normal weekend; longer around holidays).
- ``is_{w}d_valid``: the stock traded on t and has at least w earlier traded rows, so every
  w-row window of daily returns ending at t is complete (false on no-trade rows).
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

VALID_WINDOWS = (5, 20, 60, 120, 250)
QUARTER_MONTHS = (3, 6, 9, 12)

_DATE_FEATURES: tuple[Feature, ...] = (
    Feature("day_of_week", "Weekday (1 = Monday … 5 = Friday)", "Date.weekday()", None, "Int8"),
    Feature("month_of_year", "Calendar month (1-12)", "Date.month()", None, "Int8"),
    Feature(
        "is_month_end",
        "Last trading day of the month",
        "month(next trading day) != month(t)",
        None,
        "Boolean",
    ),
    Feature(
        "is_month_start",
        "First trading day of the month",
        "month(previous trading day) != month(t)",
        None,
        "Boolean",
    ),
    Feature(
        "is_quarter_end",
        "Last trading day of a calendar quarter",
        "is_month_end and month in (3, 6, 9, 12)",
        None,
        "Boolean",
    ),
    Feature(
        "trading_day_of_month",
        "Position of t among the month's trading days (1 = first)",
        "count of trading days d in month(t) with d <= t",
        None,
        "Int8",
    ),
    Feature(
        "days_to_month_end",
        "Trading days until the month's last trading day (0 on it)",
        "count of trading days d in month(t) with d > t",
        None,
        "Int8",
    ),
    Feature(
        "is_sq_day",
        "Monthly SQ day (second Friday, or the previous trading day if that is a holiday)",
        "t == on_or_before(second Friday of month(t))",
        None,
        "Boolean",
    ),
    Feature(
        "is_major_sq_day",
        "Quarterly (major) SQ day: SQ day in March, June, September or December",
        "is_sq_day and month in (3, 6, 9, 12)",
        None,
        "Boolean",
    ),
    Feature(
        "days_to_sq",
        "Trading days until the next SQ day (0 on it)",
        "index(next SQ day >= t) - index(t) in the trading calendar",
        None,
        "Int8",
    ),
    Feature(
        "days_to_next_session",
        "Calendar days until the next trading day",
        "next_bd(t) - t in days",
        None,
        "Int8",
    ),
    Feature(
        "days_since_prev_session",
        "Calendar days since the previous trading day",
        "t - prev_bd(t) in days",
        None,
        "Int8",
    ),
)

_ROW_FEATURES: tuple[Feature, ...] = (
    Feature(
        "is_halt_20201001",
        "2020-10-01 TSE full-day halt (no trading, null bars)",
        "Date == 2020-10-01",
        None,
        "Boolean",
    ),
    *(
        Feature(
            f"is_{w}d_valid",
            f"The stock traded today and has at least {w} earlier traded rows",
            f"not no_trade and traded rows up to t >= {w + 1}",
            w + 1,
            "Boolean",
        )
        for w in VALID_WINDOWS
    ),
)

FEATURES: tuple[Feature, ...] = _DATE_FEATURES + _ROW_FEATURES

LOOKBACK = ops.lookback(FEATURES)


def _month_key(day: pl.Expr) -> pl.Expr:
    """``year·100 + month`` of a date."""
    return day.dt.year().cast(pl.Int32) * 100 + day.dt.month().cast(pl.Int32)


def calendar_frame(days: pl.DataFrame) -> pl.DataFrame:
    """Date flags for every trading day of ``days`` (one sorted ``Date`` column)."""
    d = pl.col(ops.DATE)
    frame = days.sort(ops.DATE).with_columns(
        _month_key(d).alias("_month"),
        d.shift(-1).alias("_next"),
        d.shift(1).alias("_prev"),
        pl.int_range(pl.len()).alias("_idx"),
    )
    first_month, last_month = frame["_month"][0], frame["_month"][-1]
    month_start = d.dt.month_start()
    # Second Friday: weekday() is 1 = Monday … 7 = Sunday; Friday is 5.
    second_friday = month_start + pl.duration(days=(5 - month_start.dt.weekday() + 7) % 7 + 7)
    frame = frame.with_columns(
        pl.when(pl.col("_next").is_not_null())
        .then(_month_key(pl.col("_next")) != pl.col("_month"))
        .alias("is_month_end"),
        pl.when(pl.col("_prev").is_not_null())
        .then(_month_key(pl.col("_prev")) != pl.col("_month"))
        .alias("is_month_start"),
        second_friday.alias("_sq_nominal"),
    )
    last_day = frame[ops.DATE][-1]
    sq_actual = (
        frame.select("_sq_nominal")
        .unique()
        .sort("_sq_nominal")
        .join_asof(
            frame.select(pl.col(ops.DATE).alias("_sq_day")),
            left_on="_sq_nominal",
            right_on="_sq_day",
            strategy="backward",
        )
        # A nominal SQ date past the calendar's end has no known trading day on or before it.
        .with_columns(pl.when(pl.col("_sq_nominal") <= last_day).then(pl.col("_sq_day")))
    )
    frame = frame.join(sq_actual, on="_sq_nominal", how="left").sort(ops.DATE)
    in_first, in_last = pl.col("_month") == first_month, pl.col("_month") == last_month
    position = pl.int_range(pl.len()).over("_month")
    size = pl.len().over("_month")
    # On the calendar's last day, before a nominal SQ date past it, t may yet be the SQ day.
    is_sq = (
        pl.when((pl.col(ops.DATE) == last_day) & (pl.col("_sq_nominal") > last_day))
        .then(None)
        .otherwise((pl.col(ops.DATE) == pl.col("_sq_day")) & pl.col("_sq_day").is_not_null())
    )
    frame = frame.with_columns(
        d.dt.weekday().alias("day_of_week"),
        d.dt.month().alias("month_of_year"),
        (pl.col("is_month_end") & d.dt.month().is_in(QUARTER_MONTHS)).alias("is_quarter_end"),
        pl.when(~in_first).then(position + 1).alias("trading_day_of_month"),
        pl.when(~in_last).then(size - position - 1).alias("days_to_month_end"),
        is_sq.alias("is_sq_day"),
        (is_sq & d.dt.month().is_in(QUARTER_MONTHS)).alias("is_major_sq_day"),
        (pl.when(is_sq).then(pl.col("_idx")).backward_fill() - pl.col("_idx")).alias("days_to_sq"),
        (pl.col("_next") - d).dt.total_days().alias("days_to_next_session"),
        (d - pl.col("_prev")).dt.total_days().alias("days_since_prev_session"),
    )
    return frame.select(
        ops.DATE, *(pl.col(f.name).cast(getattr(pl, f.dtype)) for f in _DATE_FEATURES)
    )


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Calendar flags joined by date, halt flag and window-validity flags per row."""
    dates = calendar_frame(ctx.calendar.frame()).lazy()
    traded = ~pl.col("no_trade")
    traded_count = traded.cast(pl.Int32).cum_sum().over(ops.CODE)
    rows = ctx.base.select(
        ops.CODE,
        ops.DATE,
        pl.col("is_halt_20201001"),
        *((traded & (traded_count >= w + 1)).alias(f"is_{w}d_valid") for w in VALID_WINDOWS),
    )
    out = rows.join(dates, on=ops.DATE, how="left", maintain_order="left")
    return ops.in_memory(ops.finalize(out, FEATURES))


BLOCK = Block(
    name="calendar",
    sources=("markets_calendar",),
    availability="bars_same_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
    jpx_features=(
        ("the JPX SQ day, second Friday", ("is_sq_day", "is_major_sq_day", "days_to_sq")),
    ),
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
