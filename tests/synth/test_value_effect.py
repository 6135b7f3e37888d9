"""Market version 2's value effect (``gogooku.synth.value``): the planted B/P is the published
one (``1 / PBR`` of ``equities_valuation``, from the statements' BPS), the term standardises its
log over the stocks with a book; the golden statistic is in ``test_market_versions.py``."""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.synth.side._common import share_multiplier
from gogooku.synth.value import S_VALUE, ValueState, split_multiplier, usable_book


def test_value_term_standardises_log_book_to_price_over_stocks_with_a_book():
    listed = np.ones((1, 5), dtype=bool)
    listed[0, 4] = False
    book = np.array([[10.0, 20.0, np.nan, 40.0, 80.0]])
    state = ValueState(book, listed)
    term = state.mu(0, np.array([10.0, 10.0, 10.0, 10.0, 10.0]), dispersion=0.02)
    # log B/P of the three stocks with a book: 0, log 2, log 4 -> z = -sqrt(3/2), 0, +sqrt(3/2)
    z = np.sqrt(1.5)
    np.testing.assert_allclose(state.z[0], [-z, 0.0, 0.0, z, 0.0], atol=1e-12)
    np.testing.assert_allclose(term, 0.02 * S_VALUE * np.array([-z, 0.0, 0.0, z, 0.0]), atol=1e-15)
    np.testing.assert_array_equal(state.terms["value"][0], term)


def test_planted_book_to_price_is_the_published_one_over_pbr(side_market):
    """On every traded row, the book the simulator uses on ``t`` over the close of ``t`` equals
    ``1 / PBR`` of the valuation table (statements' BPS, entering the trading day after the
    disclosure, restated for splits), and the two have a B/P on the same rows."""
    state = side_market.state
    multiplier = share_multiplier(state)
    np.testing.assert_array_equal(split_multiplier(state.adj_factor, state.listed), multiplier)
    book = usable_book(state.config, state.universe, state.latents, multiplier, state.listed)
    t, i = np.nonzero(state.listed & np.isfinite(state.close) & np.isfinite(book))
    planted = pl.DataFrame(
        {
            "Date": pl.Series(state.days, dtype=pl.Date).gather(t),
            "Code": state.universe["Code"].gather(i),
            "bp": book[t, i] / state.close[t, i],
        }
    )
    traded = side_market.tables["equities_bars_daily"].filter(pl.col("C").is_not_null())
    published = (
        side_market.tables["equities_valuation"]
        .filter(pl.col("PBR").is_not_null())
        .join(traded.select("Date", "Code"), on=["Date", "Code"])
    )
    both = published.join(planted, on=["Date", "Code"], how="full", coalesce=True)
    assert both.height == published.height == planted.height > 50_000
    np.testing.assert_allclose(both["bp"].to_numpy() * both["PBR"].to_numpy(), 1.0, rtol=1e-9)
