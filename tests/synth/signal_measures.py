"""Observable versions of the planted side signals, measured as traders would see them.

Each function returns a (Date, Code, value) frame whose ``Date`` is the first decision day the
value may be used on (publication lag applied), for RankIC against forward returns.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.synth.latents import DRIFT_DECAY


def _days_frame(days: list) -> pl.DataFrame:
    return pl.DataFrame({"Date": days}, schema={"Date": pl.Date}).with_row_index("t")


def forward_returns(bars: pl.DataFrame, horizon: int = 5) -> pl.DataFrame:
    """``target = AdjC[t+1+h] / AdjC[t+1] - 1`` per (Date, Code) (the label convention)."""
    return (
        bars.select("Date", "Code", "AdjC")
        .sort("Code", "Date")
        .with_columns(
            (
                pl.col("AdjC").shift(-1 - horizon).over("Code")
                / pl.col("AdjC").shift(-1).over("Code")
                - 1
            ).alias("target")
        )
        .drop("AdjC")
        .drop_nulls()
    )


def usable_from(records: pl.DataFrame, date_col: str, days: list, lag: int) -> pl.DataFrame:
    """``records`` with ``Date`` = the trading day ``lag`` days after ``date_col``."""
    d = _days_frame(days)
    return (
        records.join(d.rename({"Date": date_col}), on=date_col)
        .with_columns(pl.col("t") + lag)
        .join(d, on="t")
        .drop("t")
    )


def broadcast(values: pl.DataFrame, targets: pl.DataFrame) -> pl.DataFrame:
    """The latest usable ``value`` of each code as of every target row (as-of join)."""
    return (
        targets.sort("Date")
        .join_asof(
            values.sort("Date"), on="Date", by="Code", strategy="backward", check_sortedness=False
        )
        .drop_nulls("value")
    )


def rank_ic(frame: pl.DataFrame) -> float:
    """Mean over days of the Spearman correlation of ``value`` and ``target``."""
    daily = (
        frame.group_by("Date")
        .agg(pl.corr("value", "target", method="spearman").alias("ic"), pl.len().alias("n"))
        .filter(pl.col("n") >= 20)
        .drop_nans()
    )
    return float(daily["ic"].mean())


def margin_measure(margin: pl.DataFrame, bars: pl.DataFrame, days: list) -> pl.DataFrame:
    """``-log(LongVol / ShOut)`` cross-sectionally (crowded longs -> lower returns), usable the
    trading day after publication (record date + 3 trading days)."""
    shares = bars.select("Date", "Code", (pl.col("MktCap") * 1e6 / pl.col("C")).alias("so"))
    rec = margin.join(shares, on=["Date", "Code"]).select(
        "Date", "Code", (-(pl.col("LongVol") / pl.col("so")).log()).alias("value")
    )
    return usable_from(rec.drop_nulls(), "Date", days, 3)


def short_measure(reports: pl.DataFrame, days: list) -> pl.DataFrame:
    """``-sum`` of each seller's latest ratio >= 0.5 %, usable the day after disclosure."""
    rows = reports.sort("DiscDate", "CalcDate").select("DiscDate", "Code", "SSName", "ShrtPosToSO")
    d = _days_frame(days)
    latest = (
        rows.group_by("DiscDate", "Code", "SSName", maintain_order=True)
        .last()
        .join(d.rename({"Date": "DiscDate"}), on="DiscDate")
    )
    codes = latest["Code"].unique().sort()
    grid = d.join(pl.DataFrame({"Code": codes}), how="cross")
    per_seller = grid.join(
        latest.select("t", "Code", "SSName", "ShrtPosToSO").with_columns(pl.col("t") + 1),
        on=["t", "Code"],
        how="left",
    )
    sellers = latest["SSName"].unique()
    cols = []
    for name in sellers:
        cols.append(
            pl.when(pl.col("SSName") == name)
            .then(pl.col("ShrtPosToSO"))
            .otherwise(None)
            .forward_fill()
            .over("Code", order_by="t")
            .alias(f"s_{name}")
        )
    wide = per_seller.with_columns(cols).group_by("t", "Code").agg(pl.col("^s_.*$").last())
    total = wide.select(
        "t",
        "Code",
        (
            -pl.sum_horizontal(
                pl.when(pl.col(c) >= 0.005).then(pl.col(c)).otherwise(0.0)
                for c in wide.columns
                if c.startswith("s_")
            )
        ).alias("value"),
    )
    return total.join(d, on="t").drop("t").with_columns(pl.col("value").fill_null(0.0))


def flow_measure(investor: pl.DataFrame, bars: pl.DataFrame, days: list) -> pl.DataFrame:
    """``FrgnBal / FrgnTot`` of ``TokyoNagoya`` (usable the day after PubDate) times the
    cross-sectional z-score of ``log MktCap`` on the same day."""
    flow = investor.filter(pl.col("Section") == "TokyoNagoya").select(
        "PubDate", (pl.col("FrgnBal") / pl.col("FrgnTot")).alias("flow")
    )
    flow = usable_from(flow, "PubDate", days, 1).drop("PubDate")
    size = bars.drop_nulls("MktCap").select(
        "Date",
        "Code",
        (
            (pl.col("MktCap").log() - pl.col("MktCap").log().mean().over("Date"))
            / pl.col("MktCap").log().std().over("Date")
        ).alias("size"),
    )
    return (
        size.sort("Date")
        .join_asof(flow.sort("Date"), on="Date", strategy="backward")
        .drop_nulls("flow")
        .select("Date", "Code", (pl.col("flow") * pl.col("size")).alias("value"))
    )


