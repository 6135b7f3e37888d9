"""The normalised-cache writer streams by dates (pread/pwrite) and equals the in-memory result."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from gogooku.config import NormalizationConfig
from gogooku.dataset import normalize as nz


@pytest.fixture
def cache_files(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((23, 40, 5)).astype(np.float32)
    x[x > 1.8] = np.nan
    mask = rng.random((23, 40)) > 0.15
    np.save(tmp_path / "features.npy", x)
    np.save(tmp_path / "mask.npy", mask)
    return tmp_path, x, mask


def test_read_dates_of_a_memmap_equals_the_slice(cache_files):
    path, x, mask = cache_files
    fm = np.load(path / "features.npy", mmap_mode="r")
    mm = np.load(path / "mask.npy", mmap_mode="r")
    for lo, hi in ((0, 4), (9, 23), (22, 30), (30, 31)):
        assert np.array_equal(nz._read_dates(fm, lo, hi), x[lo:hi], equal_nan=True)
        assert np.array_equal(nz._read_dates(mm, lo, hi), mask[lo:hi])
        # a view that is not the whole file is sliced, not read at the file's offset
        assert np.array_equal(nz._read_dates(fm[3:], lo, hi), x[3:][lo:hi], equal_nan=True)


@pytest.mark.parametrize("missing_indicator", [False, True])
def test_normalized_features_streamed_equals_in_memory(cache_files, monkeypatch, missing_indicator):
    path, x, mask = cache_files
    monkeypatch.setattr(nz, "CHUNK_ELEMENTS", 40 * 5 * 3)  # 3 dates per chunk: 8 chunks
    cache = SimpleNamespace(
        path=path,
        features=np.load(path / "features.npy", mmap_mode="r"),
        mask=np.load(path / "mask.npy", mmap_mode="r"),
    )
    spec = NormalizationConfig(missing_indicator=missing_indicator)
    out = nz.normalized_features(cache, spec)
    assert isinstance(out, np.memmap)
    assert np.array_equal(out, nz.normalize_cross_section(x, mask, spec))
