"""Fixtures for the evaluation tests: small random cross-sections and a tiny synthetic dataset."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest


def make_cross_section(
    n_days: int = 6, n_codes: int = 40, seed: int = 0, ties: bool = False
) -> pl.DataFrame:
    """``Date, Code, pred, y``: y = 0.3·pred + noise, pred integer-valued when ``ties``."""
    rng = np.random.default_rng(seed)
    dates = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(n_days)]
    pred = (
        rng.integers(0, 4, size=(n_days, n_codes)).astype(float)
        if ties
        else rng.normal(size=(n_days, n_codes))
    )
    y = 0.3 * pred + rng.normal(size=(n_days, n_codes))
    if ties:
        y = np.round(y)
    return pl.DataFrame(
        {
            "Date": [d for d in dates for _ in range(n_codes)],
            "Code": [f"{1000 + j}0" for _ in dates for j in range(n_codes)],
            "pred": pred.ravel(),
            "y": y.ravel(),
        }
    )


@pytest.fixture
def cross_section():
    """The :func:`make_cross_section` factory."""
    return make_cross_section
