"""Golden statistics of market version 2's effects (``gogooku.synth.nonlinear``).

Scores and conditions are recomputed from the published bars (and, for the cross-source
interactions, from the public crowding the side tables render, ``Latents.public_crowding``),
then each effect is read as a conditional mean daily RankIC with ``target_1d``:

* ``abs_return_autocorr``: median over stocks of the lag-1 autocorrelation of ``|r|``;
  ``leverage``: mean ``|d[t+1]|`` after the 20 % most negative ``d[t]`` over that after the 20 %
  most positive (``d`` the return minus the day's mean); ``excess_kurtosis``: median over stocks;
* ``reversal_by_liquidity``: reversal RankIC in the least / most liquid third (mean traded value);
* ``reversal_by_context``: reversal RankIC on days whose trailing market volatility (EWMA 0.94 of
  the squared equal-weighted market return) is in the top / bottom third;
* ``reversal_by_short``: reversal RankIC among stocks with / without a public short position;
* ``momentum_by_state``: momentum RankIC on crash-state days (market ``Σ m`` over 120 days < 0
  and over 21 days > 0) and on the others; ``momentum_by_margin``: with margin crowding above 1
  and below 0, both on days outside the crash state;
* ``leadlag_by_size``: RankIC of the leader score (EWMA 0.5 of the mean ``d`` of the stock's
  leaders in ``market.leaders``) in the smallest / largest third of the stocks that have leaders;
* ``drift_slope``: pooled slope of the 5-day demeaned return after a statement on its surprise,
  for ``|surprise| < 1`` and ``|surprise| > 1.5`` (saturation: the second is much flatter).

``value_stats`` reads value at the monthly horizon from the published B/P, ``1 / PBR`` of
``equities_valuation`` (rendered from the market's own statements and closes when the market
was generated without side tables), on every ``VALUE_STEP``-th trading day ``t`` (non-overlapping
months): ``value_ic`` the mean RankIC of B/P with ``target_20d`` (``value_ic_t`` its t-statistic
over the months), ``value_spread`` the mean top-minus-bottom B/P quintile ``target_20d``,
``value_momentum_corr`` the correlation over the months of that spread with the momentum
quintile spread (momentum score of ``stats.price_signal_scores``) and
``value_momentum_score_corr`` the mean rank correlation of B/P with the momentum score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from gogooku.synth.nonlinear import BEAR_WINDOW, CONTEXT_DECAY, LEAD_DECAY, REBOUND_WINDOW
from gogooku.synth.side.statements import render_statements
from gogooku.synth.side.valuation import render_valuation
from gogooku.synth.stats import daily_rank_ic, daily_returns, labels, price_signal_scores

if TYPE_CHECKING:
    from gogooku.synth.market import SyntheticMarket

VALUE_STEP = 20


def _cells(market: SyntheticMarket, values: dict[str, np.ndarray]) -> pl.DataFrame:
    """``Date, Code`` and ``(T, N)`` arrays over the listed cells."""
    state = market.state
    tt, ii = np.nonzero(state.listed)
    return pl.DataFrame(
        {
            "Date": pl.Series(state.days, dtype=pl.Date).gather(tt),
            "Code": state.universe["Code"].gather(ii),
            **{k: v[tt, ii] for k, v in values.items()},
        }
    )


def _third(col: str) -> pl.Expr:
    """0 / 1 / 2: the bottom, middle or top third of ``col``'s ranks."""
    return (pl.col(col).rank() * 3 / (pl.col(col).count() + 1)).floor().clip(0, 2).cast(pl.Int8)


