"""Hidden per-stock / per-day states that carry the planted side signals of the synthetic market.

``draw_latents(config, days, universe)`` runs before prices exist; engineer A adds
``Latents.contributions(universe)`` to the expected return ``mu``, and the side renderers
(``gogooku.synth.side``) turn the same states into observable J-Quants tables.

Latent processes (all recursions run forward from ``config.start``; every random number of a day
comes from ``rng_for(seed, stream, day)``, every per-stock constant from ``rng_static``):

* ``margin_z`` — crowding of margin longs, a weekly AR(1):
  ``z_w = RHO_MARGIN_WEEK * z_{w-1} + sqrt(1 - RHO_MARGIN_WEEK**2) * eps``, updated on the first
  trading day of each week and held constant during the week.
* ``short_z`` — short pressure, a daily AR(1) with coefficient ``RHO_SHORT_DAY``.
* ``flow_z`` — foreign net-buying pressure (market-wide), a weekly AR(1) with ``RHO_FLOW_WEEK``.
* ``surprise`` — standard-normal earnings surprise placed on the disclosure day of each quarterly
  statement (``disclosure_day``); ``disclosure_intraday`` marks disclosures made before the close.

Publication lags (indices are trading-day offsets; ``F`` = a week's last trading day):

* weekly margin record of ``F`` is published on ``F + 2`` (2nd business day of the next week) and
  usable from ``F + 3``;
* investor types of the week ending ``F`` are published on ``F + 4`` and usable from ``F + 5``;
* a large short position calculated on ``c`` is disclosed on ``c + 2`` and usable from ``c + 3``;
* a statement disclosed on ``d`` is usable from ``d`` when ``DiscTime`` is before the close
  (15:00 until 2024-11-04, 15:30 from 2024-11-05), else from ``d + 1``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, time, timedelta

import numpy as np
import polars as pl

from gogooku.synth.config import SynthConfig, rng_for, rng_static
from gogooku.synth.ownership import (
    ACTIVIST_DECAY,
    Ownership,
    activist_contribution,
    concentration_contribution,
    draw_ownership,
)
from gogooku.synth.universe import trading_sessions

RHO_MARGIN_WEEK = 0.85
RHO_SHORT_DAY = 0.98
RHO_FLOW_WEEK = 0.6
DRIFT_DECAY = 0.9
RHO_ACCRUAL = 0.7  # per cash-flow statement (2Q and FY: about 126 trading days apart)
ACCRUAL_QUARTERS = (2, 4)

MARGIN_PUBLICATION_LAG = 2
MARGIN_USABLE_LAG = MARGIN_PUBLICATION_LAG + 1
INVESTOR_PUBLICATION_LAG = 4
INVESTOR_USABLE_LAG = INVESTOR_PUBLICATION_LAG + 1
SHORT_DISCLOSURE_LAG = 2
SHORT_USABLE_LAG = SHORT_DISCLOSURE_LAG + 1

SHORT_REPORT_THRESHOLD = 0.005
SHORT_REPORT_STEP = 0.001
SHORT_SLOTS = 3
SCHEDULE_EXTRA_DAYS = 45

STRENGTH: dict[str, float] = {
    "margin": 2.5e-4,
    "short": 4.0e-4,
    "flow": 2.5e-4,
    "drift": 1.1e-3,
    "accruals": 2.0e-4,
    "activist": 8.0e-4,
    "concentration": 1.0e-4,
}
"""Daily-return contribution per unit of each signal's driver:

* ``margin``: ``-STRENGTH * margin_z`` of the latest usable weekly record;
* ``short``: ``-STRENGTH * P`` with ``P`` the publicly reported short position of a stock in percent
  of shares outstanding (sum over reporters with a last report >= 0.5 %);
* ``flow``: ``+STRENGTH * flow_z(latest published week) * size_score``;
* ``drift``: ``+STRENGTH * surprise * DRIFT_DECAY**k`` on the ``k``-th trading day after the
  statement became usable;
