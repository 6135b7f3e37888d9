"""The ``FS`` object of ``/fins/details``: XBRL English labels → typed line-item columns.

``FS`` maps EDINET *verbose English labels* to value strings; which labels appear depends on the
filer's accounting standard (J-Quants documents Japan GAAP — the "account list" labels — and IFRS
— the IFRS taxonomy labels, which carry an ``(IFRS)`` suffix). US GAAP filers report only the
EDINET "summary of business results" elements; their labels here are our choice, after those
elements' verbose labels. The store keeps ``FS`` itself (JSON text, keys sorted) and these
columns, each the sum of the labels of ``LINE_ITEMS[column]`` present in the record (a record
carries one standard's labels, so this is the one value; ``Debt`` adds the borrowing lines),
null when none is present:

=========  =====================================================================================
column     meaning (JPY)
=========  =====================================================================================
``TA``     total assets                  ``CurA``   current assets      ``CurL``  current liabilities
``Cash``   cash and deposits / equivalents  ``Recv``  trade receivables  ``Inv``   inventories
``PPE``    property, plant and equipment ``TL``     total liabilities   ``Eq``    net assets / equity
``Debt``   interest-bearing debt (short- and long-term borrowings, bonds, current portions)
``Sales``  net sales / revenue           ``OP``     operating profit    ``NP``    profit to owners
``CFO``    operating cash flow           ``CFI``    investing cash flow ``Capex`` purchase of PP&E
``Dep``    depreciation (and amortisation, IFRS)
=========  =====================================================================================

``AcctStd`` is the DEI ``Accounting standards, DEI`` value (``Japan GAAP``, ``IFRS``, ``US GAAP``)
and ``PerType`` the DEI ``Type of current period, DEI`` (``Q1``, ``Q2``, ``Q3``, ``FY``).
Values are YTD for flows, as reported; ``Capex`` keeps the cash-flow sign (negative).
"""

from __future__ import annotations

import functools

import polars as pl

STANDARD_LABEL = "Accounting standards, DEI"
PERIOD_LABEL = "Type of current period, DEI"
US_SUFFIX = ", US GAAP, summary of business results"

LINE_ITEMS: dict[str, dict[str, tuple[str, ...]]] = {
    "TA": {
        "Japan GAAP": ("Total assets",),
        "IFRS": ("Total assets (IFRS)",),
        "US GAAP": ("Total assets" + US_SUFFIX,),
    },
    "CurA": {"Japan GAAP": ("Total current assets",), "IFRS": ("Total current assets (IFRS)",)},
    "CurL": {
        "Japan GAAP": ("Total current liabilities",),
        "IFRS": ("Total current liabilities (IFRS)",),
    },
    "Cash": {
        "Japan GAAP": ("Cash and deposits",),
        "IFRS": ("Cash and cash equivalents (IFRS)",),
        "US GAAP": ("Cash and cash equivalents" + US_SUFFIX,),
    },
    "Recv": {
        "Japan GAAP": ("Notes and accounts receivable - trade",),
        "IFRS": ("Trade and other receivables - CA (IFRS)",),
    },
    "Inv": {
        "Japan GAAP": (
            "Merchandise and finished goods",
            "Work in process",
            "Raw materials and supplies",
        ),
        "IFRS": ("Inventories - CA (IFRS)",),
    },
    "PPE": {
        "Japan GAAP": ("Total property, plant and equipment",),
        "IFRS": ("Property, plant and equipment (IFRS)",),
    },
    "TL": {"Japan GAAP": ("Total liabilities",), "IFRS": ("Total liabilities (IFRS)",)},
    "Eq": {
        "Japan GAAP": ("Total net assets",),
        "IFRS": ("Total equity (IFRS)",),
        "US GAAP": ("Equity" + US_SUFFIX,),
    },
    "Debt": {
        "Japan GAAP": (
            "Short-term borrowings",
            "Current portion of long-term borrowings",
            "Current portion of bonds payable",
            "Bonds payable",
            "Long-term borrowings",
        ),
        "IFRS": ("Bonds and borrowings - CL (IFRS)", "Bonds and borrowings - NCL (IFRS)"),
    },
    "Sales": {
        "Japan GAAP": ("Net sales",),
        "IFRS": ("Revenue (IFRS)",),
        "US GAAP": ("Revenues" + US_SUFFIX,),
    },
    "OP": {"Japan GAAP": ("Operating profit (loss)",), "IFRS": ("Operating profit (loss) (IFRS)",)},
    "NP": {
        "Japan GAAP": ("Profit (loss) attributable to owners of parent",),
        "IFRS": ("Profit (loss) attributable to owners of parent (IFRS)",),
        "US GAAP": ("Net income (loss) attributable to owners of parent" + US_SUFFIX,),
    },
    "CFO": {
        "Japan GAAP": ("Net cash provided by (used in) operating activities",),
        "IFRS": ("Net cash provided by (used in) operating activities (IFRS)",),
        "US GAAP": ("Cash flows from (used in) operating activities" + US_SUFFIX,),
    },
    "CFI": {
        "Japan GAAP": ("Net cash provided by (used in) investing activities",),
        "IFRS": ("Net cash provided by (used in) investing activities (IFRS)",),
        "US GAAP": ("Cash flows from (used in) investing activities" + US_SUFFIX,),
    },
    "Capex": {
        "Japan GAAP": ("Purchase of property, plant and equipment",),
        "IFRS": ("Purchase of property, plant and equipment, investing activities (IFRS)",),
    },
    "Dep": {
        "Japan GAAP": ("Depreciation",),
        "IFRS": ("Depreciation and amortisation expense, operating activities (IFRS)",),
    },
}
ITEMS = tuple(LINE_ITEMS)


