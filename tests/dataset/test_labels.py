"""Labels by hand, and the builder's refusal of features that are shifted labels."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from gogooku.dataset.labels import (
    LabelLeakError,
    assert_no_label_copies,
    compute_labels,
    label_names,
)

D0 = date(2024, 1, 4)


def _base(closes: dict[str, list[float | None]], topix: list[float], sectors: dict[str, str]):
    rows = []
    for code, series in closes.items():
        for i, c in enumerate(series):
            rows.append(
                {
                    "Code": code,
                    "Date": D0 + timedelta(days=i),
                    "AdjC": c,
                    "topix_C": topix[i],
                    "S33": sectors[code],
                }
            )
    return pl.DataFrame(rows, schema_overrides={"AdjC": pl.Float64}).sort("Code", "Date")


def test_target_1d_is_the_return_from_t_plus_1_to_t_plus_2():
    closes = {"A": [100.0, 110.0, 121.0, 133.1, 120.0], "B": [50.0, 40.0, 60.0, 30.0, 45.0]}
    base = _base(closes, [1000, 1000, 1010, 1030.2, 1030.2], {"A": "0050", "B": "0050"})
    out = compute_labels(base).collect()
    a = out.filter(pl.col("Code") == "A")
    b = out.filter(pl.col("Code") == "B")
    # A, t=0: bought at the close of t+1 (110), sold at t+2 (121): +10 %.
    assert a["target_1d"].to_list()[:3] == pytest.approx(
        [121 / 110 - 1, 133.1 / 121 - 1, 120 / 133.1 - 1]
    )
    # The last two rows of each stock have no t+2 close: null, never zero or another stock's value.
    assert a["target_1d"].to_list()[3:] == [None, None]
    assert b["target_1d"].to_list() == pytest.approx(
        [60 / 40 - 1, 30 / 60 - 1, 45 / 30 - 1, None, None]
    )
    # Excess: minus TOPIX over the same window (t+1 -> t+2).
    assert a["target_1d_excess"][0] == pytest.approx(0.1 - (1010 / 1000 - 1))
    # Sector: minus the mean of the two stocks of sector 0050 that day.
    mean0 = ((121 / 110 - 1) + (60 / 40 - 1)) / 2
    assert a["target_1d_sector"][0] == pytest.approx((121 / 110 - 1) - mean0)
    assert out.columns == ["Code", "Date", *label_names()]


def test_missing_close_and_horizon_five():
    series = [float(100 + i) for i in range(12)]
    series[4] = None  # e.g. a halt day inside the window
    base = _base({"A": series}, [1000.0] * 12, {"A": "0050"})
    out = compute_labels(base).collect()
    t5 = out["target_5d"].to_list()
    # t=0: AdjC[6]/AdjC[1]-1 ; t=3 reads AdjC[4] (missing) -> null ; t=5: AdjC[11]/AdjC[6]-1
    assert t5[0] == pytest.approx(106 / 101 - 1)
    assert t5[3] is None
    assert t5[5] == pytest.approx(111 / 106 - 1)
    assert t5[6:] == [None] * 6


def test_sector_label_null_without_sector():
    base = _base({"A": [1.0, 2.0, 3.0, 4.0]}, [1.0] * 4, {"A": None})
    out = compute_labels(base).collect()
    assert out["target_1d"][0] == pytest.approx(0.5)
    assert out["target_1d_sector"].to_list() == [None] * 4


def _panel_with(feature: pl.Expr) -> tuple[pl.DataFrame, list[str]]:
    rng = np.random.default_rng(0)
    closes = {c: list(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 80)))) for c in ("A", "B")}
    base = _base(
        closes, list(1000 * np.exp(np.cumsum(rng.normal(0, 0.01, 80)))), {"A": "1", "B": "1"}
    )
    labels = compute_labels(base).collect()
    panel = base.join(labels, on=["Code", "Date"]).with_columns(feature.alias("f").cast(pl.Float32))
    return panel, label_names()


def test_a_feature_equal_to_a_future_label_is_refused():
    peek = pl.col("AdjC").shift(-4).over("Code") / pl.col("AdjC").shift(-3).over("Code") - 1
    panel, labels = _panel_with(peek)  # = target_1d of row t+2
    with pytest.raises(
        LabelLeakError, match=r"'f' equals label 'target_1d' of the stock's row t\+2"
    ):
        assert_no_label_copies(panel, ["f"], labels)


def test_a_feature_equal_to_the_own_row_excess_label_is_refused():
    panel, labels = _panel_with(pl.col("target_5d_excess"))
    with pytest.raises(LabelLeakError, match="target_5d_excess"):
        assert_no_label_copies(panel, ["f"], labels)


def test_past_returns_are_not_label_copies():
    ret_1d = pl.col("AdjC") / pl.col("AdjC").shift(1).over("Code") - 1  # = target_1d of row t-2
    ret_5d = pl.col("AdjC") / pl.col("AdjC").shift(5).over("Code") - 1  # = target_5d of row t-6
    for feature in (ret_1d, ret_5d):
        panel, labels = _panel_with(feature)
        assert_no_label_copies(panel, ["f"], labels)


@pytest.mark.parametrize("shift", [-30, -5, 0, 5, 30])
def test_row_shift_beyond_a_short_panel_is_all_missing(shift):
    from gogooku.dataset.labels import _shift_rows

    lab = np.arange(10, dtype=float).reshape(2, 5)
    out = _shift_rows(lab, shift)
    assert out.shape == lab.shape
    if abs(shift) >= 5:
        assert np.isnan(out).all()
    elif shift == 0:
        np.testing.assert_array_equal(out, lab)