def effect_frame(market: SyntheticMarket) -> pl.DataFrame:
    """One row per (Date, Code) with the scores, ``target_1d`` and every condition."""
    bars = market.tables["equities_bars_daily"]
    returns = daily_returns(bars)
    context = (
        returns.group_by("Date")
        .agg(pl.col("r").mean().fill_null(0.0).alias("m"))
        .sort("Date")
        .with_columns(
            (pl.col("m") ** 2).ewm_mean(alpha=1 - CONTEXT_DECAY, adjust=False).sqrt().alias("mvol"),
            (
                (pl.col("m").rolling_sum(BEAR_WINDOW) < 0)
                & (pl.col("m").rolling_sum(REBOUND_WINDOW) > 0)
            )
            .fill_null(False)
            .alias("crash"),
        )
        .with_columns(_third("mvol").alias("vol_third"))
    )
    per_stock = (
        bars.group_by("Code")
        .agg(pl.col("Va").mean().alias("va"), pl.col("MktCap").median().alias("cap"))
        .with_columns(_third("va").alias("liq_third"))
    )
    d = returns.with_columns(
        (pl.col("r") - pl.col("r").mean().over("Date")).fill_null(0.0).alias("d")
    )
    leaders = (
        market.leaders
        if market.leaders is not None
        else pl.DataFrame(schema={"Code": pl.String, "LeaderCode": pl.String})
    )
    lead = (
        leaders.join(d.select("Date", "Code", "d"), left_on="LeaderCode", right_on="Code")
        .group_by("Date", "Code")
        .agg(pl.col("d").mean().alias("lead_d"))
    )
    margin, short = market.state.latents.public_crowding()
    crowding = _cells(market, {"margin": margin, "short": short})
    led = per_stock.filter(pl.col("Code").is_in(leaders["Code"].implode())).with_columns(
        _third("cap").alias("size_third")
    )
    return (
        price_signal_scores(market)
        .join(labels(bars, (1,)), on=["Date", "Code"])
        .join(d.select("Date", "Code", "d"), on=["Date", "Code"], how="left")
        .join(lead, on=["Date", "Code"], how="left")
        .sort("Code", "Date")
        .with_columns(
            pl.col("lead_d")
            .fill_null(0.0)
            .ewm_mean(alpha=1 - LEAD_DECAY, adjust=False)
            .over("Code", order_by="Date")
            .alias("leader")
        )
        .join(context.select("Date", "crash", "vol_third"), on="Date", how="left")
        .join(per_stock.select("Code", "liq_third"), on="Code", how="left")
        .join(led.select("Code", "size_third"), on="Code", how="left")
        .join(crowding, on=["Date", "Code"], how="left")
    )


def _ic(frame: pl.DataFrame, score: str, condition: pl.Expr, min_stocks: int = 20) -> float:
    """Mean daily RankIC of ``score`` with ``target_1d`` over the rows meeting ``condition``
    (NaN when no day has ``min_stocks`` of them)."""
    ic = daily_rank_ic(frame.filter(condition), score, "target_1d", min_stocks=min_stocks)
    return float(ic.mean()) if ic.len() else float("nan")


def _drift_slopes(market: SyntheticMarket) -> dict[str, float]:
    """Pooled slope of the demeaned 5-day return from the close after a statement becomes usable
    on the statement's surprise, for small and large surprises."""
    latents = market.state.latents
    usable = np.zeros_like(latents.surprise)
    intraday = latents.disclosure_intraday
    usable[intraday] = latents.surprise[intraday]
    usable[1:] += np.where(latents.disclosure_day & ~intraday, latents.surprise, 0.0)[:-1]
    has = np.zeros_like(intraday)
    has[intraday] = True
    has[1:] |= (latents.disclosure_day & ~intraday)[:-1]
    target = labels(market.tables["equities_bars_daily"], (5,)).with_columns(
        (pl.col("target_5d") - pl.col("target_5d").mean().over("Date")).alias("y")
    )
    events = (
        _cells(market, {"s": usable, "has": has.astype(np.float64)})
        .filter(pl.col("has") > 0)
        .join(target, on=["Date", "Code"])
        .drop_nulls("y")
        .filter(pl.col("y").is_finite())
    )
    out = {}
    for name, cond in (("small", pl.col("s").abs() < 1.0), ("large", pl.col("s").abs() > 1.5)):
        part = events.filter(cond)
        s, y = part["s"].to_numpy(), part["y"].to_numpy()
        s = s - s.mean()
        out[name] = float(s @ (y - y.mean()) / (s @ s))
    return out


def return_shape(market: SyntheticMarket) -> dict[str, float]:
    ret = market.state.ret
    autocorr, kurtosis = [], []
    for i in range(ret.shape[1]):
        r = ret[:, i][np.isfinite(ret[:, i])]
        if r.size < 200:
            continue
        a = np.abs(r)
        autocorr.append(np.corrcoef(a[1:], a[:-1])[0, 1])
        z = (r - r.mean()) / r.std()
        kurtosis.append(float((z**4).mean() - 3.0))
    finite = np.isfinite(ret)
    mean = np.where(finite, ret, 0.0).sum(axis=1, keepdims=True) / np.maximum(
        finite.sum(axis=1, keepdims=True), 1
    )
    d = np.where(finite, ret - mean, np.nan)
    now, nxt = d[:-1].ravel(), np.abs(d[1:]).ravel()
    ok = np.isfinite(now) & np.isfinite(nxt)
    now, nxt = now[ok], nxt[ok]
    lo, hi = np.quantile(now, [0.2, 0.8])
    return {
        "abs_return_autocorr": float(np.median(autocorr)),
        "excess_kurtosis": float(np.median(kurtosis)),
        "leverage": float(nxt[now <= lo].mean() / nxt[now >= hi].mean()),
    }


