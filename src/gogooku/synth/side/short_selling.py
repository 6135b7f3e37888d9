"""Short selling: daily sector short ratios (``markets_short_ratio``) and large short-position
reports (``markets_short_sale_report``).

Sector short ratio on day t for 33-sector ``s`` with traded value ``V`` (JPY, sum of the members' ``Va``):
``r = clip(0.40 + 0.03 * mean_{i in s} short_z[t,i] + 0.01 e, 0.2, 0.6)``;
``SellExShortVa = V (1 - r)``, ``ShrtWithResVa = 0.3 V r`` (uptick rule applies),
``ShrtNoResVa = 0.7 V r``. Days without trades in a sector (2020-10-01) have no row.

Large short positions come from ``Latents.short_reports`` (see ``latents._simulate_short_reports``):
``CalcDate`` the position day, ``DiscDate`` 2 trading days later, ``ShrtPosToSO`` a decimal ratio,
``ShrtPosShares = ratio x shares outstanding`` (rounded to 100-share units),
``PrevRptDate``/``PrevRptRatio`` the same seller's previous report on the stock.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.synth.config import rng_for, rng_static
from gogooku.synth.latents import SHORT_DISCLOSURE_LAG, SHORT_REPORT_THRESHOLD, SHORT_SLOTS
from gogooku.synth.side._common import (
    conform,
    day_series,
    ext_days,
    round_lots,
    shares_outstanding,
    traded_value,
)
from gogooku.synth.state import MarketState

SHORT_SELLERS = (
    ("Aurora Capital Partners LP", "Cayman Islands", "Aurora Asset Management Ltd", "London"),
    ("Kestrel Global Master Fund", "Cayman Islands", "Kestrel Advisors LLC", "New York"),
    ("Meridian Absolute Return Fund", "Luxembourg", "Meridian Investment SA", "Luxembourg"),
    ("Hokuto Securities Co., Ltd.", "東京都千代田区", "", ""),
    ("Granite Peak Opportunities Fund", "Delaware", "Granite Peak Capital LP", "Greenwich"),
    ("Sakura Alpha Investment LPS", "東京都港区", "Sakura Alpha Partners K.K.", "東京都港区"),
    ("Northbridge Equity Long/Short", "Ireland", "Northbridge Capital Ltd", "Dublin"),
    ("個人", "", "", ""),
    ("Tidewater Quant Strategies Ltd", "Bermuda", "Tidewater Partners LLP", "London"),
    ("Blue Heron Master Fund Ltd", "Cayman Islands", "Blue Heron Capital LP", "Boston"),
)


def render_short_ratio(state: MarketState) -> pl.DataFrame:
    """Daily short-sale value by 33-sector."""
    value = traded_value(state)
    sectors = state.universe["S33"].to_numpy()
    codes = np.unique(sectors)
    member = sectors[None, :] == codes[:, None]
    sector_value = value @ member.T.astype(float)
    z = np.where(state.listed, state.latents.short_z, 0.0)
    count = np.maximum(state.listed.astype(float) @ member.T.astype(float), 1.0)
    sector_z = (z @ member.T.astype(float)) / count
    eps = np.stack(
        [
            rng_for(state.config.seed, "short_ratio", d).standard_normal(codes.size)
            for d in state.days
        ]
    )
    ratio = np.clip(0.40 + 0.03 * sector_z + 0.01 * eps, 0.2, 0.6)
    tt, ss = np.nonzero(sector_value > 0)
    v = sector_value[tt, ss]
    r = ratio[tt, ss]
    frame = pl.DataFrame(
        {
            "Date": day_series(state.days, tt, "Date"),
            "S33": codes[ss],
            "SellExShortVa": np.round(v * (1 - r)),
            "ShrtWithResVa": np.round(0.3 * v * r),
            "ShrtNoResVa": np.round(0.7 * v * r),
        }
    )
    return conform(frame.sort("Date", "S33"), "markets_short_ratio")


def render_short_sale_report(state: MarketState) -> pl.DataFrame:
    """Reports of short positions >= 0.5 % of shares outstanding (and the closing reports)."""
    reports = state.latents.short_reports
    n = state.universe.height
    draws = rng_static(state.config, "short_sellers").random((n, len(SHORT_SELLERS)))
    seller = np.argsort(draws, axis=1)[:, :SHORT_SLOTS]  # distinct sellers per stock
    calc = reports["calc_idx"].to_numpy()
    code = reports["code_idx"].to_numpy()
    who = seller[code, reports["slot"].to_numpy()]
    ratio = np.round(reports["ratio"].to_numpy(), 4)
    so = shares_outstanding(state)[calc, code]
    pos_shares = round_lots(ratio * so)
    ext = ext_days(state)
    prev_idx = reports["prev_calc_idx"]
    names = pl.DataFrame(
        {
            "SSName": [s[0] for s in SHORT_SELLERS],
            "SSAddr": [s[1] for s in SHORT_SELLERS],
            "DICName": [s[2] for s in SHORT_SELLERS],
            "DICAddr": [s[3] for s in SHORT_SELLERS],
        }
    )
    frame = pl.DataFrame(
        {
            "DiscDate": day_series(ext, calc + SHORT_DISCLOSURE_LAG, "DiscDate"),
            "CalcDate": day_series(state.days, calc, "CalcDate"),
            "Code": state.universe["Code"].gather(code),
            "who": who,
            "ShrtPosToSO": ratio,
            "ShrtPosShares": pos_shares,
            "ShrtPosUnits": pos_shares / 100.0,
            "PrevRptDate": day_series(state.days, prev_idx.fill_null(0).to_numpy(), "PrevRptDate"),
            "PrevRptRatio": np.round(reports["prev_ratio"].to_numpy(), 4),
        },
        nan_to_null=True,
    ).with_columns(
        pl.when(prev_idx.is_not_null()).then(pl.col("PrevRptDate")).alias("PrevRptDate"),
        pl.when(pl.col("ShrtPosToSO") < SHORT_REPORT_THRESHOLD)
        .then(pl.lit("Position fell below 0.5%"))
        .alias("Notes"),
    )
    frame = frame.join(
        names.with_row_index("who").cast({"who": pl.Int64}), on="who", how="left"
    ).with_columns(
        pl.when(pl.col("DICName") != "").then(pl.col("SSName")).alias("FundName"),
        pl.when(pl.col("DICName") != "").then(pl.col("DICName")).alias("DICName"),
        pl.when(pl.col("DICAddr") != "").then(pl.col("DICAddr")).alias("DICAddr"),
        pl.when(pl.col("SSAddr") != "").then(pl.col("SSAddr")).alias("SSAddr"),
    )
    return conform(
        frame.drop("who").sort("DiscDate", "Code", "SSName"), "markets_short_sale_report"
    )


def render_short_selling(state: MarketState) -> dict[str, pl.DataFrame]:
    """``markets_short_ratio`` and ``markets_short_sale_report`` for ``state``."""
    return {
        "markets_short_ratio": render_short_ratio(state),
        "markets_short_sale_report": render_short_sale_report(state),
    }
