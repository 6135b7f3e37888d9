"""The graph block's in-place, row-blocked correlation of incomplete columns gives exactly the
values of the plain whole-matrix expression (same operations, same order)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gogooku.features import graph


def _plain(xt: torch.Tensor, m: torch.Tensor, nc: int, min_obs: int) -> torch.Tensor:
    mi, xi = m[:, nc:], xt[:, nc:]
    cnt = m.T @ mi
    s_a, s_b = xt.T @ mi, m.T @ xi
    q_a, q_b = (xt * xt).T @ mi, m.T @ (xi * xi)
    cov = xt.T @ xi - s_a * s_b / cnt
    var = (q_a - s_a**2 / cnt) * (q_b - s_b**2 / cnt)
    return torch.where((cnt >= min_obs) & (var > 0), cov / var.sqrt(), float("nan"))


@pytest.mark.parametrize("n, nc", [(150, 90), (200, 0), (70, 66)])
def test_incomplete_part_is_bit_identical_to_the_plain_expression(n, nc):
    torch.set_num_threads(1)
    rng = np.random.default_rng(n)
    x = rng.standard_normal((60, n)).astype(np.float32)
    observed = np.ones_like(x, dtype=bool)
    observed[:, nc:] = rng.random((60, n - nc)) > 0.1
    observed[:35, -1] = False  # fewer than min_obs joint observations
    x[:, nc] = 0.0  # zero variance
    xt = torch.from_numpy(np.where(observed, x, 0.0).astype(np.float32))
    m = torch.from_numpy(observed.astype(np.float32))
    got = graph._incomplete_part(xt, m, nc, 40)
    want = _plain(xt, m, nc, 40)
    assert got.shape == (n, n - nc)
    assert torch.equal(got.isnan(), want.isnan())
    assert torch.equal(got.nan_to_num(7.0), want.nan_to_num(7.0))
    assert got.isnan().any() and (~got.isnan()).any()
