"""Golden statistics of a generated market, recomputed from its published tables.

Everything here reads ``market.tables`` (what a user sees) plus, for the planted peer signal,
the hidden graph ``market.peers``; nothing reads the simulator's internal arrays, so the numbers
are an independent check of the simulation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from gogooku.synth.signals import MOM_END, MOM_SKIP, PEER, PRICE_SIGNALS, REVERSAL
from gogooku.synth.universe import HALT_DAY

if TYPE_CHECKING:
    from gogooku.synth.market import SyntheticMarket

HORIZONS = (1, 5, 10, 20)


def labels(bars: pl.DataFrame, horizons: tuple[int, ...] = HORIZONS) -> pl.DataFrame:
    """``target_{h}d = AdjC[t+1+h] / AdjC[t+1] − 1`` over each stock's own rows (Date, Code).

    Null where the future row is beyond the data or either close is missing (no trade).
    """
    entry = pl.col("AdjC").shift(-1).over("Code", order_by="Date")
    return (
        bars.select("Date", "Code", "AdjC")
        .with_columns(
            (pl.col("AdjC").shift(-1 - h).over("Code", order_by="Date") / entry - 1.0).alias(
                f"target_{h}d"
            )
            for h in horizons
        )
        .drop("AdjC")
    )


def daily_rank_ic(frame: pl.DataFrame, pred: str, target: str, min_stocks: int = 20) -> pl.Series:
    """Spearman correlation of ``pred`` and ``target`` per Date (days with ≥ ``min_stocks``)."""
    return (
        frame.drop_nulls([pred, target])
        .filter(pl.col(pred).is_not_nan() & pl.col(target).is_not_nan())
        .group_by("Date")
        .agg(
            pl.corr(pl.col(pred).rank(), pl.col(target).rank()).alias("ic"),
            pl.len().alias("n"),
        )
        .filter(pl.col("n") >= min_stocks)
        .sort("Date")["ic"]
        .drop_nans()
    )


def daily_returns(bars: pl.DataFrame) -> pl.DataFrame:
    """Close-to-close adjusted price return per (Date, Code) between consecutive rows."""
    return bars.select(
        "Date",
        "Code",
        (pl.col("AdjC") / pl.col("AdjC").shift(1).over("Code", order_by="Date") - 1.0).alias("r"),
    )


def price_signal_scores(market: SyntheticMarket) -> pl.DataFrame:
    """The planted price signals recomputed from the bars (signed so higher = higher return).

    ``d`` = a stock's daily return minus that day's cross-sectional mean (0 when missing);
    reversal ``-EWMA_λ(d)``, momentum ``Σ d`` over rows t-120..t-21, peer ``EWMA_λ(mean of the
    peers' d)`` along ``market.peers`` (see ``signals``).
    """
    d = (
        daily_returns(market.tables["equities_bars_daily"])
        .with_columns((pl.col("r") - pl.col("r").mean().over("Date")).fill_null(0.0).alias("d"))
        .sort("Code", "Date")
    )
    alpha_rev = 1.0 - REVERSAL.decay
    alpha_peer = 1.0 - PEER.decay
    peer_mean = (
        market.peers.join(d.select("Date", "Code", "d"), left_on="PeerCode", right_on="Code")
        .group_by("Date", "Code")
        .agg(pl.col("d").mean().alias("peer_d"))
    )
    scores = (
        d.join(peer_mean, on=["Date", "Code"], how="left")
        .sort("Code", "Date")
        .with_columns(
            (
                -pl.col("d").ewm_mean(alpha=alpha_rev, adjust=False).over("Code", order_by="Date")
            ).alias("reversal"),
            (pl.col("d").shift(MOM_SKIP).rolling_sum(MOM_END - MOM_SKIP))
            .over("Code", order_by="Date")
            .alias("momentum"),
            pl.col("peer_d")
            .fill_null(0.0)
            .ewm_mean(alpha=alpha_peer, adjust=False)
            .over("Code", order_by="Date")
            .alias("peer"),
        )
        .with_columns(
            pl.when(pl.col("Code").is_in(market.peers["Code"].implode()))
            .then(pl.col("peer"))
            .alias("peer")
        )
    )
    return scores.select("Date", "Code", *(s.name for s in PRICE_SIGNALS))


def peer_correlation(market: SyntheticMarket) -> dict[str, float]:
    """Mean correlation of demeaned daily returns for peer pairs, same-sector non-peers, others.

    Returns are demeaned by the day's cross-sectional mean (missing = 0); pairs are taken over
    all stocks of the universe (intended for small test markets: the matrix is ``N × N``).
    """
    d = (
        daily_returns(market.tables["equities_bars_daily"])
        .with_columns((pl.col("r") - pl.col("r").mean().over("Date")).fill_null(0.0).alias("d"))
        .pivot(on="Code", index="Date", values="d")
        .fill_null(0.0)
        .sort("Date")
    )
    universe = market.state.universe.filter(pl.col("Code").is_in(d.columns))
    codes = universe["Code"].to_list()
    corr = np.corrcoef(d.select(codes).to_numpy(), rowvar=False)
    sector = universe["S33"].to_numpy()
    same = sector[:, None] == sector[None, :]
    index = {c: k for k, c in enumerate(codes)}
    pairs = market.peers.filter(pl.col("Code").is_in(codes) & pl.col("PeerCode").is_in(codes))
    peer = np.zeros_like(same)
    peer[[index[c] for c in pairs["Code"]], [index[c] for c in pairs["PeerCode"]]] = True
    off = ~np.eye(len(codes), dtype=bool)
    return {
        "peer": float(corr[peer].mean()),
        "same_sector_non_peer": float(corr[same & ~peer & off].mean()),
        "other_sector": float(corr[~same].mean()),
    }


def planted_ic(market: SyntheticMarket) -> dict[str, float]:
    """Planted strength of each price signal averaged over the realised regimes.

    ``s̄ = s · (1 − h) + s_high · h`` with ``h`` the share of days in the high-volatility regime.
    """
    share = float(np.mean(market.state.high_vol_regime))
    return {s.name: s.strength * (1 - share) + s.strength_high * share for s in PRICE_SIGNALS}


def measured_signal_ic(market: SyntheticMarket) -> dict[str, tuple[float, float]]:
    """Mean daily RankIC of each recomputed price signal with ``target_1d`` and its std error."""
    frame = price_signal_scores(market).join(
        labels(market.tables["equities_bars_daily"], (1,)), on=["Date", "Code"]
    )
    out = {}
    for spec in PRICE_SIGNALS:
        ic = daily_rank_ic(frame, spec.name, "target_1d")
        out[spec.name] = (float(ic.mean()), float(ic.std() / np.sqrt(ic.len())))
    return out


def signal_regression(market: SyntheticMarket) -> dict[str, dict[str, tuple[float, float]]]:
    """Fama–MacBeth slopes of the standardised ``target_1d`` rank on the standardised scores.

    Per day: ``rank_z(target_1d) = a + Σ_k b_k · z_k + e`` over stocks with every score. Returns,
    for ``"all"`` days and for the ``"normal"`` and ``"high"`` volatility-regime days, the mean
    of each ``b_k`` and its standard error. The joint regression separates signals that are
    correlated (a stock's own returns and its peers' co-move), so ``b_k`` estimates the planted
    strength ``s_k`` (times ≈0.95, the rank-versus-Pearson ratio).
    """
    names = [s.name for s in PRICE_SIGNALS]
    zs = lambda c: (c - c.mean()) / c.std()  # noqa: E731
    frame = (
        price_signal_scores(market)
        .join(labels(market.tables["equities_bars_daily"], (1,)), on=["Date", "Code"])
        .drop_nulls()
        .filter(pl.all_horizontal(pl.col(*names, "target_1d").is_finite()))
        .with_columns(zs(pl.col(*names)).over("Date"), zs(pl.col("target_1d").rank()).over("Date"))
        .drop_nans()
        .sort("Date", "Code")
    )
    high_days = {
        d for d, h in zip(market.state.days, market.state.high_vol_regime, strict=True) if h
    }
    slopes, high = [], []
    for (day,), rows in frame.group_by("Date", maintain_order=True):
        if rows.height < 3 * len(names):
            continue
        x = np.column_stack([np.ones(rows.height), rows.select(names).to_numpy()])
        beta, *_ = np.linalg.lstsq(x, rows["target_1d"].to_numpy(), rcond=None)
        slopes.append(beta[1:])
        high.append(day in high_days)
    b, flag = np.array(slopes), np.array(high)
    out = {}
    for key, keep in (("all", np.ones_like(flag)), ("normal", ~flag), ("high", flag)):
        part = b[keep]
        se = part.std(axis=0, ddof=1) / np.sqrt(len(part))
        out[key] = {n: (float(part[:, k].mean()), float(se[k])) for k, n in enumerate(names)}
    return out


def oracle_rank_ic(market: SyntheticMarket, horizon: int = 5) -> float:
    """Mean daily RankIC of ``exp_target_{h}d`` with the realised ``target_{h}d``."""
    frame = market.oracle.join(
        labels(market.tables["equities_bars_daily"], (horizon,)), on=["Date", "Code"]
    )
    return float(daily_rank_ic(frame, f"exp_target_{horizon}d", f"target_{horizon}d").mean())


def _all_null(rows: pl.DataFrame) -> bool:
    fields = ("O", "H", "L", "C", "Vo", "Va", "AdjC")
    return rows.height > 0 and all(rows[f].null_count() == rows.height for f in fields)


def market_stats(market: SyntheticMarket) -> dict[str, float | int | bool | None]:
    """Golden statistics (documented ranges in ``docs/synthetic_market.md``)."""
    bars = market.tables["equities_bars_daily"]
    rets = daily_returns(bars)
    dispersion = rets.group_by("Date").agg(pl.col("r").std()).drop_nulls()["r"].mean()
    topix = market.tables["indices_topix"].sort("Date")
    tr = (topix["C"] / topix["C"].shift(1) - 1.0).drop_nulls().to_numpy()
    traded = bars.filter(pl.col("C").is_not_null())
    halt = bars.filter(pl.col("Date") == HALT_DAY)
    universe = market.state.universe
    start = market.config.start
    first_day = market.state.days[0]
    return {
        "stocks_listed_first_day": int(market.state.listed[0].sum()),
        "stock_days": bars.height,
        "dispersion": float(dispersion),
        "market_lag1_autocorr": float(np.corrcoef(tr[1:], tr[:-1])[0, 1]),
        "market_vol_annual": float(tr.std() * np.sqrt(245)),
        "high_vol_share": float(np.mean(market.state.high_vol_regime)),
        "oracle_rank_ic_5d": oracle_rank_ic(market, 5),
        "limit_hit_share": float((traded["UL"] | traded["LL"]).mean()),
        "splits": int((bars["AdjFactor"] != 1.0).sum()),
        "dividend_ex_dates": int((market.state.dividend > 0).sum()),
        "ipos": int(
            universe.filter(pl.col("list_date") > first_day)
            .filter(pl.col("list_date") <= market.config.end)
            .height
        ),
        "delistings": int(universe["delist_date"].is_not_null().sum()),
        "no_trade_rows": int(bars["C"].null_count()),
        "halt_all_null": _all_null(halt) if start <= HALT_DAY <= market.config.end else None,
        "price_min": float(traded["C"].min()),
        "price_median": float(traded["C"].median()),
        "price_max": float(traded["C"].max()),
        "turnover_median_jpy": float(traded["Va"].median()),
    }
