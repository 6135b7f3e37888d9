"""Cross-sectional normalisation: hand values, invariants (hypothesis), one path for all callers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gogooku.config import LoaderConfig, NormalizationConfig
from gogooku.dataset.cache import open_cache
from gogooku.dataset.loader import DayBatchLoader
from gogooku.dataset.normalize import (
    NormalizationError,
    normalize_cross_section,
    normalize_frame,
    output_names,
)

NAN = float("nan")
# 5 stocks x 3 features; stock 4 is not listed (its huge value must not count)
X = np.array(
    [[1, 5, NAN], [2, 5, 1], [3, 5, 2], [4, 5, 3], [100, 5, 4]],
    dtype=np.float32,
)
M = np.array([True, True, True, True, False])


def test_rank_gauss_by_hand():
    z = normalize_cross_section(X, M, NormalizationConfig(method="rank_gauss", clip=float("inf")))
    # ranks 1..4 of n = 4 -> u = .125 .375 .625 .875 -> Φ⁻¹(u)
    col0 = [-1.1503493803760079, -0.31863936396437514, 0.31863936396437514, 1.1503493803760079]
    np.testing.assert_allclose(z[:4, 0], col0, rtol=1e-6)
    assert (z[:, 1] == 0).all()  # constant column
    # column 2: 1,2,3 valid (n = 3) -> u = 1/6, 1/2, 5/6; the NaN of stock 0 -> 0
    np.testing.assert_allclose(z[1:4, 2], [-0.9674215661017012, 0.0, 0.9674215661017012], rtol=1e-6)
    assert z[0, 2] == 0 and (z[4] == 0).all()


def test_robust_z_by_hand_with_indicator_and_clip():
    spec = NormalizationConfig(method="robust_z", clip=1.0, missing_indicator=True)
    z = normalize_cross_section(X, M, spec)
    # col 0: median 2.5, MAD 1 -> (x - 2.5) / 1.4826, then clipped to ±1
    np.testing.assert_allclose(z[:4, 0], [-1.0, -0.5 / 1.4826, 0.5 / 1.4826, 1.0], rtol=1e-6)
    np.testing.assert_allclose(z[1:4, 2], [-1 / 1.4826, 0.0, 1 / 1.4826], rtol=1e-6)
    assert z.shape == (5, 6) and z[:, 3:].tolist() == [
        [0, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
    ]
    assert output_names(["a", "b"], spec) == ["a", "b", "a__missing", "b__missing"]


def test_robust_z_falls_back_to_the_decile_range_when_mad_is_zero():
    x = np.array([[0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [1.0], [2.0], [3.0], [10.0], [20.0]])
    z = normalize_cross_section(
        x.astype(np.float32),
        np.ones(11, bool),
        NormalizationConfig(method="robust_z", clip=float("inf")),
    )
    # median 0, MAD 0; q90 = sorted[9] = 10, q10 = sorted[1] = 0 -> s = 10 / 2.5631
    np.testing.assert_allclose(z[:, 0], x[:, 0] / (10 / 2.5631), rtol=1e-6)


arrays = st.tuples(st.integers(1, 3), st.integers(1, 12), st.integers(1, 4)).flatmap(
    lambda s: st.tuples(
        hnp.arrays(
            np.float32,
            s,
            elements=st.one_of(
                st.floats(-1e6, 1e6, width=32),
                st.sampled_from([NAN, float("inf"), 0.0, 1.0]),
            ),
        ),
        hnp.arrays(np.bool_, s[:2]),
    )
)
specs = st.builds(
    NormalizationConfig,
    method=st.sampled_from(["rank_gauss", "robust_z"]),
    clip=st.sampled_from([float("inf"), 3.0, 5.0]),
    missing_indicator=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(data=arrays, spec=specs, seed=st.integers(0, 2**16))
def test_invariants(data, spec, seed):
    x, mask = data
    z = normalize_cross_section(x, mask, spec)
    n_feat = x.shape[-1]
    assert z.dtype == np.float32 and z.shape == (
        *x.shape[:-1],
        n_feat * (2 if spec.missing_indicator else 1),
    )
    assert np.isfinite(z).all()
    values = z[..., :n_feat]
    valid = mask[..., None] & np.isfinite(x)
    assert (values[~valid] == 0).all()
    assert (np.abs(values) <= spec.clip).all()
    if spec.method == "rank_gauss":
        # |z| <= Φ⁻¹(1 - 0.5/n) and order-preserving within each (date, feature) column
        n = valid.sum(axis=-2, keepdims=True)
        bound = np.where(
            n > 0, torch.special.ndtri(torch.from_numpy(1 - 0.5 / np.maximum(n, 1))).numpy(), 0
        )
        assert (np.abs(values) <= bound + 1e-6).all()
    for d in range(x.shape[0]):
        for f in range(n_feat):
            v = valid[d, :, f]
            xs, zs = x[d, v, f], values[d, v, f]
            order = np.argsort(xs, kind="stable")
            assert (np.diff(zs[order]) >= 0).all()
            if len(np.unique(xs)) <= 1:
                assert (zs == 0).all()
    if spec.missing_indicator:
        np.testing.assert_array_equal(
            z[..., n_feat:], (mask[..., None] & ~np.isfinite(x)).astype(np.float32)
        )
    # masked stocks are ignored: changing their values changes nothing
    rng = np.random.default_rng(seed)
    x2 = x.copy()
    x2[~mask] = rng.normal(size=x2[~mask].shape).astype(np.float32) * 1e3
    np.testing.assert_array_equal(normalize_cross_section(x2, mask, spec), z)
    # stock order does not matter, and each date only sees itself
    perm = rng.permutation(x.shape[1])
    np.testing.assert_array_equal(
        normalize_cross_section(x[:, perm], mask[:, perm], spec), z[:, perm]
    )
    for d in range(x.shape[0]):
        np.testing.assert_array_equal(normalize_cross_section(x[d], mask[d], spec), z[d])
    # torch and numpy are one path
    zt = normalize_cross_section(torch.from_numpy(x), torch.from_numpy(mask), spec)
    assert isinstance(zt, torch.Tensor)
    np.testing.assert_array_equal(zt.numpy(), z)


def test_shape_errors():
    with pytest.raises(
        NormalizationError, match=r"mask shape \(4,\) does not match x shape \(5, 3\)"
    ):
        normalize_cross_section(X, M[:4], NormalizationConfig())
    with pytest.raises(NormalizationError, match=r"column\(s\) \['zz'\] not in the frame"):
        normalize_frame(
            pl.DataFrame({"Code": ["a"], "Date": [None]}), ["zz"], NormalizationConfig()
        )


@pytest.mark.parametrize(
    ("method", "mode"), [("rank_gauss", "cached"), ("robust_z", "cached"), ("rank_gauss", "batch")]
)
def test_training_and_serving_paths_are_bit_identical(holey, method, mode):
    """The loader's batch for day t equals normalize_frame on day t's panel rows, bit for bit."""
    cache = open_cache(holey.path)
    spec = NormalizationConfig(method=method, clip=4.0, missing_indicator=True)
    config = LoaderConfig(window=3, days_per_batch=2, shuffle=False, normalize=mode)
    loader = DayBatchLoader(cache, config, spec, days=cache.date_list[100:104])
    features = loader.feature_names
    checked = 0
    for batch in loader:
        for b, day in enumerate(batch.dates):
            rows = holey.panel.filter(pl.col("Date") == day).sample(
                fraction=1.0, shuffle=True, seed=1
            )
            served = normalize_frame(rows, features, spec)
            assert served["Date"].unique().to_list() == [day]
            listed = batch.mask[b].numpy()
            codes = cache.codes[batch.codes[b].numpy()][listed]
            assert served["Code"].to_list() == codes.tolist()
            train = batch.x[b, -1].numpy()[listed]
            served_values = served.select(output_names(features, spec)).to_numpy()
            assert train.tobytes() == served_values.tobytes()
            checked += 1
    assert checked == 4


def test_normalize_frame_handles_several_dates(holey):
    spec = NormalizationConfig()
    days = sorted(holey.panel["Date"].unique().to_list())[60:63]
    rows = holey.panel.filter(pl.col("Date").is_in(days))
    both = normalize_frame(rows, ["ret_prev_1d", "sector33_id"], spec)
    for day in days:
        alone = normalize_frame(
            rows.filter(pl.col("Date") == day), ["ret_prev_1d", "sector33_id"], spec
        )
        assert both.filter(pl.col("Date") == day).equals(alone)
    assert both.height == rows.height and both["ret_prev_1d"].null_count() == 0


def test_precomputed_array_is_written_once_per_spec(holey, tmp_path):
    import shutil

    from gogooku.dataset.cache_writer import write_cache
    from gogooku.dataset.normalize import normalized_features, spec_key

    path = tmp_path / "ds"
    path.mkdir()
    for name in ("panel.parquet", "features.json"):
        shutil.copy(holey.path / name, path / name)
    write_cache(path)
    cache = open_cache(path)
    spec = NormalizationConfig(method="robust_z", missing_indicator=True)
    first = normalized_features(cache, spec)
    target = cache.path / "normalized" / spec_key(spec) / "features.npy"
    stamp = target.stat().st_mtime_ns
    assert first.shape == (*cache.shape[:2], 2 * cache.shape[2])
    np.testing.assert_array_equal(
        first, normalize_cross_section(np.asarray(cache.features), np.asarray(cache.mask), spec)
    )
    assert normalized_features(cache, spec).shape == first.shape
    assert target.stat().st_mtime_ns == stamp
    other = NormalizationConfig(method="rank_gauss")
    assert spec_key(other) != spec_key(spec)
    assert normalized_features(cache, other).shape == cache.shape
    assert sorted(p.name for p in (cache.path / "normalized").iterdir()) == sorted(
        [spec_key(spec), spec_key(other)]
    )
    write_cache(path)  # a rebuilt cache drops the precomputed arrays with it
    assert not (path / "cache" / "normalized").exists()
