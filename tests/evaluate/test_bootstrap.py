"""Circular block bootstrap: index structure, determinism and interval sanity."""

from __future__ import annotations

import numpy as np
import pytest

from gogooku.evaluate import bootstrap


def test_indices_are_circular_blocks():
    idx = bootstrap.block_bootstrap_indices(n=10, block=4, replicates=50, seed=3)
    assert idx.shape == (50, 10)
    for row in idx:
        for start in (0, 4, 8):
            block = row[start : start + 4]
            assert np.all(np.diff(block) % 10 == 1)
    assert np.array_equal(idx, bootstrap.block_bootstrap_indices(10, 4, 50, seed=3))
    with pytest.raises(ValueError, match="block=0"):
        bootstrap.block_bootstrap_indices(10, 0, 5, 0)


def test_mean_ci_brackets_the_estimate_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = rng.normal(0.05, 0.1, 60)
    large = rng.normal(0.05, 0.1, 2000)
    ci_s = bootstrap.block_bootstrap_ci(small, bootstrap.mean_statistic, block=5, replicates=400)
    ci_l = bootstrap.block_bootstrap_ci(large, bootstrap.mean_statistic, block=5, replicates=400)
    assert ci_s["estimate"] == pytest.approx(small.mean())
    assert ci_s["low"] < ci_s["estimate"] < ci_s["high"]
    assert ci_l["high"] - ci_l["low"] < ci_s["high"] - ci_s["low"]
    # The mean's standard error is 0.1/√2000 ≈ 0.0022: the 95 % interval is about ±0.0044.
    assert ci_l["high"] - ci_l["low"] == pytest.approx(2 * 1.96 * 0.1 / np.sqrt(2000), rel=0.25)


def test_sharpe_statistic_and_degenerate_input():
    x = np.array([[0.01, 0.03, 0.02]])
    stat = bootstrap.sharpe_statistic(250.0)(x)[0]
    assert stat == pytest.approx(0.02 / 0.01 * np.sqrt(250))
    out = bootstrap.block_bootstrap_ci(np.array([0.1]), bootstrap.mean_statistic, block=2)
    assert out["low"] is None and out["estimate"] is None
    assert bootstrap.default_block_length(1000, horizon=20) == 20
    assert bootstrap.default_block_length(1000, horizon=1) == 10