def v2_stats(market: SyntheticMarket) -> dict[str, float]:
    """Every statistic of the module docstring, as a flat dict (``name`` or ``name:subset``)."""
    f = effect_frame(market)
    c = pl.col
    out = return_shape(market)
    out |= {
        "reversal_by_liquidity:illiquid": _ic(f, "reversal", c("liq_third") == 0),
        "reversal_by_liquidity:liquid": _ic(f, "reversal", c("liq_third") == 2),
        "reversal_by_context:high_vol": _ic(f, "reversal", c("vol_third") == 2),
        "reversal_by_context:low_vol": _ic(f, "reversal", c("vol_third") == 0),
        "reversal_by_short:crowded": _ic(f, "reversal", c("short") >= 0.005, 10),
        "reversal_by_short:other": _ic(f, "reversal", c("short") < 0.005),
        "momentum_by_state:crash": _ic(f, "momentum", c("crash")),
        "momentum_by_state:other": _ic(f, "momentum", ~c("crash")),
        "momentum_by_margin:crowded": _ic(f, "momentum", ~c("crash") & (c("margin") > 1.0), 10),
        "momentum_by_margin:other": _ic(f, "momentum", ~c("crash") & (c("margin") < 0.0)),
        "leadlag_by_size:small": _ic(f, "leader", c("size_third") == 0),
        "leadlag_by_size:large": _ic(f, "leader", c("size_third") == 2),
    }
    out |= {f"drift_slope:{k}": v for k, v in _drift_slopes(market).items()}
    return out


def published_book_to_price(market: SyntheticMarket) -> pl.DataFrame:
    """``Date, Code, bp``: ``1 / PBR`` of ``equities_valuation`` where PBR is positive."""
    valuation = market.tables.get("equities_valuation")
    if valuation is None:
        statements = render_statements(market.state)["fins_summary"]
        valuation = render_valuation(market.state, statements)["equities_valuation"]
    return valuation.filter(pl.col("PBR") > 0).select(
        "Date", "Code", (1.0 / pl.col("PBR")).alias("bp")
    )


def _quintile_spread(score: str) -> pl.Expr:
    """Mean ``target_20d`` of the top minus the bottom quintile of ``score`` (within a day)."""
    q = (pl.col(score).rank() * 5 / (pl.col(score).count() + 1)).floor()
    y = pl.col("target_20d")
    return y.filter(q >= 4).mean() - y.filter(q <= 0).mean()


def value_stats(market: SyntheticMarket) -> dict[str, float]:
    """The value statistics of the module docstring (monthly, non-overlapping)."""
    bars = market.tables["equities_bars_daily"]
    months = bars["Date"].unique().sort().gather_every(VALUE_STEP)
    frame = (
        published_book_to_price(market)
        .filter(pl.col("Date").is_in(months.implode()))
        .join(labels(bars, (VALUE_STEP,)), on=["Date", "Code"])
        .join(price_signal_scores(market).select("Date", "Code", "momentum"), on=["Date", "Code"])
        .drop_nulls(["bp", "target_20d"])
        .filter(pl.col("target_20d").is_finite())
    )
    ic = daily_rank_ic(frame, "bp", "target_20d")
    spreads = (
        frame.drop_nulls("momentum")
        .group_by("Date")
        .agg(
            _quintile_spread("bp").alias("value"),
            _quintile_spread("momentum").alias("momentum"),
            pl.corr(pl.col("bp").rank(), pl.col("momentum").rank()).alias("score_corr"),
            pl.len().alias("n"),
        )
        .filter(pl.col("n") >= 20)
    )
    value = frame.group_by("Date").agg(_quintile_spread("bp").alias("value"), pl.len().alias("n"))
    return {
        "value_ic": float(ic.mean()),
        "value_ic_t": float(ic.mean() / ic.std() * np.sqrt(ic.len())),
        "value_spread": float(value.filter(pl.col("n") >= 20)["value"].mean()),
        "value_momentum_corr": float(np.corrcoef(spreads["value"], spreads["momentum"])[0, 1]),
        "value_momentum_score_corr": float(spreads["score_corr"].mean()),
    }
