"""Weekly trading by investor type (``equities_investor_types``), values in thousand JPY.

For each week (``StDate`` its first and ``EnDate`` its last trading day; ``PubDate`` the 4th trading
day after ``EnDate``) and each section, the section's one-sided traded value ``V`` (sum of
``Va`` of its stocks' daily bars, /1000) is split over the 13 groups: proprietary 20 %, brokerage 80 %,
brokerage shared by category weights ``CATEGORY_SHARE``. Each group's ``Tot = 2 * V * share *
(1 + 0.05 e)`` (buys plus sells) and its balance (``Bal = Buy - Sell``):

* ``FrgnBal = V * (0.02 * flow_z + 0.004 e)`` — foreigners' net buying follows ``flow_z`` of the week;
* ``IndBal = -0.6 * FrgnBal + 0.004 V e`` and ``TrstBnkBal = -0.2 * FrgnBal + 0.002 V e``;
* every other category and proprietary: ``0.1 * Tot * e`` (mean zero);

``Buy = (Tot + Bal) / 2``, ``Sell = (Tot - Bal) / 2``; ``Brk*`` sums the ten categories and
``Tot*`` = ``Prop*`` + ``Brk*``. Sections follow the segment in force: ``TSE1st``, ``TSE2nd``,
``TSEMothers``, ``TSEJASDAQ`` for weeks starting before 2022-04-04, then ``TSEPrime``,
``TSEStandard``, ``TSEGrowth``; ``TokyoNagoya`` covers every stock throughout.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.synth.config import rng_for
from gogooku.synth.latents import INVESTOR_PUBLICATION_LAG
from gogooku.synth.side._common import conform, ext_days, traded_value
from gogooku.synth.state import MarketState
from gogooku.synth.universe import REFORM_DAY

CATEGORY_SHARE = {
    "Ind": 0.25,
    "Frgn": 0.62,
    "SecCo": 0.01,
    "InvTr": 0.03,
    "BusCo": 0.02,
    "OthCo": 0.005,
    "InsCo": 0.004,
    "Bank": 0.003,
    "TrstBnk": 0.03,
    "OthFin": 0.003,
}
PROP_SHARE = 0.2
OLD_SECTIONS = {
    "0101": "TSE1st",
    "0102": "TSE2nd",
    "0104": "TSEMothers",
    "0106": "TSEJASDAQ",
    "0107": "TSEJASDAQ",
}
NEW_SECTIONS = {"0111": "TSEPrime", "0112": "TSEStandard", "0113": "TSEGrowth"}


def _weeks(state: MarketState) -> tuple[np.ndarray, np.ndarray]:
    """Index of each week's first and last trading day (weeks ending within the market)."""
    ends = np.nonzero(state.latents.week_end)[0]
    starts = np.concatenate([[0], ends[:-1] + 1])
    return starts, ends


def _section_members(state: MarketState, new_era: bool) -> dict[str, np.ndarray]:
    uni = state.universe
    if new_era:
        codes, names = uni["Mkt"].to_numpy(), NEW_SECTIONS
    else:
        codes, names = uni["MktOld"].to_numpy(), OLD_SECTIONS
    merged: dict[str, np.ndarray] = {}
    for code, name in names.items():
        merged[name] = merged.get(name, np.zeros(uni.height, dtype=bool)) | (codes == code)
    merged["TokyoNagoya"] = np.ones(uni.height, dtype=bool)
    return merged


def render_investor_types(state: MarketState) -> dict[str, pl.DataFrame]:
    """``equities_investor_types`` for every complete week of ``state``."""
    starts, ends = _weeks(state)
    value = traded_value(state) / 1000.0
    cum = np.vstack([np.zeros((1, value.shape[1])), np.cumsum(value, axis=0)])
    week_value = cum[ends + 1] - cum[starts]
    ext = ext_days(state)
    rows: list[dict[str, object]] = []
    for w, (s, e) in enumerate(zip(starts, ends, strict=True)):
        new_era = state.days[s] >= REFORM_DAY
        sections = _section_members(state, new_era)
        names = sorted(sections)
        rng = rng_for(state.config.seed, "investor_types", state.days[e])
        noise = rng.standard_normal((len(names), 2, len(CATEGORY_SHARE) + 1))
        flow = state.latents.flow_z[e]
        for k, name in enumerate(names):
            v = float(week_value[w, sections[name]].sum())
            if v <= 0.0:
                continue
            row: dict[str, object] = {
                "PubDate": ext[e + INVESTOR_PUBLICATION_LAG],
                "StDate": state.days[s],
                "EnDate": state.days[e],
                "Section": name,
            }
            row.update(_section_values(v, flow, noise[k]))
            rows.append(row)
    frame = pl.DataFrame(rows) if rows else pl.DataFrame()
    if rows:
        frame = frame.sort("PubDate", "Section")
    return {"equities_investor_types": conform(frame, "equities_investor_types")}


def _section_values(v: float, flow: float, noise: np.ndarray) -> dict[str, float]:
    """The 52 value fields of one section-week (thousand JPY, rounded)."""
    cats = list(CATEGORY_SHARE)
    tot = {
        c: 2.0 * v * (1 - PROP_SHARE) * CATEGORY_SHARE[c] * (1 + 0.05 * noise[0, j])
        for j, c in enumerate(cats)
    }
    tot["Prop"] = 2.0 * v * PROP_SHARE * (1 + 0.05 * noise[0, -1])
    bal = {c: 0.1 * tot[c] * noise[1, j] for j, c in enumerate(cats)}
    bal["Prop"] = 0.1 * tot["Prop"] * noise[1, -1]
    frgn = v * (0.02 * flow + 0.004 * noise[1, cats.index("Frgn")])
    bal["Frgn"] = frgn
    bal["Ind"] = -0.6 * frgn + 0.004 * v * noise[1, cats.index("Ind")]
    bal["TrstBnk"] = -0.2 * frgn + 0.002 * v * noise[1, cats.index("TrstBnk")]
    out: dict[str, float] = {}
    sell = {g: round((tot[g] - bal[g]) / 2.0) for g in tot}
    buy = {g: round((tot[g] + bal[g]) / 2.0) for g in tot}
    sell["Brk"], buy["Brk"] = sum(sell[c] for c in cats), sum(buy[c] for c in cats)
    sell["Tot"], buy["Tot"] = sell["Prop"] + sell["Brk"], buy["Prop"] + buy["Brk"]
    for g in sell:
        out[f"{g}Sell"] = float(sell[g])
        out[f"{g}Buy"] = float(buy[g])
        out[f"{g}Tot"] = float(sell[g] + buy[g])
        out[f"{g}Bal"] = float(buy[g] - sell[g])
    return out
