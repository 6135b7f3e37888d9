"""Labels by hand, and the builder's refusal of features that are shifted labels."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
                    "is_halt_20201001": False,
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


def _rows(closes: dict[str, list], topix: list[float], halt: int | None = None) -> pl.DataFrame:
    """Base rows: ``closes[code][k]`` is the close on session k, ``...`` where not listed."""
    rows = [
        {
            "Code": code,
            "Date": D0 + timedelta(days=k),
            "AdjC": c,
            "topix_C": topix[k],
            "S33": "0050",
            "is_halt_20201001": k == halt,
        }
        for code, series in closes.items()
        for k, c in enumerate(series)
        if c is not ...
    ]
    return pl.DataFrame(rows, schema_overrides={"AdjC": pl.Float64}).sort("Code", "Date")


def _labels_of(base: pl.DataFrame, code: str, column: str) -> list:
    out = compute_labels(base).collect().filter(pl.col("Code") == code).sort("Date")
    return out[column].to_list()


TOPIX = [1000.0 + 10 * k for k in range(12)]


def test_a_stock_delisting_mid_horizon_exits_at_its_last_traded_close():
    # D crashes from 100 to 20 and is delisted after session 7; E trades all 12 sessions.
    d = [100.0, 100.0, 90.0, 80.0, 60.0, 40.0, 25.0, 20.0] + [...] * 4
    e = [50.0] * 12
    base = _rows({"D": d, "E": e}, TOPIX)
    t5 = _labels_of(base, "D", "target_5d")
    # t=0: bought at 100 (t+1), exit t+6 = 25.  t=3: bought at 60 (t+1 = 4), the exit session 9 is
    # after the delisting: sold at the last close 20 -> -66.7 %.  t=5: bought at 25, sold at 20.
    assert t5[0] == pytest.approx(25 / 100 - 1)
    assert t5[3] == pytest.approx(20 / 60 - 1)
    assert t5[5] == pytest.approx(20 / 25 - 1)
    t1 = _labels_of(base, "D", "target_1d")
    assert t1[6] == pytest.approx(0.0)  # bought on its last day at 20, exits at 20
    assert t1[7] is None  # its last listed day: nothing to buy at t+1
    # Exit session 3+1+5 = 9 is in the data: the index leg runs over the whole window (cash after).
    excess = _labels_of(base, "D", "target_5d_excess")
    assert excess[3] == pytest.approx((20 / 60 - 1) - (TOPIX[9] / TOPIX[4] - 1))
    # The window of t=3, h=10 ends at session 14, after the data: not known yet, even delisted.
    assert _labels_of(base, "D", "target_10d")[3] is None
    # The loss is in the sector mean too: E's sector label moves with D's.
    sector = _labels_of(base, "E", "target_5d_sector")
    assert sector[3] == pytest.approx(0.0 - ((20 / 60 - 1) + 0.0) / 2)
    # E is listed at the end of the data: its last windows are not known, never a stale price.
    assert _labels_of(base, "E", "target_1d")[10:] == [None, None]


def test_a_suspended_exit_day_uses_the_last_traded_close_on_or_before_it():
    f = [100.0, 100.0, 110.0, 120.0, None, None, 130.0, 140.0, None, 150.0, 160.0, 170.0]
    base = _rows({"F": f}, TOPIX)
    t1 = _labels_of(base, "F", "target_1d")
    # t=2: bought at 120 (session 3), exit session 4 has no trade: valued at 120 -> 0.
    assert t1[2] == pytest.approx(0.0)
    # t=3: entry session 4 has no trade: nothing bought, null.
    assert t1[3] is None
    t5 = _labels_of(base, "F", "target_5d")
    # t=2: exit session 8 has no trade: last traded close on or before it is 140 (session 7).
    assert t5[2] == pytest.approx(140 / 120 - 1)
    assert _labels_of(base, "F", "target_5d_excess")[2] == pytest.approx(
        (140 / 120 - 1) - (TOPIX[8] / TOPIX[3] - 1)
    )
    # A suspended last listed day before a delisting: the last traded close before it.
    g = [100.0, 100.0, 110.0, 120.0, None, ...] + [...] * 6
    base = _rows({"G": g, "H": [50.0] * 12}, TOPIX)
    assert _labels_of(base, "G", "target_5d")[1] == pytest.approx(120 / 110 - 1)


def test_the_market_halt_as_exit_day_leaves_the_label_null():
    closes = [100.0 + k for k in range(12)]
    closes[6] = None
    base = _rows({"A": closes}, TOPIX, halt=6)
    t1 = _labels_of(base, "A", "target_1d")
    assert t1[4] is None  # exit on the halt: every stock would read a stale zero
    assert t1[3] == pytest.approx(105 / 104 - 1)
    assert _labels_of(base, "A", "target_5d")[0] is None
    assert _labels_of(base, "A", "target_5d")[1] == pytest.approx(107 / 102 - 1)


def _reference(closes: dict[str, list], topix: list[float], halt: int | None, h: int) -> dict:
    """The convention of ``gogooku.dataset.labels`` as a loop over sessions (raw, excess)."""
    out = {}
    last_session = len(topix) - 1
    for code, series in closes.items():
        listed = [k for k, c in enumerate(series) if c is not ...]
        last = listed[-1]
        for s in listed:
            entry, exit_ = s + 1, s + 1 + h
            if entry > last or series[entry] is None or exit_ > last_session or exit_ == halt:
                out[(code, s)] = (None, None)
                continue
            window = series[entry : min(exit_, last) + 1]
            price = [c for c in window if c is not None][-1]
            raw = price / series[entry] - 1
            out[(code, s)] = (raw, raw - (topix[exit_] / topix[entry] - 1))
    return out


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(2, 26), n_codes=st.integers(1, 3))
def test_labels_follow_the_exit_convention_on_random_listings(data, n, n_codes):
    closes = {"Z": [100.0] * n}  # trades every session: the data's sessions
    for k in range(n_codes):
        first = data.draw(st.integers(0, n - 1))
        last = data.draw(st.integers(first, n - 1))
        prices = data.draw(
            st.lists(st.one_of(st.none(), st.floats(1, 1000)), min_size=n, max_size=n)
        )
        closes[f"C{k}"] = [prices[j] if first <= j <= last else ... for j in range(n)]
    halt = data.draw(st.one_of(st.none(), st.integers(0, n - 1)))
    topix = data.draw(st.lists(st.floats(500, 2000), min_size=n, max_size=n))
    base = _rows(closes, topix, halt)
    labels = compute_labels(base).collect()
    for h in (1, 5):
        expected = _reference(closes, topix, halt, h)
        got = {
            (r["Code"], (r["Date"] - D0).days): (r[f"target_{h}d"], r[f"target_{h}d_excess"])
            for r in labels.iter_rows(named=True)
        }
        assert got.keys() == expected.keys()
        for key, (raw, excess) in expected.items():
            if raw is None:
                assert got[key] == (None, None), key
            else:
                assert got[key] == (pytest.approx(raw), pytest.approx(excess)), key
