"""Full statements (``fins_details``): one record per ``fins_summary`` statement, same keys.

Each record has the summary's ``DiscDate``, ``DiscTime``, ``Code``, ``DiscNo`` and ``DocType``;
its ``FS`` object uses the labels of the filer's accounting standard (the ``_JP``/``_IFRS``/``_US``
suffix of ``DocType``; ``gogooku.jquants.fs_labels``). With the summary's ``TA``, ``Eq``,
``Sales``, ``OP``, ``NP``, ``CFO``, ``CFI`` and ``CashEq`` (so the accrual ratio
``(NP - CFO) / TA`` carries the latent accrual state, ``statements.accrual_ratio``) and per-stock
constants (``rng_static(config, "fins_details")``): current-asset share ``ca ~ U(0.35, 0.6)``,
current ratio ``cr ~ U(1.1, 2.2)``, PP&E share ``pp ~ U(0.15, 0.45)``, debt share of liabilities
``db ~ U(0.2, 0.6)``::

    TL = TA - Eq           CurA = ca TA        CurL = CurA / cr      PPE = pp TA
    Cash = CashEq (2Q/FY) or 0.12 TA           Recv = 0.18 CurA      Inv = 0.25 CurA
    Debt = db TL (JP: 30 % short-term borrowings, 50 % long-term, 20 % bonds; IFRS: 40/60 %
    current/non-current)   Capex = 0.8 CFI     Dep = 0.05 PPE q / 4 (2Q/FY)

Flows are year-to-date like the summary; cash-flow items only at 2Q and FY; US GAAP filers report
only the summary-of-business-results items (TA, Cash, Eq, Sales, NP, CFO, CFI). Amounts are whole
yen written as strings; an item the period does not report is absent from ``FS``.
"""

from __future__ import annotations

import polars as pl

from gogooku.jquants import fs_labels
from gogooku.synth.config import rng_static
from gogooku.synth.side._common import conform
from gogooku.synth.state import MarketState

_STANDARD = {"JP": "Japan GAAP", "IFRS": "IFRS", "US": "US GAAP"}
_PERIOD = {"1Q": "Q1", "2Q": "Q2", "3Q": "Q3", "FY": "FY"}
# Shares of Debt by label, per standard (the other items have one label each).
_DEBT_SPLIT = {
    "Japan GAAP": (0.3, 0.0, 0.0, 0.2, 0.5),
    "IFRS": (0.4, 0.6),
}
_INV_SPLIT = (0.5, 0.2, 0.3)


def _constants(state: MarketState) -> pl.DataFrame:
    n = state.universe.height
    rng = rng_static(state.config, "fins_details")
    return pl.DataFrame(
        {
            "Code": state.universe["Code"],
            "ca": rng.uniform(0.35, 0.6, n),
            "cr": rng.uniform(1.1, 2.2, n),
            "pp": rng.uniform(0.15, 0.45, n),
            "db": rng.uniform(0.2, 0.6, n),
        }
    )


def _items(summary: pl.DataFrame, constants: pl.DataFrame) -> pl.DataFrame:
    """Per statement: standard, period and every line item (null where not reported)."""
    c = pl.col
    q = c("CurPerType").replace_strict({"1Q": 1, "2Q": 2, "3Q": 3, "FY": 4}, return_dtype=pl.Int64)
    has_cf = c("CFO").is_not_null()
    cur_a = c("ca") * c("TA")
    return (
        summary.join(constants, on="Code", how="left")
        .with_columns(
            c("DocType").str.extract(r"_(JP|IFRS|US)$").replace_strict(_STANDARD).alias("AcctStd"),
            c("CurPerType").replace_strict(_PERIOD).alias("PerType"),
        )
        .select(
            "DiscDate",
            "DiscTime",
            "Code",
            "DiscNo",
            "DocType",
            "AcctStd",
            "PerType",
            "TA",
            cur_a.alias("CurA"),
            (cur_a / c("cr")).alias("CurL"),
            pl.when(has_cf).then(c("CashEq")).otherwise(0.12 * c("TA")).alias("Cash"),
            (0.18 * cur_a).alias("Recv"),
            (0.25 * cur_a).alias("Inv"),
            (c("pp") * c("TA")).alias("PPE"),
            (c("TA") - c("Eq")).alias("TL"),
            "Eq",
            (c("db") * (c("TA") - c("Eq"))).alias("Debt"),
            "Sales",
            "OP",
            "NP",
            "CFO",
            "CFI",
            (0.8 * c("CFI")).alias("Capex"),
            pl.when(has_cf).then(0.05 * c("pp") * c("TA") * q / 4).alias("Dep"),
        )
    )


def _label_values(items: pl.DataFrame, standard: str) -> list[pl.Expr]:
    """``label -> value text`` expressions of one standard's records (sorted by label)."""
    exprs: dict[str, pl.Expr] = {
        fs_labels.STANDARD_LABEL: pl.col("AcctStd"),
        fs_labels.PERIOD_LABEL: pl.col("PerType"),
    }
    for item in fs_labels.ITEMS:
        names = fs_labels.labels(item, standard)
        if not names:
            continue
        splits = {"Debt": _DEBT_SPLIT.get(standard), "Inv": _INV_SPLIT}.get(item) or (1.0,)
        if len(splits) != len(names):
            splits = (1.0,) + (0.0,) * (len(names) - 1)
        for name, share in zip(names, splits, strict=True):
            if share:
                value = (pl.col(item) * share).round(0).cast(pl.Int64).cast(pl.String)
                exprs[name] = value
    return [exprs[name].alias(name) for name in sorted(exprs)]


def _fs_json(items: pl.DataFrame) -> pl.Series:
    """The ``FS`` JSON text of each row of ``items`` (absent keys for null items)."""
    parts = []
    for standard in _STANDARD.values():
        rows = items.with_row_index("_row").filter(pl.col("AcctStd") == standard)
        if rows.height == 0:
            continue
        encoded = rows.select(
            "_row",
            pl.struct(_label_values(rows, standard))
            .struct.json_encode()
            .str.replace_all(r',?"[^"]+":null', "")
            .str.replace(r"^\{,", "{")
            .alias("FS"),
        )
        parts.append(encoded)
    return pl.concat(parts).sort("_row")["FS"]


def render_fins_details(state: MarketState, summary: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """``fins_details`` from the rendered ``fins_summary`` (one record per statement)."""
    if summary.height == 0:
        return {"fins_details": conform(pl.DataFrame(), "fins_details")}
    items = _items(summary, _constants(state))
    wire = items.select("DiscDate", "DiscTime", "Code", "DiscNo", "DocType").with_columns(
        _fs_json(items).alias("FS")
    )
    frame = fs_labels.with_line_items(wire)
    return {"fins_details": conform(frame, "fins_details")}


__all__ = ["render_fins_details"]