def labels(item: str, standard: str) -> tuple[str, ...]:
    """The labels of ``item`` under ``standard`` (empty when the standard does not report it)."""
    return LINE_ITEMS[item].get(standard, ())


@functools.cache
def _decode_dtype() -> pl.Struct:
    names = {STANDARD_LABEL, PERIOD_LABEL}
    names.update(label for by_std in LINE_ITEMS.values() for ls in by_std.values() for label in ls)
    return pl.Struct(dict.fromkeys(sorted(names), pl.String))


def _number(label: str) -> pl.Expr:
    text = pl.col("_fs").struct.field(label).str.strip_chars()
    return (
        pl.when(text.is_in(["", "-", "*"]))
        .then(None)
        .otherwise(text)
        .cast(pl.Float64, strict=False)
    )


def line_item_exprs() -> list[pl.Expr]:
    """Expressions reading ``AcctStd``, ``PerType`` and every item of ``LINE_ITEMS`` from a
    decoded ``_fs`` struct column (see ``with_line_items``)."""
    out = [
        pl.col("_fs").struct.field(STANDARD_LABEL).alias("AcctStd"),
        pl.col("_fs").struct.field(PERIOD_LABEL).alias("PerType"),
    ]
    for item, by_std in LINE_ITEMS.items():
        names = [label for ls in by_std.values() for label in ls]
        values = [_number(label) for label in names]
        present = pl.any_horizontal([v.is_not_null() for v in values])
        out.append(pl.when(present).then(pl.sum_horizontal(values)).alias(item))
    return out


def with_line_items(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (with ``FS`` as JSON text) plus ``AcctStd``, ``PerType`` and the item columns;
    a value that is not a number reads as null."""
    if frame.height == 0:
        return frame.with_columns(
            pl.lit(None, pl.String).alias("AcctStd"),
            pl.lit(None, pl.String).alias("PerType"),
            *(pl.lit(None, pl.Float64).alias(item) for item in ITEMS),
        )
    decoded = frame.with_columns(pl.col("FS").str.json_decode(_decode_dtype()).alias("_fs"))
    return decoded.with_columns(line_item_exprs()).drop("_fs")
