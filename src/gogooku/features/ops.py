"""Rolling helpers shared by the core feature blocks.

Every helper windows over each stock's own rows and assumes the frame is sorted by (Code, Date),
which the base frame guarantees: most expressions end in ``.over("Code")``; the windows whose
value depends only on their own rows (weighted sums, max, min) run down the whole column and
keep the rows whose window lies within one stock (:func:`one_stock_window`), the same values
without splitting the column by stock. Running sums (mean, sum, std, var, skew) stay per stock:
their float rounding depends on where the scan started. Warm-up rows are
null: a window of ``w`` rows yields a value only when all ``w`` inputs are present
(``min_samples = w``).

Price-based blocks compute on the *traded rows* of each stock (rows with ``no_trade`` false, see
:func:`traded_rows`) and join the result back onto every base row with :func:`to_base_rows`, so a
no-trade row (including the 2020-10-01 halt, when OHLCV are null for every stock) gets null
features and the windows of later rows simply skip it: "the last ``w`` rows" always means the
stock's last ``w`` traded rows, and a daily return on the first traded row after a no-trade day
spans back to the previous traded close.

Exponential averages are written as *finite* weighted windows instead of recursive filters,
so that a value depends only on a bounded history (the block's ``lookback``) and a build that
starts later gives bit-identical values::

    EMA_α(x)_t = Σ_{k=0}^{W−1} (1−α)^k · x_{t−k} / Σ_{k=0}^{W−1} (1−α)^k

with ``W = ema_window(α)`` rows, chosen so the truncated tail weight (1−α)^W is below 0.5 %.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import polars as pl

from gogooku.features.base import Feature

CODE = "Code"
DATE = "Date"

ANNUALISATION_DAYS = 245
"""Trading days per year used to annualise daily volatilities (√245); the TSE averages ~245."""

SQRT_ANNUALISATION = math.sqrt(ANNUALISATION_DAYS)

EMA_TAIL_WEIGHT = 0.005

NO_TRADE_SLACK = 20
"""Extra rows of history a block asks for beyond its longest window: windows count the stock's
traded rows, so a few no-trade days (and the 2020-10-01 halt) stretch a window back in time."""


def lookback(features: Iterable[Feature]) -> int:
    """Trading days of history a block needs: longest window − 1 plus :data:`NO_TRADE_SLACK`.

    A stock with more no-trade days than the slack inside its longest window can get slightly
    different values from builds that start at different dates (the window reaches further back).
    """
    return max((f.window or 1) for f in features) - 1 + NO_TRADE_SLACK


def lag(expr: pl.Expr, k: int = 1) -> pl.Expr:
    """``x_{t−k}`` over the stock's own rows (null for the first ``k`` rows): the whole column
    shifted, kept where row t−k is the same stock (:func:`one_stock_window`)."""
    return pl.when(one_stock_window(k + 1)).then(expr.shift(k))


def rolling_mean(expr: pl.Expr, w: int) -> pl.Expr:
    return expr.rolling_mean(w, min_samples=w).over(CODE)


def rolling_sum(expr: pl.Expr, w: int) -> pl.Expr:
    return expr.rolling_sum(w, min_samples=w).over(CODE)


def rolling_std(expr: pl.Expr, w: int, ddof: int = 1) -> pl.Expr:
    return expr.rolling_std(w, min_samples=w, ddof=ddof).over(CODE)


def rolling_var(expr: pl.Expr, w: int, ddof: int = 1) -> pl.Expr:
    return expr.rolling_var(w, min_samples=w, ddof=ddof).over(CODE)


def rolling_max(expr: pl.Expr, w: int) -> pl.Expr:
    """Max of the stock's last ``w`` rows: the window runs down the whole column and is kept
    where it lies within one stock (:func:`one_stock_window`; a max does not depend on where
    the scan started, so the values are those of a per-stock window)."""
    return pl.when(one_stock_window(w)).then(expr.rolling_max(w, min_samples=w))


def rolling_min(expr: pl.Expr, w: int) -> pl.Expr:
    """Min of the stock's last ``w`` rows (as :func:`rolling_max`)."""
    return pl.when(one_stock_window(w)).then(expr.rolling_min(w, min_samples=w))


