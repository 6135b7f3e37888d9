"""``fins_details`` of the synthetic market: one record per statement, labels per accounting
standard, line items coherent with the summary, accruals carrying the latent accrual state."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from gogooku.jquants.endpoints import parse_records, to_records
from gogooku.jquants.fs_labels import LINE_ITEMS

KEYS = ["DiscDate", "DiscTime", "Code", "DiscNo", "DocType"]


@pytest.fixture(scope="module")
def details(side_market) -> pl.DataFrame:
    return side_market.tables["fins_details"]


def test_one_record_per_summary_with_its_keys(side_market, details):
    summary = side_market.tables["fins_summary"]
    assert details.height == summary.height > 500
    assert details.select(KEYS).equals(summary.select(KEYS))


def test_items_agree_with_the_summary(side_market, details):
    both = details.join(side_market.tables["fins_summary"], on=["Code", "DiscNo"], suffix="_s")
    for item in ("TA", "Eq", "Sales", "OP", "NP", "CFO", "CFI"):
        same = both.filter(pl.col(f"{item}_s").is_not_null())
        assert (same[item] - same[f"{item}_s"]).abs().max() == 0, item
    assert (both["TL"] - (both["TA"] - both["Eq"])).abs().max() == 0


def test_labels_follow_the_accounting_standard(details):
    counts = dict(details.group_by("AcctStd").len().iter_rows())
    assert counts["Japan GAAP"] > counts["IFRS"] > 0
    ifrs = details.filter(pl.col("AcctStd") == "IFRS")["FS"][0]
    jp = details.filter(pl.col("AcctStd") == "Japan GAAP")["FS"][0]
    assert LINE_ITEMS["TA"]["IFRS"][0] in ifrs and '"Total assets"' not in ifrs
    assert '"Total assets"' in jp and "(IFRS)" not in jp
    # The FS text the market holds is what a client parses back from the wire.
    sample = details.head(50)
    assert parse_records("fins_details", to_records("fins_details", sample)).equals(sample)


def test_accruals_carry_the_latent_state(side_market, details):
    events = side_market.state.latents.disclosures.filter(pl.col("disclosed"))
    codes = side_market.state.universe["Code"]
    events = events.with_columns(codes.gather(events["code_idx"]).alias("Code"))
    cf = details.filter(pl.col("CFO").is_not_null()).with_columns(
        ((pl.col("NP") - pl.col("CFO")) / pl.col("TA") * 4).alias("acc")
    )
    quarter = {"Q2": 2, "FY": 4}
    cf = cf.with_columns(pl.col("acc") / pl.col("PerType").replace_strict(quarter, default=None))
    joined = cf.join(
        events.select("Code", pl.col("disc_date").alias("DiscDate"), "accrual"),
        on=["Code", "DiscDate"],
    )
    assert joined.height > 200
    slope, intercept = np.polyfit(joined["accrual"].to_numpy(), joined["acc"].to_numpy(), 1)
    assert slope == pytest.approx(0.04, abs=0.002)
    assert intercept == pytest.approx(-0.03, abs=0.002)