* ``accruals``: ``-STRENGTH * accrual_z`` of the latest usable 2Q/FY statement (the ones with a
  cash-flow statement; Sloan's accrual anomaly: high accruals, lower future returns);
* ``activist``: ``+STRENGTH * ACTIVIST_DECAY**k`` on the ``k``-th trading day after a new large
  holder's first report became usable (``gogooku.synth.ownership``);
* ``concentration``: ``+STRENGTH * zs(log top10)``, the standing top-10 holders' total ratio.

Every contribution is then demeaned across the stocks listed that day (and is 0 for the others).
"""

STRENGTH_DRIFT_V2 = 1.5e-3
DRIFT_SATURATION = 1.0
"""Market version 2's post-earnings drift: ``+STRENGTH_DRIFT_V2 · tanh(surprise /
DRIFT_SATURATION) · DRIFT_DECAY**k`` (saturating in the surprise: the slope at 0 is 1.5e-3 per
unit, the bound ±1.5e-3; version 1 is linear, 1.1e-3 per unit)."""

PERSISTENCE: dict[str, float] = {
    "margin": RHO_MARGIN_WEEK ** (1 / 5),
    "short": RHO_SHORT_DAY,
    "flow": RHO_FLOW_WEEK ** (1 / 5),
    "drift": DRIFT_DECAY,
    "accruals": RHO_ACCRUAL ** (1 / 126),
    "activist": ACTIVIST_DECAY,
    "concentration": 1.0,
}
"""Daily decay ``phi`` of each contribution: ``E[c[t+k] | info at t] ~= phi**k * c[t]``.

