"""Quarterly earnings summaries (``fins_summary``) whose figures carry the latent surprise.

Per stock (``rng_static``): market cap ``M = 3e10 exp(1.5 size_score)`` (the universe's
standardised log cap), sales ``S0 = M psr`` with ``psr ~ LogNormal(0, 0.5)``, operating margin
``m ~ U(3 %, 15 %)``, growth ``g ~ N(3 %, 3 %)``, payout ``~ U(25 %, 45 %)``, assets/sales
``~ LogNormal(0, 0.3)``, equity ratio ``~ U(0.3, 0.6)``, accounting standard (JP 85 %, IFRS 12 %,
US 3 %; IFRS/US report no ordinary profit) and consolidation (80 %; IFRS/US always).

Running forward over every fiscal quarter end from ``start`` (all stocks, disclosed or not, so
the figures never depend on ``end``), with ``s`` the quarter's surprise and ``e0..e5`` its noise
(``latents.statement_draws``), and ``FSales, FOP`` the forecasts in force::

    sales_q = FSales / 4 (1 + 0.02 s + 0.02 e0)      OP_q  = FOP / 4 (1 + 0.25 s + 0.05 e1)
    OdP_q   = 1.04 OP_q + 0.01 FOP / 4 e2            NP_q  = 0.68 OdP_q (1 + 0.03 e3)

YTD fields accumulate the quarters of the fiscal year (so ``Sales`` rises 1Q -> FY). After 1Q-3Q a
surprise with ``|s| > 1`` revises the forecasts to ``YTD + old forecast x (4 - q) / 4``. The FY
statement reports the year and next-year forecasts ``NxFSales = Sales (1 + g + 0.04 e4)``,
``NxFOP = NxFSales m (1 + 0.1 e5)``, ``NxFOdP = 1.04 NxFOP``, ``NxFNp = 0.68 NxFOdP``; those become
the forecasts of the new year. The observable surprise ``(OP_q - FOP/4) / |FOP/4|`` is about
``0.25 s``; dividends per share follow ``payout x FNP / shares``, half at 2Q and half at FY.
Cash flows (2Q and FY, year-to-date): ``CFO = NP - (-0.03 + 0.04 a) TA q / 4`` with ``a`` the
latent accrual state of the event (``latents``; it drives the planted accruals effect) and ``q``
the quarter, ``CFI = -0.5 OP``, ``CFF = -0.3 OP``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from gogooku.synth.config import SynthConfig, rng_static
from gogooku.synth.latents import NO_TIME, Latents, quarter_ends, statement_draws
from gogooku.synth.side._common import conform, share_multiplier
from gogooku.synth.state import MarketState

STANDARDS = ("JP", "IFRS", "US")
STANDARD_WEIGHTS = (0.85, 0.12, 0.03)
ODP_RATIO = 1.04
NP_RATIO = 0.68
REVISION_SURPRISE = 1.0
ACCRUAL_BASE = -0.03
ACCRUAL_SCALE = 0.04
MILLION_ROUNDED = (
    *(
        [
            "Sales",
            "OP",
            "OdP",
            "NP",
            "TA",
            "Eq",
            "ShEq",
            "CFO",
            "CFI",
            "CFF",
            "CashEq",
            "DivTotalAnn",
            "FSales2Q",
            "FOP2Q",
        ]
    ),
    *(["FSales", "FOP", "FOdP", "FNP", "NxFSales", "NxFOP", "NxFOdP", "NxFNp"]),
)


def _constants(config: SynthConfig, universe: pl.DataFrame) -> dict[str, np.ndarray]:
    n = universe.height
    rng = rng_static(config, "fundamentals")
    size = universe["size_score"].to_numpy().astype(float)
    cap = 3e10 * np.exp(1.5 * size)
    standard = rng.choice(len(STANDARDS), size=n, p=STANDARD_WEIGHTS)
    return {
        "sales0": cap * np.exp(rng.normal(0.0, 0.5, n)),
        "margin": rng.uniform(0.03, 0.15, n),
        "growth": rng.normal(0.03, 0.03, n),
        "payout": rng.uniform(0.25, 0.45, n),
        "assets": np.exp(rng.normal(0.0, 0.3, n)),
        "eq_ratio": rng.uniform(0.3, 0.6, n),
        "standard": standard,
        "consolidated": (rng.random(n) < 0.8) | (standard > 0),
    }


def _quarter_figures(cfg: SynthConfig, fye: np.ndarray, k: dict[str, np.ndarray]) -> pl.DataFrame:
    """One row per (stock, fiscal quarter end) of the horizon ``start - 5 months .. end``."""
    n = fye.size
    fsales = k["sales0"] * (1 + k["growth"])
    fop = fsales * k["margin"]
    ytd = np.zeros((4, n))
    rows = []
    for q_end in quarter_ends(cfg.start, cfg.end):
        d = statement_draws(cfg, q_end, n)
        s, e = d["surprise"], d["noise"]
        months_after = (q_end.month - fye) % 12
        has_q = months_after % 3 == 0
        fq = np.where(months_after == 0, 4, months_after // 3)
        ytd[:, has_q & (fq == 1)] = 0.0
        sales_q = fsales / 4 * (1 + 0.02 * s + 0.02 * e[0])
        op_q = fop / 4 * (1 + 0.25 * s + 0.05 * e[1])
        odp_q = ODP_RATIO * op_q + 0.01 * fop / 4 * e[2]
        np_q = NP_RATIO * odp_q * (1 + 0.03 * e[3])
        ytd = np.where(has_q, ytd + np.stack([sales_q, op_q, odp_q, np_q]), ytd)
        revise = has_q & (fq < 4) & (np.abs(s) > REVISION_SURPRISE)
        fsales = np.where(revise, ytd[0] + fsales * (4 - fq) / 4, fsales)
        fop = np.where(revise, ytd[1] + fop * (4 - fq) / 4, fop)
        nx_sales = ytd[0] * (1 + k["growth"] + 0.04 * e[4])
        nx_op = nx_sales * k["margin"] * (1 + 0.1 * e[5])
        ii = np.nonzero(has_q)[0]
        rows.append(
            pl.DataFrame(
                {
                    "code_idx": ii,
                    "period_end": [q_end] * ii.size,
                    "Sales": ytd[0, ii],
                    "OP": ytd[1, ii],
                    "OdP": ytd[2, ii],
                    "NP": ytd[3, ii],
                    "FSales": fsales[ii],
                    "FOP": fop[ii],
                    "NxFSales": nx_sales[ii],
                    "NxFOP": nx_op[ii],
                },
                schema_overrides={"code_idx": pl.Int64, "period_end": pl.Date},
            )
        )
        is_fy = has_q & (fq == 4)
        fsales = np.where(is_fy, nx_sales, fsales)
        fop = np.where(is_fy, nx_op, fop)
    return pl.concat(rows)


def _statement_frame(
    config: SynthConfig, universe: pl.DataFrame, latents: Latents, multiplier: np.ndarray
) -> pl.DataFrame:
    """The disclosed events of ``latents`` joined to their quarter's figures, the stock's
    constants and ``shares`` (outstanding on the disclosure day: the universe's count times
    ``multiplier``, the ``(T, N)`` shares per original share after the splits so far)."""
    k = _constants(config, universe)
    figures = _quarter_figures(config, latents.fiscal_year_end_month, k)
    events = latents.disclosures.filter(pl.col("disclosed"))
    so = universe["shares_outstanding"].to_numpy().astype(float)
    t_idx = events["day_idx"].to_numpy()
    i_idx = events["code_idx"].to_numpy()
    shares = so[i_idx] * multiplier[t_idx, i_idx]
    n = universe.height
    per_stock = pl.DataFrame(
        {
            "code_idx": np.arange(n),
            "Code": universe["Code"],
            "payout": k["payout"],
            "assets": k["assets"],
            "eq_ratio": k["eq_ratio"],
            "standard": np.array(STANDARDS)[k["standard"]],
            "consolidated": k["consolidated"],
        },
        schema_overrides={"code_idx": pl.Int64},
    )
    return (
        events.with_columns(pl.Series("shares", shares))
        .join(figures, on=["code_idx", "period_end"], how="left")
        .join(per_stock, on="code_idx", how="left")
        .rename({"disc_date": "DiscDate"})
    )


def render_statements(state: MarketState) -> dict[str, pl.DataFrame]:
    """``fins_summary``: one quarterly statement per disclosure event of ``state.latents``."""
    if state.latents.disclosures.filter(pl.col("disclosed")).height == 0:
        return {"fins_summary": conform(pl.DataFrame(), "fins_summary")}
    frame = _statement_frame(state.config, state.universe, state.latents, share_multiplier(state))
    return {"fins_summary": conform(_summary_columns(frame), "fins_summary")}


def book_per_share(
    config: SynthConfig, universe: pl.DataFrame, latents: Latents, multiplier: np.ndarray
) -> pl.DataFrame:
    """``day_idx, code_idx, BPS`` of every disclosed statement: the ``BPS`` that ``fins_summary``
    publishes (``Eq / shares`` on the disclosure day), computable before prices exist (market
    version 2's value effect, ``gogooku.synth.value``)."""
    frame = _statement_frame(config, universe, latents, multiplier)
    return frame.select("day_idx", "code_idx", _bps(pl.col("fq") == 4).alias("BPS"))


def _book_equity(is_fy: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Total assets and equity: ``TA = annual sales × assets/sales``, ``Eq = TA × equity ratio``
    (annual sales: the year's at FY, the forecast in force otherwise)."""
    c = pl.col
    annual_sales = pl.when(is_fy).then(c("Sales")).otherwise(c("FSales"))
    ta = annual_sales * c("assets")
    return ta, ta * c("eq_ratio")


def _bps(is_fy: pl.Expr) -> pl.Expr:
    return (_book_equity(is_fy)[1] / pl.col("shares")).round(2)


def accrual_ratio(accrual: pl.Expr) -> pl.Expr:
    """Annual accruals over total assets, ``(NP - CFO) / TA = -0.03 + 0.04 a`` (``a`` the
    latent accrual state): CFO usually exceeds profit (depreciation), more so for low ``a``."""
    return ACCRUAL_BASE + ACCRUAL_SCALE * accrual


def _summary_columns(f: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    is_fy = c("fq") == 4
    f = f.with_columns(
        pl.col("period_end")
        .dt.offset_by(pl.format("{}mo", (4 - c("fq")) * 3))
        .dt.month_end()
        .alias("CurFYEn")
    ).with_columns(
        c("CurFYEn").dt.offset_by("-12mo").dt.month_end().dt.offset_by("1d").alias("CurFYSt"),
        c("CurFYEn").dt.offset_by("12mo").dt.month_end().alias("fy_next_end"),
    )
    period = pl.when(is_fy).then(pl.lit("FY")).otherwise(c("fq").cast(pl.String) + "Q")
    annual_np_fc = (
        pl.when(is_fy)
        .then(c("NxFOP") * ODP_RATIO * NP_RATIO)
        .otherwise(c("FOP") * ODP_RATIO * NP_RATIO)
    )
    dps = c("payout") * annual_np_fc / c("shares")
    ta, eq = _book_equity(is_fy)
    has_cf = c("fq").is_in([2, 4])
    jp = c("standard") == "JP"
    cur_dps = c("payout") * c("FOP") * ODP_RATIO * NP_RATIO / c("shares")
    out = f.select(
        c("DiscDate"),
        pl.when(c("disc_time") != NO_TIME).then(c("disc_time")).alias("DiscTime"),
        c("Code"),
        (c("DiscDate").dt.strftime("%Y%m%d") + (c("code_idx") + 500000).cast(pl.String)).alias(
            "DiscNo"
        ),
        (
            period
            + pl.lit("FinancialStatements_")
            + pl.when(c("consolidated"))
            .then(pl.lit("Consolidated"))
            .otherwise(pl.lit("NonConsolidated"))
            + pl.lit("_")
            + c("standard")
        ).alias("DocType"),
        period.alias("CurPerType"),
        c("CurFYSt").alias("CurPerSt"),
        c("period_end").alias("CurPerEn"),
        c("CurFYSt"),
        c("CurFYEn"),
        pl.when(is_fy).then(c("CurFYEn").dt.offset_by("1d")).alias("NxtFYSt"),
        pl.when(is_fy).then(c("fy_next_end")).alias("NxtFYEn"),
        c("Sales"),
        c("OP"),
        pl.when(jp).then(c("OdP")).alias("OdP"),
        c("NP"),
        (c("NP") / c("shares")).round(2).alias("EPS"),
        (c("NP") / c("shares") * 0.99).round(2).alias("DEPS"),
        ta.alias("TA"),
        eq.alias("Eq"),
        (eq * 0.97).alias("ShEq"),
        c("eq_ratio").round(3).alias("EqAR"),
        pl.when(is_fy).then((c("NP") / (eq * 0.97)).round(4)).alias("ROE"),
        _bps(is_fy).alias("BPS"),
        pl.when(has_cf).then(c("NP") - accrual_ratio(c("accrual")) * ta * c("fq") / 4).alias("CFO"),
        pl.when(has_cf).then(-c("OP") * 0.5).alias("CFI"),
        pl.when(has_cf).then(-c("OP") * 0.3).alias("CFF"),
        pl.when(has_cf).then(ta * 0.12).alias("CashEq"),
        pl.when(c("fq") >= 2).then((cur_dps / 2).round(1)).alias("Div2Q"),
        pl.when(is_fy).then((cur_dps / 2).round(1)).alias("DivFY"),
        pl.when(is_fy).then(cur_dps.round(1)).alias("DivAnn"),
        pl.when(is_fy).then(cur_dps * c("shares")).alias("DivTotalAnn"),
        pl.when(is_fy)
        .then((cur_dps / (c("NP") / c("shares")) * 100).round(1))
        .alias("PayoutRatioAnn"),
        pl.when(~is_fy).then((dps / 2).round(1)).alias("FDiv2Q"),
        pl.when(~is_fy).then((dps / 2).round(1)).alias("FDivFY"),
        pl.when(~is_fy).then(dps.round(1)).alias("FDivAnn"),
        pl.when(is_fy).then((dps / 2).round(1)).alias("NxFDiv2Q"),
        pl.when(is_fy).then((dps / 2).round(1)).alias("NxFDivFY"),
        pl.when(is_fy).then(dps.round(1)).alias("NxFDivAnn"),
        pl.when(c("fq") == 1).then(c("FSales") / 2).alias("FSales2Q"),
        pl.when(c("fq") == 1).then(c("FOP") / 2).alias("FOP2Q"),
        pl.when(~is_fy).then(c("FSales")).alias("FSales"),
        pl.when(~is_fy).then(c("FOP")).alias("FOP"),
        pl.when(~is_fy & jp).then(c("FOP") * ODP_RATIO).alias("FOdP"),
        pl.when(~is_fy).then(c("FOP") * ODP_RATIO * NP_RATIO).alias("FNP"),
        pl.when(~is_fy)
        .then((c("FOP") * ODP_RATIO * NP_RATIO / c("shares")).round(2))
        .alias("FEPS"),
        pl.when(is_fy).then(c("NxFSales")).alias("NxFSales"),
        pl.when(is_fy).then(c("NxFOP")).alias("NxFOP"),
        pl.when(is_fy & jp).then(c("NxFOP") * ODP_RATIO).alias("NxFOdP"),
        pl.when(is_fy).then(c("NxFOP") * ODP_RATIO * NP_RATIO).alias("NxFNp"),
        pl.when(is_fy)
        .then((c("NxFOP") * ODP_RATIO * NP_RATIO / c("shares")).round(2))
        .alias("NxFEPS"),
        *(pl.lit(False).alias(name) for name in ("MatChgSub", "ChgByASRev", "ChgNoASRev")),
        *(pl.lit(False).alias(name) for name in ("ChgAcEst", "RetroRst")),
        pl.when(c("DiscDate") >= date(2024, 7, 22)).then(pl.lit(False)).alias("SigChgInC"),
        c("shares").round(0).alias("ShOutFY"),
        (c("shares") * 0.02).round(0).alias("TrShFY"),
        (c("shares") * 0.98).round(0).alias("AvgSh"),
    )
    money = [name for name in MILLION_ROUNDED if name in out.columns]
    return out.with_columns((pl.col(money) / 1e6).round(0) * 1e6).sort("DiscDate", "DiscNo")
