"""The label-copy check refuses monotone transforms and noisy copies of future labels (Spearman
above 0.99, per day on a wide panel, pooled on a narrow one) and accepts an honest past return
that overlaps a label's window."""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cache

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.dataset.labels import LabelLeakError, assert_no_label_copies, compute_labels

STOCKS, ROWS = 24, 90
LABELS = ["target_1d", "target_5d", "target_5d_excess", "target_20d"]


@cache
def _panel(stocks: int = STOCKS) -> pl.DataFrame:
    """``stocks`` random-walk closes (daily vol 1–3 %) over ``ROWS`` days, three sectors, TOPIX,
    with every label."""
    rng = np.random.default_rng(7)
    vol = rng.uniform(0.01, 0.03, (stocks, 1))
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 1, (stocks, ROWS)) * vol, axis=1))
    topix = 1000 * np.exp(np.cumsum(rng.normal(0, 0.01, ROWS)))
    base = pl.DataFrame(
        {
            "Code": np.repeat([str(1301 + i) for i in range(stocks)], ROWS),
            "Date": [date(2024, 1, 4) + timedelta(days=i) for i in range(ROWS)] * stocks,
            "AdjC": closes.ravel(),
            "topix_C": np.tile(topix, stocks),
            "S33": np.repeat([("0050", "1050", "2050")[i % 3] for i in range(stocks)], ROWS),
            "is_halt_20201001": False,
        }
    ).sort("Code", "Date")
    return base.join(compute_labels(base).collect(), on=["Code", "Date"])


def _check(feature: pl.Expr, stocks: int = STOCKS) -> None:
    panel = _panel(stocks).with_columns(feature.cast(pl.Float32).alias("f"))
    assert_no_label_copies(panel, ["f"], LABELS)


def _later(label: str, rows: int) -> pl.Expr:
    """``label`` of the stock's row t + ``rows``."""
    return pl.col(label).shift(-rows).over("Code")


NOISE = pl.Series(np.random.default_rng(3).normal(0, 1e-4, STOCKS * ROWS))
LEAKS = {  # feature, what the message says after "feature column 'f' "
    "exact copy": (_later("target_5d", 3), "equals label 'target_5d' of the stock's row t+3"),
    "exp": (
        _later("target_5d", 3).exp(),
        "rank-correlates with label 'target_5d' of the stock's row t+3",
    ),
    "3x+1": (
        3 * pl.col("target_1d") + 1,
        "rank-correlates with label 'target_1d' of the stock's row t+0",
    ),
    "decreasing": (
        -_later("target_20d", 2),
        "rank-correlates with label 'target_20d' of the stock's row t+2",
    ),
    "noisy copy": (
        pl.col("target_5d") + pl.lit(NOISE),
        "rank-correlates with label 'target_5d' of the stock's row t+0",
    ),
    "rank within the day": (
        pl.col("target_1d").rank().over("Date"),
        "rank-correlates with label 'target_1d' of the stock's row t+0 (Spearman +1.0000, median",
    ),
}


@pytest.mark.parametrize("name", LEAKS)
def test_transforms_of_a_future_label_are_refused(name):
    feature, message = LEAKS[name]
    with pytest.raises(LabelLeakError, match=re.escape(f"feature column 'f' {message}")):
        _check(feature)


def test_a_narrow_panel_is_checked_pooled():
    expected = r"'f' rank-correlates with label 'target_5d' of the stock's row t\+0 .*, pooled"
    with pytest.raises(LabelLeakError, match=expected):
        _check(pl.col("target_5d").exp(), stocks=3)


@settings(max_examples=8, deadline=None)
@given(
    a=st.floats(0.1, 10) | st.floats(-10, -0.1),
    b=st.floats(-5, 5),
    rows=st.integers(-1, 5),  # label windows ending after t for both horizons
    label=st.sampled_from(["target_1d", "target_5d"]),
)
def test_any_affine_transform_of_a_future_label_is_refused(a, b, rows, label):
    expected = re.escape(f"label '{label}' of the stock's row t{rows:+d}")
    with pytest.raises(LabelLeakError, match=f"'f' .*{expected}"):
        _check(a * _later(label, rows) + b)


def test_a_past_return_overlapping_a_label_window_is_accepted():
    ret_20d = pl.col("AdjC") / pl.col("AdjC").shift(20).over("Code") - 1
    panel = _panel().with_columns(ret_20d.alias("f"), _later("target_20d", -20).alias("lab"))
    rho = panel.select(pl.corr("f", "lab", method="spearman")).item()
    assert 0.9 < rho < 0.99  # 19 of the label's 20 daily returns are in the feature
    _check(ret_20d)