def one_stock_window(w: int) -> pl.Expr:
    """True where the ``w`` rows ending at a row all belong to its stock: the row ``w − 1``
    above has the same ``Code`` (stocks are contiguous in a frame sorted by (Code, Date)).

    A window kernel run down the whole column instead of once per stock (``.over("Code")``
    splits the column into one slice per stock and scatters the results back) gives the
    per-stock values on these rows when each window's value depends only on its own rows.
    """
    return pl.col(CODE) == pl.col(CODE).shift(w - 1)


def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den``, null where the denominator is zero or null (never ±inf)."""
    return pl.when(den != 0).then(num / den).otherwise(None)


def sector_rank(expr: pl.Expr) -> pl.Expr:
    """Rank of ``expr`` among the stocks of the row's ``S33`` on its date, scaled to [0, 1]:
    ``(rank - 1) / (n - 1)`` with average ranks for ties, ``n`` the non-null values there; null
    when fewer than two."""
    n = expr.count().over(DATE, "S33")
    return pl.when(n >= 2).then((expr.rank("average").over(DATE, "S33") - 1) / (n - 1))


def sector_rank_feature(name: str) -> Feature:
    """The ``Feature`` of ``sector_rank`` applied to ``name``: ``{name}_rank_s33``."""
    return Feature(
        f"{name}_rank_s33",
        f"Rank of {name} among the stocks of the row's S33 on the date, scaled to [0, 1]",
        f"(rank({name}) - 1) / (n - 1) within (Date, S33)",
        None,
    )


def ema_window(alpha: float) -> int:
    """Rows ``W`` of a truncated EMA: the smallest W with (1−α)^W ≤ 0.5 %."""
    return math.ceil(math.log(EMA_TAIL_WEIGHT) / math.log(1.0 - alpha))


def ema_weights(alpha: float) -> list[float]:
    """Normalised weights of :func:`ema`, oldest row first (Polars' window order)."""
    w = ema_window(alpha)
    raw = [(1.0 - alpha) ** k for k in range(w - 1, -1, -1)]
    total = sum(raw)
    return [r / total for r in raw]


def ema(expr: pl.Expr, alpha: float) -> pl.Expr:
    """Truncated exponential average (module docstring); null unless all W inputs are present.

    Polars computes each weighted window afresh from its own W rows, so the kernel runs down the
    whole column and is kept on the rows whose window lies within one stock
    (:func:`one_stock_window`): the per-stock values, without splitting the column by stock.
    """
    weights = ema_weights(alpha)
    w = len(weights)
    complete = expr.is_not_null().cast(pl.Int32).rolling_sum(w, min_samples=w) == w
    value = expr.fill_null(0.0).rolling_sum(w, weights=weights, min_samples=w)
    return pl.when(complete & one_stock_window(w)).then(value).otherwise(None)


def ema_span(expr: pl.Expr, span: int) -> pl.Expr:
    """EMA with α = 2/(span+1)."""
    return ema(expr, 2.0 / (span + 1.0))


def wilder(expr: pl.Expr, n: int) -> pl.Expr:
    """Wilder's smoothing: EMA with α = 1/n."""
    return ema(expr, 1.0 / n)


def rows_since(event: pl.Expr, cap: int) -> pl.Expr:
    """Rows since the latest row (up to and including t) where ``event`` is true.

    0 on an event row; null when no event happened within the last ``cap`` rows, so the value
    depends only on a bounded history.
    """
    idx = pl.int_range(pl.len()).over(CODE)
    last = pl.when(event.fill_null(False)).then(idx).otherwise(None).forward_fill().over(CODE)
    since = idx - last
    return pl.when(since <= cap).then(since).otherwise(None)


def streak(flag: pl.Expr) -> pl.Expr:
    """Consecutive rows up to and including t on which ``flag`` is true (0 when false on t).

    ``t − (index of the latest false row)``, or ``position + 1`` when no row of the stock so far
    was false; a null flag counts as false.
    """
    f = flag.fill_null(False)
    idx = pl.int_range(pl.len()).over(CODE)
    last_break = pl.when(~f).then(idx).otherwise(None).forward_fill().over(CODE)
    return pl.when(last_break.is_null()).then(idx + 1).otherwise(idx - last_break).cast(pl.Int32)


def traded_rows(base: pl.LazyFrame) -> pl.LazyFrame:
    """The base rows on which the stock traded (``no_trade`` false).

    The base frame is sorted by (Code, Date); filtering keeps that order.
    """
    return base.filter(~pl.col("no_trade"))


def own_codes(source: pl.LazyFrame, base: pl.LazyFrame) -> pl.LazyFrame:
    """The ``source`` records of the stocks in ``base`` (a filter on ``Code``).

    Per-stock blocks read a side dataset of every stock; the builder runs them on chunks of
    stocks, so each chunk keeps only its own stocks' records before any per-stock work. The
    codes are a literal ``is_in`` filter, which the store's Parquet scan applies while reading
    (a semi-join runs only after every record of every stock was decoded).
    """
    codes = base.select(CODE).unique().collect()[CODE]
    return source.filter(pl.col(CODE).is_in(codes.implode()))


def last_per_day_sorted(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame`` sorted by (Code, Date), keeping of the records sharing a (Code, Date) the last in
    frame order: ``unique(subset=[Code, Date], keep="last").sort(Code, Date)`` done as one stable
    sort and a test against the next row (the same rows; no hash of every (Code, Date) pair,
    which cost more than the rest of the breakdown block's record work)."""
    code, day = pl.col(CODE), pl.col(DATE)
    return frame.sort(CODE, DATE, maintain_order=True).filter(
        code.ne_missing(code.shift(-1)) | day.ne_missing(day.shift(-1))
    )


def to_base_rows(
    base: pl.LazyFrame,
    computed: pl.LazyFrame,
    features: Iterable[Feature],
    from_base: Iterable[str] = (),
) -> pl.LazyFrame:
    """Left-join per-traded-row results back onto every base row (no-trade rows get nulls).

    Columns named in ``from_base`` were computed on all base rows and are taken from ``base``.
    Both frames are computed here by the in-memory engine (see :func:`in_memory`). When
    ``computed`` holds exactly the traded rows of ``base`` in base order (:func:`traded_rows`
    with columns added, the usual case), each base row takes its traded row by position, a
    gather instead of a hash join on (Code, Date); otherwise they are joined on (Code, Date).
    """
    features = tuple(features)
    kept = list(from_base)
    names = [f.name for f in features if f.name not in kept]
    rows = base.select(CODE, DATE, *kept, "no_trade").collect(engine="in-memory")
    values = computed.select(CODE, DATE, *names).collect(engine="in-memory")
    traded = ~pl.col("no_trade")
    if values.select(CODE, DATE).equals(rows.filter(traded).select(CODE, DATE)):
        position = pl.when(traded).then(traded.cum_sum().cast(pl.get_index_type()) - 1)
        index = rows.select(position).to_series()
        joined = pl.concat(
            [rows.drop("no_trade"), values.select(pl.col(names).gather(index))], how="horizontal"
        )
    else:
        joined = rows.drop("no_trade").join(
            values, on=[CODE, DATE], how="left", maintain_order="left"
        )
    return finalize(joined.lazy(), features)


def finalize(frame: pl.LazyFrame, features: Iterable[Feature]) -> pl.LazyFrame:
    """Select ``Code, Date`` and the declared features, cast to their declared dtypes.

    Non-finite floats (±inf, NaN from 0/0 or log of 0) become null.
    """
    exprs = []
    for f in features:
        dtype = getattr(pl, f.dtype)
        col = pl.col(f.name)
        if dtype in (pl.Float32, pl.Float64):
            col = pl.when(col.is_finite()).then(col).otherwise(None)
        exprs.append(col.cast(dtype).alias(f.name))
    return frame.select(CODE, DATE, *exprs)


def in_memory(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame`` computed now by Polars' in-memory engine, handed back lazy (a block's result).

    Polars 2 collects with its streaming engine by default; on a build chunk that engine runs
    per-stock windows (``.over("Code")``), the join back onto the base rows and per-date
    group-bys with 1.5–3× the CPU of the in-memory engine, for identical values (per block:
    ``bench/bench_blocks.py``, docs/benchmarks.md). Blocks made mostly of such work end with it;
    blocks dominated by side-data scans and as-of joins do not (there streaming is as cheap).
    """
    return frame.collect(engine="in-memory").lazy()