def drift_measure(summary: pl.DataFrame, days: list) -> pl.DataFrame:
    """Operating-profit surprise of the latest quarter vs the forecast in force before it,
    ``OP_q / (FOP_prev / 4) - 1``, decayed by ``DRIFT_DECAY`` per trading day since it became
    usable (DiscDate when disclosed before the close, else the next trading day)."""
    s = summary.sort("Code", "DiscDate").with_columns(
        pl.col("OP").shift(1).over("Code").alias("op_prev"),
        pl.col("CurPerType").shift(1).over("Code").alias("type_prev"),
        pl.when(pl.col("CurPerType").shift(1).over("Code") == "FY")
        .then(pl.col("NxFOP").shift(1).over("Code"))
        .otherwise(pl.col("FOP").shift(1).over("Code"))
        .alias("fop_prev"),
    )
    s = s.with_columns(
        pl.when(pl.col("CurPerType") == "1Q")
        .then(pl.col("OP"))
        .otherwise(pl.col("OP") - pl.col("op_prev"))
        .alias("op_q")
    ).with_columns((pl.col("op_q") / (pl.col("fop_prev") / 4) - 1).alias("surprise"))
    close = pl.when(pl.col("DiscDate") >= pl.date(2024, 11, 5)).then(pl.lit("15:30:00"))
    lag = pl.when(pl.col("DiscTime") < close.otherwise(pl.lit("15:00:00"))).then(0).otherwise(1)
    s = s.drop_nulls("surprise").with_columns(lag.alias("lag"))
    d = _days_frame(days)
    s = s.join(d.rename({"Date": "DiscDate"}), on="DiscDate").with_columns(
        (pl.col("t") + pl.col("lag")).alias("t0")
    )
    grid = d.join(s.select("Code").unique(), how="cross").sort("t")
    joined = grid.join_asof(
        s.select("Code", "t0", "surprise").sort("t0"),
        left_on="t",
        right_on="t0",
        by="Code",
        strategy="backward",
        check_sortedness=False,
    ).drop_nulls("surprise")
    return joined.select(
        "Date",
        "Code",
        (pl.col("surprise") * np.float64(DRIFT_DECAY) ** (pl.col("t") - pl.col("t0"))).alias(
            "value"
        ),
    )


def accruals_measure(details: pl.DataFrame, days: list) -> pl.DataFrame:
    """Minus the annualised accruals ``(NP - CFO) 4 / q / TA`` of each statement with a cash-flow
    statement (``fins_details``), usable on DiscDate when disclosed before the close, else the
    next trading day."""
    quarter = pl.col("PerType").replace_strict({"Q2": 2, "FY": 4}, default=None)
    s = details.filter(pl.col("CFO").is_not_null()).with_columns(
        (-(pl.col("NP") - pl.col("CFO")) * 4 / quarter / pl.col("TA")).alias("value")
    )
    close = pl.when(pl.col("DiscDate") >= pl.date(2024, 11, 5)).then(pl.lit("15:30:00"))
    lag = pl.when(pl.col("DiscTime") < close.otherwise(pl.lit("15:00:00"))).then(0).otherwise(1)
    d = _days_frame(days)
    return (
        s.drop_nulls("value")
        .join(d.rename({"Date": "DiscDate"}), on="DiscDate")
        .with_columns((pl.col("t") + lag).alias("t"))
        .join(d, on="t")
        .select("Date", "Code", "value")
    )


def _edinet_usable(frame: pl.DataFrame, days: list) -> pl.DataFrame:
    """``frame`` with ``Date`` = its usable day: ``SubDate`` if ``SubTime`` < 15:00, else the
    next trading day."""
    d = _days_frame(days)
    lag = pl.when(pl.col("SubTime") < "15:00:00").then(0).otherwise(1)
    return (
        frame.join(d.rename({"Date": "SubDate"}), on="SubDate")
        .with_columns((pl.col("t") + lag).alias("t"))
        .join(d, on="t")
        .drop("t")
    )


def concentration_measure(major: pl.DataFrame, days: list) -> pl.DataFrame:
    """Sum of the ten largest holder ratios of the latest annual report (usable by the EDINET
    rule), the observable of the planted concentration tilt."""
    top = pl.col("Hldrs").str.json_decode(
        pl.List(pl.Struct({"Name": pl.String, "Ratio": pl.Float64}))
    )
    ratios = top.list.eval(pl.element().struct.field("Ratio")).list.sort(descending=True)
    reports = major.select(
        "SubDate", "SubTime", "Code", ratios.list.head(10).list.sum().alias("value")
    )
    return _edinet_usable(reports, days).select("Date", "Code", "value")