Exact for ``drift`` (a deterministic exponential decay; future surprises have mean 0). For the
weekly signals ``phi`` is the daily equivalent of the weekly AR(1) coefficient (the contribution is
a step function that moves to ``rho * c`` in expectation at each weekly publication); for ``short``
it is the AR(1) coefficient of ``short_z`` (the 0.5 % reporting threshold makes it approximate);
for ``accruals`` the daily equivalent of the AR(1) coefficient between half-yearly statements.
"""

FISCAL_YEAR_END_MONTHS = (3, 12, 9, 6, 2, 5, 8, 11)
FISCAL_YEAR_END_WEIGHTS = (0.70, 0.12, 0.06, 0.04, 0.02, 0.02, 0.02, 0.02)
NO_TIME = ""  # a disclosure without a time: DiscTime is empty (null), counted as after the close
AFTER_CLOSE_TIMES = (
    "15:00:00", "15:30:00", "16:00:00", "17:00:00", "18:59:59", "19:00:00", "21:00:00", NO_TIME,
)  # fmt: skip
INTRADAY_TIMES = ("11:30:00", "12:00:00", "13:00:00", "14:00:00")
DISC_TIME_CHOICES = (*AFTER_CLOSE_TIMES, *INTRADAY_TIMES)
# 15:00 keeps its 40 % and the intraday times their 25 % at the end of the cumulative weights, so
# the same uniform draw gives the same before/after-close class as with the four late times of
# earlier versions (prices do not move); the late evening and empty times share 15:30's old mass.
DISC_TIME_WEIGHTS = (0.40, 0.15, 0.05, 0.04, 0.03, 0.03, 0.02, 0.03, 0.08, 0.05, 0.05, 0.07)
CLOSE_TIME_CHANGE = date(2024, 11, 5)


def close_time(day: date) -> time:
    """TSE cash-session close: 15:00 until 2024-11-04, 15:30 from 2024-11-05."""
    return time(15, 30) if day >= CLOSE_TIME_CHANGE else time(15, 0)


def is_intraday(day: date, disc_time: str) -> bool:
    """True when a disclosure at ``disc_time`` (``HH:MM:SS``) on ``day`` precedes the close; a
    disclosure without a time (``NO_TIME``) counts as after the close."""
    return disc_time != NO_TIME and time.fromisoformat(disc_time) < close_time(day)


@functools.lru_cache(maxsize=16)
def _sessions_after(after: date, calendar_days: int) -> tuple[date, ...]:
    return tuple(trading_sessions(after + timedelta(days=1), after + timedelta(days=calendar_days)))


def extended_days(days: list[date], extra: int = 30) -> list[date]:
    """``days`` followed by ``extra`` later JPX trading days (``universe.trading_sessions``).

    Publication dates of records observed near the configured end fall after it; they are taken
    from the real calendar so that a shorter market computes the same dates as a longer one.
    """
    return [*days, *_sessions_after(days[-1], 2 * extra + 20)[:extra]]


def week_end_flags(days: list[date], min_days: int = 1) -> np.ndarray:
    """``(T,)`` bool: day ``t`` is the last trading day of its Mon–Sun week and the week has at
    least ``min_days`` trading days (weeks with <= 2 days carry no weekly margin record)."""
    ext = extended_days(days)
    weeks = np.array([d.isocalendar()[:2] for d in ext], dtype=np.int64)
    key = weeks[:, 0] * 100 + weeks[:, 1]
    last = np.append(key[1:] != key[:-1], True)
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    flags = last & (counts[inverse] >= min_days)
    return flags[: len(days)]


def listed_mask(days: list[date], universe: pl.DataFrame) -> np.ndarray:
    """``(T, N)`` bool: ``list_date <= day < delist_date`` (``delist_date`` is the first day the
    stock is no longer listed; null = still listed)."""
    ords = np.array([d.toordinal() for d in days])[:, None]
    lst = np.array([d.toordinal() for d in universe["list_date"].to_list()])[None, :]
    delist = np.array(
        [d.toordinal() if d is not None else 10**9 for d in universe["delist_date"].to_list()]
    )[None, :]
    return (ords >= lst) & (ords < delist)


def _week_starts(days: list[date]) -> np.ndarray:
    key = np.array([d.isocalendar()[0] * 100 + d.isocalendar()[1] for d in days])
    return np.insert(key[1:] != key[:-1], 0, True)


def _weekly_ar(
    config: SynthConfig, days: list[date], stream: str, rho: float, size: int | None
) -> np.ndarray:
    """Weekly AR(1) held constant within each week; ``size=None`` gives a ``(T,)`` series."""
    shape = () if size is None else (size,)
    z = rng_static(config, f"{stream}/init").standard_normal(shape)
    out = np.empty((len(days), *shape))
    innov = np.sqrt(1.0 - rho**2)
    for t, (day, new_week) in enumerate(zip(days, _week_starts(days), strict=True)):
        if new_week:
            z = rho * z + innov * rng_for(config.seed, stream, day).standard_normal(shape)
        out[t] = z
    return out


def _daily_ar(config: SynthConfig, days: list[date], stream: str, rho: float, n: int) -> np.ndarray:
    z = rng_static(config, f"{stream}/init").standard_normal(n)
    out = np.empty((len(days), n))
    innov = np.sqrt(1.0 - rho**2)
    for t, day in enumerate(days):
        z = rho * z + innov * rng_for(config.seed, stream, day).standard_normal(n)
        out[t] = z
    return out


def _simulate_short_reports(
    config: SynthConfig, days: list[date], short_z: np.ndarray, listed: np.ndarray
) -> tuple[pl.DataFrame, np.ndarray]:
    """Large short positions and the reports they trigger.

    Slot ``j`` of stock ``i`` (one potential short seller) holds the position ratio
    ``p[t,i,j] = base[i,j] * exp(0.6 * short_z[t,i])`` of shares outstanding. A report is filed on
    calculation day ``t`` when ``p >= 0.5 %`` and either the last report was below 0.5 % or
    ``|p - last| >= 0.1 %``; a final report is filed when ``p`` falls below 0.5 % after a report at
    or above it. Returns the reports (calc_idx, code_idx, slot, ratio, prev_ratio, prev_calc_idx)
    and ``reported[t, i]``: the sum of the slots' last reported ratios >= 0.5 % as of calc day t.
    """
    n_days, n = short_z.shape
    rng = rng_static(config, "short_slots")
    base = np.exp(rng.normal(np.log(0.0028), 0.45, size=(n, SHORT_SLOTS)))
    base[:, 1:] *= rng.random((n, SHORT_SLOTS - 1)) < 0.5
    last = np.zeros((n, SHORT_SLOTS))
    last_idx = np.full((n, SHORT_SLOTS), -1)
    reported = np.zeros((n_days, n))
    chunks: list[tuple[np.ndarray, ...]] = []
    for t in range(n_days):
        pos = base * np.exp(0.6 * short_z[t])[:, None]
        active = listed[t][:, None]
        above = pos >= SHORT_REPORT_THRESHOLD
        was_above = last >= SHORT_REPORT_THRESHOLD
        file = active & (
            (above & (~was_above | (np.abs(pos - last) >= SHORT_REPORT_STEP)))
            | (~above & was_above)
        )
        if file.any():
            ii, jj = np.nonzero(file)
            chunks.append(
                (np.full(ii.size, t), ii, jj, pos[ii, jj], last[ii, jj], last_idx[ii, jj])
            )
            last[ii, jj] = pos[ii, jj]
            last_idx[ii, jj] = t
        reported[t] = np.where(last >= SHORT_REPORT_THRESHOLD, last, 0.0).sum(axis=1)
    cols = ("calc_idx", "code_idx", "slot", "ratio", "prev_ratio", "prev_calc_idx")
    if chunks:
        data = [np.concatenate([c[k] for c in chunks]) for k in range(len(cols))]
    else:
        data = [np.empty(0, dtype=np.int64)] * 3 + [np.empty(0)] * 2 + [np.empty(0, dtype=np.int64)]
    reports = (
        pl.DataFrame(dict(zip(cols, data, strict=True)))
        .cast({"calc_idx": pl.Int64, "code_idx": pl.Int64, "slot": pl.Int64})
        .with_columns(
            pl.when(pl.col("prev_calc_idx") >= 0).then(pl.col("prev_ratio")).alias("prev_ratio"),
            pl.when(pl.col("prev_calc_idx") >= 0)
            .then(pl.col("prev_calc_idx").cast(pl.Int64))
            .alias("prev_calc_idx"),
        )
    )
    return reports, reported


def _month_end(year: int, month: int) -> date:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _quarter_ends(start: date, end: date) -> list[date]:
    """Month ends from five months before ``start`` to ``end``."""
    y, m = start.year, start.month - 5
    while m < 1:
        y, m = y - 1, m + 12
    out = []
    while True:
        me = _month_end(y, m)
        if me > end:
            return out
        out.append(me)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def statement_draws(config: SynthConfig, q_end: date, n: int) -> dict[str, np.ndarray]:
    """The per-stock draws of the quarter ending ``q_end`` (same numbers for every ``end``).

    ``lag_q``/``lag_fy`` reporting lags in calendar days, ``time_idx`` into ``DISC_TIME_CHOICES``,
    ``surprise`` ~ N(0, 1), ``lead`` (trading days the schedule is announced ahead), ``moved`` and
    ``shift`` (a first schedule ``shift`` days earlier that was later changed), ``noise`` (6, n)
    standard normals for the reported figures.
    """
    rng = rng_for(config.seed, "statements", q_end)
    return {
        "lag_q": rng.integers(25, 46, n),
        "lag_fy": rng.integers(35, 51, n),
        "time_idx": rng.choice(len(DISC_TIME_CHOICES), size=n, p=DISC_TIME_WEIGHTS),
        "surprise": rng.standard_normal(n),
        "lead": rng.integers(10, 31, n),
        "moved": rng.random(n) < 0.06,
        "shift": rng.integers(1, 4, n),
        "noise": rng.standard_normal((6, n)),
    }


def quarter_ends(start: date, end: date) -> list[date]:
    """Month ends from five months before ``start`` to two months after ``end`` (candidate fiscal
    quarter ends; later ones cannot have a schedule announced by ``end``)."""
    return _quarter_ends(start, end + timedelta(days=62))


def _draw_disclosures(
    config: SynthConfig, days: list[date], fye_month: np.ndarray, listed: np.ndarray
) -> pl.DataFrame:
    """Quarterly statement events: one per (stock, fiscal quarter end) whose schedule is
    announced within ``days`` (``announce_idx < T``) by a stock listed on the announcement day.

    ``disclosed`` marks the events whose disclosure day (``day_idx``, possibly after the last day;
    ``disc_date`` is its date) is within ``days`` with the stock still listed: only those carry a
    statement and a surprise. Quarter ends run to two months past ``end`` so that every schedule
    announced by ``end`` is present whatever ``end`` is.

    For each month end ``Q`` the draws of ``rng_for(seed, "statements", Q)`` give every stock a
    reporting lag (1Q–3Q: 25–45 calendar days, FY: 35–50), a disclosure time, a surprise ~ N(0, 1),
    a schedule lead (the earnings date is announced 10–30 trading days before) and, for 6 % of
    events, an earlier schedule that was later moved (the first announced date, 1–3 days earlier).
    ``accrual`` is the stock's accrual state ``a``: at each 2Q/FY quarter end
    ``a = 0.7 a + sqrt(1 - 0.49) e`` (``e`` from ``rng_for(seed, "accruals", Q)``), held at 1Q/3Q,
    stationary N(0, 1) apart from its start at 0 five months before ``start``.
    """
    ext = extended_days(days, SCHEDULE_EXTRA_DAYS)
    ords = np.array([d.toordinal() for d in ext])
    n = fye_month.size
    n_days = len(days)
    frames = []
    accrual = np.zeros(n)
    for q_end in quarter_ends(config.start, config.end):
        draws = statement_draws(config, q_end, n)
        lag_q, lag_fy, time_idx = draws["lag_q"], draws["lag_fy"], draws["time_idx"]
        surprise, lead, moved, shift = (
            draws["surprise"],
            draws["lead"],
            draws["moved"],
            draws["shift"],
        )
        months_after_fye = (q_end.month - fye_month) % 12
        has_q = months_after_fye % 3 == 0
        fq = np.where(months_after_fye == 0, 4, months_after_fye // 3)
        lag = np.where(fq == 4, lag_fy, lag_q)
        cash_flow = has_q & np.isin(fq, ACCRUAL_QUARTERS)
        shock = rng_for(config.seed, "accruals", q_end).standard_normal(n)
        accrual = np.where(
            cash_flow, RHO_ACCRUAL * accrual + np.sqrt(1 - RHO_ACCRUAL**2) * shock, accrual
        )
        target = q_end.toordinal() + lag
        day_idx = np.searchsorted(ords, target)
        announce = np.maximum(day_idx - lead, 0)
        ok = has_q & (target >= ords[0]) & (day_idx < len(ext)) & (announce < n_days)
        ok[ok] &= listed[announce[ok], np.nonzero(ok)[0]]
        if not ok.any():
            continue
        ii = np.nonzero(ok)[0]
        d_idx = day_idx[ii]
        on_day = np.minimum(d_idx, n_days - 1)
        frames.append(
            pl.DataFrame(
                {
                    "day_idx": d_idx,
                    "code_idx": ii,
                    "period_end": [q_end] * ii.size,
                    "fq": fq[ii],
                    "fye_month": fye_month[ii],
                    "disc_time": [DISC_TIME_CHOICES[k] for k in time_idx[ii]],
                    "surprise": surprise[ii],
                    "accrual": accrual[ii],
                    "announce_idx": announce[ii],
                    "moved": moved[ii],
                    "moved_idx": np.maximum(d_idx - shift[ii], announce[ii] + 1),
                    "disclosed": (d_idx < n_days) & listed[on_day, ii],
                    "disc_date": [ext[k] for k in d_idx],
                }
            )
        )
    schema = {
        "day_idx": pl.Int64,
        "code_idx": pl.Int64,
        "period_end": pl.Date,
        "fq": pl.Int64,
        "fye_month": pl.Int64,
        "disc_time": pl.String,
        "surprise": pl.Float64,
        "accrual": pl.Float64,
        "announce_idx": pl.Int64,
        "moved": pl.Boolean,
        "moved_idx": pl.Int64,
        "disclosed": pl.Boolean,
        "disc_date": pl.Date,
    }
    if not frames:
        return pl.DataFrame(schema=schema)
    events = pl.concat(frames).cast(schema)  # type: ignore[arg-type]
    close = (
        pl.when(pl.col("disc_date") >= CLOSE_TIME_CHANGE)
        .then(pl.lit("15:30:00"))
        .otherwise(pl.lit("15:00:00"))
    )
    events = events.with_columns(
        ((pl.col("disc_time") != NO_TIME) & (pl.col("disc_time") < close)).alias("intraday")
    )
    return events.sort("day_idx", "code_idx")


@dataclass
class Latents:
    """Hidden states behind the planted side signals (see the module docstring)."""

    days: list[date]
    margin_z: np.ndarray  # (T, N) weekly-held AR(1); higher -> lower future return
    short_z: np.ndarray  # (T, N) daily AR(1); drives large short-sale reports
    flow_z: np.ndarray  # (T,) weekly-held AR(1); contribution flow_z * size_score
    surprise: np.ndarray  # (T, N) surprise on the disclosure day, 0 elsewhere
    disclosure_day: np.ndarray  # (T, N) bool: statement disclosed on day t
    disclosure_intraday: np.ndarray  # (T, N) bool: ... and before that day's close
    fiscal_year_end_month: np.ndarray  # (N,) month of each stock's fiscal year end
    disclosures: pl.DataFrame  # statement events (see _draw_disclosures)
    short_reports: pl.DataFrame  # large short-position reports (see _simulate_short_reports)
    short_reported: np.ndarray  # (T, N) sum of reported ratios >= 0.5 % as of calc day t
    week_end: np.ndarray  # (T,) bool: last trading day of its week (investor-type weeks)
    margin_week_end: np.ndarray  # (T,) bool: ... of a week with >= 3 trading days (margin records)
    accrual_level: np.ndarray  # (T, N) accrual state of the latest usable 2Q/FY statement (0: none)
    ownership: Ownership  # standing holders and large-holding reports (``synth.ownership``)

    def usable_record_index(self, flags: np.ndarray, usable_lag: int) -> np.ndarray:
        """``(T,)`` index of the latest flagged day ``F`` with ``F + usable_lag <= t`` (-1: none)."""
        n_days = len(self.days)
        idx = np.where(flags, np.arange(n_days), -1)
        latest = np.maximum.accumulate(idx)
        out = np.full(n_days, -1)
        out[usable_lag:] = latest[: n_days - usable_lag]
        return out

    def public_crowding(self) -> tuple[np.ndarray, np.ndarray]:
        """``(margin, short)``, both ``(T, N)`` and usable at ``t``: ``margin_z`` of the latest
        usable weekly margin record (0 before the first) and the publicly reported short
        position (fraction of shares outstanding, ``short_reported`` of ``t − 3``)."""
        n_days, n = self.margin_z.shape
        margin_rec = self.usable_record_index(self.margin_week_end, MARGIN_USABLE_LAG)
        margin = np.where((margin_rec >= 0)[:, None], self.margin_z[margin_rec], 0.0)
        public_short = np.zeros((n_days, n))
        public_short[SHORT_USABLE_LAG:] = self.short_reported[: n_days - SHORT_USABLE_LAG]
        return margin, public_short

    def contributions(
        self, universe: pl.DataFrame, market_version: int = 1
    ) -> dict[str, np.ndarray]:
        """Expected next-day return contribution of each side signal known at decision time t.

        ``c[name][t, i]`` adds to the expected close-to-close return from t+1 to t+2; formulas in
        ``STRENGTH``, decay in ``PERSISTENCE``; each is demeaned across the stocks listed on t.
        Market version 2 saturates the earnings drift in the surprise:
        ``STRENGTH_DRIFT_V2 · tanh(surprise / DRIFT_SATURATION)`` per statement.
        """
        n_days, n = self.margin_z.shape
        if universe.height != n:
            raise ValueError(f"universe has {universe.height} rows, latents were drawn for {n}")
        listed = listed_mask(self.days, universe)
        margin_rec = self.usable_record_index(self.margin_week_end, MARGIN_USABLE_LAG)
        margin = np.where(
            (margin_rec >= 0)[:, None], -STRENGTH["margin"] * self.margin_z[margin_rec], 0.0
        )
        public_short = np.zeros((n_days, n))
        public_short[SHORT_USABLE_LAG:] = self.short_reported[: n_days - SHORT_USABLE_LAG]
        short = -STRENGTH["short"] * 100.0 * public_short
        flow_rec = self.usable_record_index(self.week_end, INVESTOR_USABLE_LAG)
        flow_level = np.where(flow_rec >= 0, self.flow_z[flow_rec], 0.0)
        size = universe["size_score"].to_numpy().astype(float)
        flow = STRENGTH["flow"] * flow_level[:, None] * size[None, :]
        usable = np.zeros((n_days, n))
        after = self.disclosure_day & ~self.disclosure_intraday
        usable[self.disclosure_intraday] += self.surprise[self.disclosure_intraday]
        shifted = np.where(after, self.surprise, 0.0)
        usable[1:] += shifted[:-1]
        if market_version >= 2:
            usable = STRENGTH_DRIFT_V2 / STRENGTH["drift"] * np.tanh(usable / DRIFT_SATURATION)
        drift = np.empty((n_days, n))
        level = np.zeros(n)
        for t in range(n_days):
            level = DRIFT_DECAY * level + STRENGTH["drift"] * usable[t]
            drift[t] = level
        out = {
            "margin": margin,
            "short": short,
            "flow": flow,
            "drift": drift,
            "accruals": -STRENGTH["accruals"] * self.accrual_level,
            "activist": activist_contribution(self.ownership, listed, STRENGTH["activist"]),
            "concentration": concentration_contribution(
                self.ownership, listed, STRENGTH["concentration"]
            ),
        }
        count = np.maximum(listed.sum(axis=1, keepdims=True), 1)
        for name, arr in out.items():
            mean = np.where(listed, arr, 0.0).sum(axis=1, keepdims=True) / count
            out[name] = np.where(listed, arr - mean, 0.0)
        return out


def draw_latents(config: SynthConfig, days: list[date], universe: pl.DataFrame) -> Latents:
    """Draw every latent state for ``days`` (trading days from ``config.start``) and ``universe``."""
    if not days:
        raise ValueError("draw_latents: days is empty")
    missing = {"Code", "list_date", "delist_date", "size_score"} - set(universe.columns)
    if missing:
        raise ValueError(f"draw_latents: universe lacks columns {sorted(missing)}")
    n = universe.height
    listed = listed_mask(days, universe)
    margin_z = _weekly_ar(config, days, "margin_z", RHO_MARGIN_WEEK, n)
    flow_z = _weekly_ar(config, days, "flow_z", RHO_FLOW_WEEK, None)
    short_z = _daily_ar(config, days, "short_z", RHO_SHORT_DAY, n)
    short_reports, short_reported = _simulate_short_reports(config, days, short_z, listed)
    fye = rng_static(config, "fiscal_year_end").choice(
        FISCAL_YEAR_END_MONTHS, size=n, p=FISCAL_YEAR_END_WEIGHTS
    )
    disclosures = _draw_disclosures(config, days, fye, listed)
    n_days = len(days)
    surprise = np.zeros((n_days, n))
    disclosure_day = np.zeros((n_days, n), dtype=bool)
    intraday = np.zeros((n_days, n), dtype=bool)
    disclosed = disclosures.filter(pl.col("disclosed"))
    t_idx = disclosed["day_idx"].to_numpy()
    i_idx = disclosed["code_idx"].to_numpy()
    surprise[t_idx, i_idx] = disclosed["surprise"].to_numpy()
    disclosure_day[t_idx, i_idx] = True
    intraday[t_idx, i_idx] = disclosed["intraday"].to_numpy()
    return Latents(
        days=list(days),
        margin_z=margin_z,
        short_z=short_z,
        flow_z=flow_z,
        surprise=surprise,
        disclosure_day=disclosure_day,
        disclosure_intraday=intraday,
        fiscal_year_end_month=fye,
        disclosures=disclosures,
        short_reports=short_reports,
        short_reported=short_reported,
        week_end=week_end_flags(days),
        margin_week_end=week_end_flags(days, min_days=3),
        accrual_level=_accrual_level(disclosed, n_days, n),
        ownership=draw_ownership(config, days, universe, listed),
    )


def _accrual_level(disclosed: pl.DataFrame, n_days: int, n: int) -> np.ndarray:
    """``(T, N)``: the ``accrual`` of the latest 2Q/FY statement usable on t (from its disclosure
    day when intraday, else the next trading day), 0 before the first."""
    cash_flow = disclosed.filter(pl.col("fq").is_in(ACCRUAL_QUARTERS))
    usable = cash_flow["day_idx"].to_numpy() + ~cash_flow["intraday"].to_numpy()
    inside = usable < n_days
    values = np.zeros((n_days, n))
    has = np.zeros((n_days, n), dtype=bool)
    rows, cols = usable[inside], cash_flow["code_idx"].to_numpy()[inside]
    values[rows, cols] = cash_flow["accrual"].to_numpy()[inside]
    has[rows, cols] = True
    latest = np.maximum.accumulate(np.where(has, np.arange(n_days)[:, None], -1), axis=0)
    return np.where(latest >= 0, values[np.maximum(latest, 0), np.arange(n)], 0.0)
