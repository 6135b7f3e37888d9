"""Investor flows block (``flows``): weekly trading by investor type (``equities_investor_types``).

One record per (``Section``, week): buys, sells, totals (buys + sells) and balances (buys − sells)
in thousand JPY per investor group. Published on ``PubDate`` (Thursday of the following week),
usable from the next trading day (rule ``next_trading_day`` on ``PubDate``). When a week is
published twice, the first publication is the record (it was known at its time).

Per record, for a group g with balance Bal_g and total Tot_g (its buys + sells):

    net ratio_g = Bal_g / Tot_g                  (net over the group's own traded value, in [−1, 1])
    share_g     = Tot_g / TotTot                 (the group's share of the section's traded value)
    smart       = nr_Frgn + nr_TrstBnk − nr_Ind  (nr = net ratio)
    z52(x)      = (x_k − mean_52(x)) / std_52(x) over the section's last 52 weekly records
    flow_smart_idx  = z52(smart),  flow_smart_mom4 = smart_idx_k − mean_4(smart_idx)

Groups: foreigners ``Frgn``, individuals ``Ind``, trust banks ``TrstBnk``, investment trusts
``InvTr``. Record statistics run over each section's own records (sorted by week) and are attached
to stocks by the section of their market segment as of the row date (``Mkt`` of the master in
force): 0101 → TSE1st, 0102 → TSE2nd, 0104 → TSEMothers, 0106/0107 → TSEJASDAQ, 0111 → TSEPrime,
0112 → TSEStandard, 0113 → TSEGrowth; other segments get nulls. The market-wide values
(``flow_mkt_*``) come from the ``TokyoNagoya`` section and are the same for every stock.
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.availability import AVAILABLE_FROM, with_available_from
from gogooku.features.base import Block, BlockContext, Feature
from gogooku.features.margin import record_z, trading_days_between

SOURCE = "equities_investor_types"
Z_RECORDS = 52
MOM_RECORDS = 4
MARKET_SECTION = "TokyoNagoya"

SECTION_OF_MARKET = {
    "0101": "TSE1st",
    "0102": "TSE2nd",
    "0104": "TSEMothers",
    "0106": "TSEJASDAQ",
    "0107": "TSEJASDAQ",
    "0111": "TSEPrime",
    "0112": "TSEStandard",
    "0113": "TSEGrowth",
}

GROUPS = {
    "foreign": ("Frgn", "foreigners"),
    "individual": ("Ind", "individuals"),
    "trust_bank": ("TrstBnk", "trust banks"),
    "investment_trust": ("InvTr", "investment trusts"),
}

_SECTION_FEATURES: tuple[Feature, ...] = (
    *(
        Feature(
            f"flow_{g}_net_ratio",
            f"Net buying of {label} over their traded value in the stock's section (weekly)",
            f"{p}Bal / {p}Tot",
            None,
        )
        for g, (p, label) in GROUPS.items()
    ),
    *(
        Feature(
            f"flow_{g}_net_z52",
            f"52-week z-score of the {label} net ratio in the stock's section",
            f"z52({p}Bal / {p}Tot) over the section's records",
            None,
        )
        for g, (p, label) in GROUPS.items()
    ),
    Feature(
        "flow_foreign_share",
        "Foreigners' share of the section's traded value",
        "FrgnTot / TotTot",
        None,
    ),
    Feature(
        "flow_individual_share",
        "Individuals' share of the section's traded value",
        "IndTot / TotTot",
        None,
    ),
    Feature(
        "flow_activity_z52",
        "52-week z-score of the section's total traded value",
        "z52(TotTot) over the section's records",
        None,
    ),
    Feature(
        "flow_smart_idx",
        "Smart-money index of the section, standardised",
        "z52(nr_Frgn + nr_TrstBnk - nr_Ind)",
        None,
    ),
    Feature(
        "flow_smart_mom4",
        "Smart-money index minus its mean over the last 4 records",
        "smart_idx_k - mean_4(smart_idx)",
        None,
    ),
    Feature(
        "flow_days_since",
        "Trading days since the section's latest record became usable",
        "trading days from available_from to Date",
        None,
        "Int32",
    ),
)

_MARKET_FEATURES: tuple[Feature, ...] = (
    Feature(
        "flow_mkt_foreign_net_ratio",
        "Market-wide (TokyoNagoya) net buying of foreigners over their traded value",
        "FrgnBal / FrgnTot of TokyoNagoya",
        None,
    ),
    Feature(
        "flow_mkt_foreign_net_z52",
        "52-week z-score of the market-wide foreign net ratio",
        "z52(FrgnBal / FrgnTot) of TokyoNagoya",
        None,
    ),
    Feature(
        "flow_mkt_smart_idx",
        "Market-wide (TokyoNagoya) smart-money index, standardised",
        "z52(nr_Frgn + nr_TrstBnk - nr_Ind) of TokyoNagoya",
        None,
    ),
)

FEATURES: tuple[Feature, ...] = _SECTION_FEATURES + _MARKET_FEATURES

LOOKBACK = ops.lookback(FEATURES)

_SECTION = "Section"


def section_records(ctx: BlockContext) -> pl.LazyFrame:
    """Per-section weekly records with their statistics and ``available_from``."""
    ratio = {g: ops.ratio(pl.col(f"{p}Bal"), pl.col(f"{p}Tot")) for g, (p, _) in GROUPS.items()}
    smart = ratio["foreign"] + ratio["trust_bank"] - ratio["individual"]
    records = (
        ctx.store.scan(SOURCE)
        .sort(_SECTION, "StDate", "PubDate")
        .unique(subset=[_SECTION, "StDate"], keep="first", maintain_order=True)
        .with_columns(
            *(r.alias(f"flow_{g}_net_ratio") for g, r in ratio.items()),
            *(
                record_z(r, Z_RECORDS, _SECTION).alias(f"flow_{g}_net_z52")
                for g, r in ratio.items()
            ),
            ops.ratio(pl.col("FrgnTot"), pl.col("TotTot")).alias("flow_foreign_share"),
            ops.ratio(pl.col("IndTot"), pl.col("TotTot")).alias("flow_individual_share"),
            record_z(pl.col("TotTot"), Z_RECORDS, _SECTION).alias("flow_activity_z52"),
            record_z(smart, Z_RECORDS, _SECTION).alias("flow_smart_idx"),
        )
        .with_columns(
            (
                pl.col("flow_smart_idx")
                - pl.col("flow_smart_idx")
                .rolling_mean(MOM_RECORDS, min_samples=MOM_RECORDS)
                .over(_SECTION)
            ).alias("flow_smart_mom4")
        )
    )
    return with_available_from(records, SOURCE, ctx.calendar)


_SECTION_COLUMNS = [f.name for f in _SECTION_FEATURES if f.name != "flow_days_since"]


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Section flows broadcast by the stock's segment as of the row date, plus market flows."""
    # Read by two as-of joins, each its own query: computed once.
    records = section_records(ctx).collect().lazy()
    rows = ctx.base.select(
        ops.CODE,
        ops.DATE,
        pl.col("Mkt").replace_strict(SECTION_OF_MARKET, default=None).alias(_SECTION),
    )
    joined = ctx.asof_join(
        rows,
        records,
        source_name=SOURCE,
        by=_SECTION,
        columns=_SECTION_COLUMNS,
        keep_availability=AVAILABLE_FROM,
    )
    market = records.filter(pl.col(_SECTION) == MARKET_SECTION).select(
        AVAILABLE_FROM,
        pl.col("flow_foreign_net_ratio").alias("flow_mkt_foreign_net_ratio"),
        pl.col("flow_foreign_net_z52").alias("flow_mkt_foreign_net_z52"),
        pl.col("flow_smart_idx").alias("flow_mkt_smart_idx"),
    )
    joined = ctx.asof_join(joined, market, source_name=f"{SOURCE} ({MARKET_SECTION})")
    out = joined.with_columns(
        trading_days_between(ctx.calendar, pl.col(AVAILABLE_FROM), pl.col(ops.DATE)).alias(
            "flow_days_since"
        )
    )
    return ops.finalize(out, FEATURES)


BLOCK = Block(
    name="flows",
    sources=(SOURCE, "equities_master"),
    availability="next_trading_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
    jpx_only="TSE investor-type flows by TSE market section",
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
