"""Margin balances: weekly ``markets_margin_interest`` and daily ``markets_margin_alert``.

One daily balance path per stock drives both tables (shares, unadjusted for later splits):

* ``LongOut[t,i] = SO[t,i] * long_frac[i] * exp(0.5 * margin_z[t,i] + 0.04 * e_long[t,i])``
* ``ShrtOut[t,i] = SO[t,i] * long_frac[i] * sl[i] * exp(0.35 * short_z[t,i] + 0.10 * e_short[t,i])``

with ``long_frac ~ LogNormal(log 0.6 %, 0.5)`` and ``sl ~ LogNormal(log 0.25, 0.4)`` per stock, so
longs exceed shorts for most stock-weeks and ``log(LongVol / ShrtVol)`` rises with ``margin_z``.
Standardized (制度信用) margin is 85 % of longs and, for loan issues (``Mrgn`` 2), 90 % of shorts;
margin issues (``Mrgn`` 1) have negotiable shorts only; ``Mrgn`` 3 issues have no margin data.

Margin interest has two regimes, as the real endpoint. Before the application date
``DAILY_MARGIN_FROM`` (2026-09-25) the record is weekly: the balance on the last trading day of
each week with >= 3 trading days (``Date`` = that day), without ``PubDate`` or amounts. From that
date on every trading day ``Date`` has a record, published (``PubDate``) the next trading day,
with amounts ``*Val = *Vol * last unadjusted close`` (JPY; null before the stock's first trade). Daily publication (margin alert) covers stock-days with ``margin_z > 1.6``
(TSE daily publication, class ``002``; ``> 2.2`` also TSE restricted, ``003``) or a loan issue with
``short_z > 2.0`` (JSF precaution, ``001``); ``PubDate`` is the next trading day after ``AppDate``
and 2 % of records get a revision published one trading day later (same ``AppDate``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from gogooku.jquants.endpoint_fields import PUB_REASONS
from gogooku.synth.config import rng_for, rng_static
from gogooku.synth.side._common import conform, day_series, ext_days, round_lots, shares_outstanding
from gogooku.synth.state import MarketState

DAILY_MARGIN_FROM = date(2026, 9, 25)
DAILY_PUBLICATION_Z = 1.6
RESTRICTED_Z = 2.2
JSF_PRECAUTION_SHORT_Z = 2.0
REVISION_RATE = 0.02


def _balances(state: MarketState) -> dict[str, np.ndarray]:
    cfg = state.config
    n = state.ret.shape[1]
    rng = rng_static(cfg, "margin_levels")
    long_frac = np.exp(rng.normal(np.log(0.006), 0.5, n))
    sl = np.exp(rng.normal(np.log(0.25), 0.4, n))
    noise = np.stack(
        [rng_for(cfg.seed, "margin_daily", d).standard_normal((2, n)) for d in state.days]
    )
    so = shares_outstanding(state)
    lat = state.latents
    long_out = so * long_frac * np.exp(0.5 * lat.margin_z + 0.04 * noise[:, 0])
    short_out = so * long_frac * sl * np.exp(0.35 * lat.short_z + 0.10 * noise[:, 1])
    mrgn = state.universe["Mrgn"].to_numpy()
    std_short_share = np.where(mrgn == "2", 0.9, 0.0)
    long_std = round_lots(long_out * 0.85)
    long_neg = round_lots(long_out) - long_std
    short_std = round_lots(short_out * std_short_share)
    short_neg = round_lots(short_out) - short_std
    return {
        "LongStd": long_std,
        "LongNeg": long_neg,
        "ShrtStd": short_std,
        "ShrtNeg": short_neg,
        "so": so,
    }


def _long_frame(mask: np.ndarray, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    tt, ii = np.nonzero(mask)
    return tt, ii, *(arrays[k][tt, ii] for k in ("LongStd", "LongNeg", "ShrtStd", "ShrtNeg"))


def _last_close(state: MarketState) -> np.ndarray:
    """``(T, N)`` unadjusted close of the last trade day on or before t (NaN before any trade)."""
    close = state.close
    t_idx = np.where(np.isnan(close), 0, np.arange(close.shape[0])[:, None])
    last = np.maximum.accumulate(t_idx, axis=0)
    return close[last, np.arange(close.shape[1])[None, :]]


def render_margin_interest(state: MarketState, bal: dict[str, np.ndarray]) -> pl.DataFrame:
    """Weekly balances before ``DAILY_MARGIN_FROM``, daily balances (with ``PubDate`` and
    amounts) from it on."""
    has_margin = (state.universe["Mrgn"].to_numpy() != "3")[None, :]
    daily = np.array([d >= DAILY_MARGIN_FROM for d in state.days])
    record_day = np.where(daily, True, state.latents.margin_week_end)
    mask = record_day[:, None] & state.listed & has_margin
    tt, ii, long_std, long_neg, short_std, short_neg = _long_frame(mask, bal)
    is_daily = daily[tt]
    vols = {
        "ShrtVol": short_std + short_neg,
        "LongVol": long_std + long_neg,
        "ShrtNegVol": short_neg,
        "LongNegVol": long_neg,
        "ShrtStdVol": short_std,
        "LongStdVol": long_std,
    }
    price = np.where(is_daily, _last_close(state)[tt, ii], np.nan)
    ext = ext_days(state)
    frame = pl.DataFrame(
        {
            "PubDate": day_series(ext, tt + 1, "PubDate"),
            "Date": day_series(state.days, tt, "Date"),
            "Code": state.universe["Code"].gather(ii),
            **vols,
            **{k.replace("Vol", "Val"): np.round(v * price) for k, v in vols.items()},
            "IssType": state.universe["Mrgn"].gather(ii),
        },
        nan_to_null=True,
    ).with_columns(
        pl.when(pl.Series(is_daily)).then(pl.col("PubDate")).alias("PubDate"),
    )
    return conform(frame.sort("Date", "Code"), "markets_margin_interest")


def render_margin_alert(state: MarketState, bal: dict[str, np.ndarray]) -> pl.DataFrame:
    """Daily-published margin balances for the designated stock-days, with revisions."""
    lat = state.latents
    mrgn = state.universe["Mrgn"].to_numpy()[None, :]
    listed = state.listed & (mrgn != "3")
    daily_pub = listed & (lat.margin_z > DAILY_PUBLICATION_Z)
    restricted = listed & (lat.margin_z > RESTRICTED_Z)
    jsf = listed & (mrgn == "2") & (lat.short_z > JSF_PRECAUTION_SHORT_Z)
    designated = daily_pub | jsf
    prev_designated = np.zeros_like(designated)
    prev_designated[1:] = designated[:-1]
    tt, ii, long_std, long_neg, short_std, short_neg = _long_frame(designated, bal)
    parts = {"LongStd": long_std, "LongNeg": long_neg, "ShrtStd": short_std, "ShrtNeg": short_neg}
    prev = {}
    has_prev = prev_designated[tt, ii]
    tp = np.maximum(tt - 1, 0)
    for key in parts:
        prev[key] = np.where(has_prev, bal[key][tp, ii], np.nan)
    so = bal["so"][tt, ii]
    long_out = long_std + long_neg
    short_out = short_std + short_neg
    prev_long = prev["LongStd"] + prev["LongNeg"]
    prev_short = prev["ShrtStd"] + prev["ShrtNeg"]
    ext = ext_days(state)
    reasons = {
        "Restricted": restricted[tt, ii],
        "DailyPublication": daily_pub[tt, ii],
        "Monitoring": np.zeros(tt.size, dtype=bool),
        "RestrictedByJSF": np.zeros(tt.size, dtype=bool),
        "PrecautionByJSF": jsf[tt, ii],
        "UnclearOrSecOnAlert": np.zeros(tt.size, dtype=bool),
    }
    reg_class = np.where(
        reasons["Restricted"], "003", np.where(reasons["DailyPublication"], "002", "001")
    )
    frame = pl.DataFrame(
        {
            "PubDate": day_series(ext, tt + 1, "PubDate"),
            "Code": state.universe["Code"].gather(ii),
            "AppDate": day_series(state.days, tt, "AppDate"),
            "PubReason": pl.DataFrame({k: reasons[k] for k in PUB_REASONS}).to_struct(),
            "ShrtOut": short_out,
            "ShrtOutChg": short_out - prev_short,
            "ShrtOutRatio": np.round(short_out / so * 100.0, 2),
            "LongOut": long_out,
            "LongOutChg": long_out - prev_long,
            "LongOutRatio": np.round(long_out / so * 100.0, 2),
            "SLRatio": np.round(np.where(long_out > 0, short_out / long_out * 100.0, np.nan), 1),
            "ShrtNegOut": short_neg,
            "ShrtNegOutChg": short_neg - prev["ShrtNeg"],
            "ShrtStdOut": short_std,
            "ShrtStdOutChg": short_std - prev["ShrtStd"],
            "LongNegOut": long_neg,
            "LongNegOutChg": long_neg - prev["LongNeg"],
            "LongStdOut": long_std,
            "LongStdOutChg": long_std - prev["LongStd"],
            "TSEMrgnRegCls": reg_class,
        },
        nan_to_null=True,
    )
    frame = frame.with_columns(pl.Series("t_idx", tt))
    revised = _revisions(state, frame, ext)
    out = pl.concat([frame, revised]).drop("t_idx").sort("PubDate", "Code", "AppDate")
    return conform(out, "markets_margin_alert")


def _revisions(state: MarketState, frame: pl.DataFrame, ext: list) -> pl.DataFrame:
    """Revised rows: same ``AppDate``, ``PubDate`` one trading day later than the original, the
    standardized long balance corrected by one lot (100 shares) and the totals recomputed."""
    n = state.ret.shape[1]
    chosen = np.stack(
        [
            rng_for(state.config.seed, "margin_alert_revision", d).random(n) < REVISION_RATE
            for d in state.days
        ]
    )
    code_index = state.universe.select("Code").with_row_index("i")
    idx = frame.select("Code").join(code_index, on="Code", how="left", maintain_order="left")["i"]
    rev = frame.filter(pl.Series(chosen[frame["t_idx"].to_numpy(), idx.to_numpy()]))
    lot = pl.lit(100.0)
    return rev.with_columns(
        day_series(ext, rev["t_idx"].to_numpy() + 2, "PubDate"),
        pl.col("LongStdOut") + lot,
        pl.col("LongOut") + lot,
        pl.col("LongStdOutChg") + lot,
        pl.col("LongOutChg") + lot,
        (pl.col("ShrtOut") / (pl.col("LongOut") + lot) * 100.0).round(1).alias("SLRatio"),
    )


def render_margin(state: MarketState) -> dict[str, pl.DataFrame]:
    """``markets_margin_interest`` and ``markets_margin_alert`` for ``state``."""
    bal = _balances(state)
    return {
        "markets_margin_interest": render_margin_interest(state, bal),
        "markets_margin_alert": render_margin_alert(state, bal),
    }
