"""Per-date cross-sectional normalisation — the one implementation used by training, evaluation,
search and serving.

``normalize_cross_section(x, mask, spec)`` takes ``x`` of shape (..., N, F) (N stocks of one
date on the second-to-last axis, F features) and ``mask`` (..., N); a value takes part when its
stock is in the mask and the value is finite. Each (date, feature) column is transformed using only
the valid values of that same column (so a value never sees another date — no leak in time):

- ``rank_gauss``: r = average rank among the n valid values (1..n, ties share the mean rank),
  u = (r − 0.5) / n, z = Φ⁻¹(u). One valid value or a constant column gives 0.
- ``robust_z``: z = (x − median) / s with s = 1.4826 · MAD (MAD = median |x − median|); when the
  MAD is 0 (more than half the values equal), s = (q₉₀ − q₁₀) / 2.5631 with q_p the lower order
  statistic at position ⌊p·(n−1)⌋; when that is 0 too (a constant column), z = 0. Medians of an
  even count average the two middle values. Only sorts, gathers and element-wise arithmetic are
  used (no sums), so a value's result does not depend on the order or the number of masked stocks.
- then clip to [−clip, clip] (``clip = inf``: no clipping, but robust z beyond the float32 range
  — a tiny MAD — saturates at ±float32 max instead of becoming inf);
- missing (invalid value of a listed stock) → 0; masked stocks → 0 in every column;
- with ``spec.missing_indicator`` F indicator columns follow (1.0 where a listed stock's value
  is missing), named ``<feature>__missing`` (``output_names``).

The core runs in torch (float64 internally, float32 out) on the tensor's device; NumPy input is
wrapped with ``torch.from_numpy`` and the result returned as NumPy, so both share one code path.
On the CPU a date's result is bit-identical whether it is computed inside a (L, N, F) window, on
its own, or from Polars rows by ``normalize_frame`` (tested). Work is done in chunks of leading
(date) slices to bound temporary memory.

Because a date's normalised values do not depend on the window that contains it, the loader's
default is to normalise every date of the cache once: ``normalized_features(cache, spec)``
memory-maps ``cache/normalized/<spec key>/features.npy`` (T, N, F') float32, writing it first
(temp dir + rename) when it does not exist yet. It costs one more array of the cache's size (twice
that with missing indicators) and one pass of sorts over the cache; after that a normalised window
is again a view. The cache is rewritten as a whole by a build, which drops these files with it.
The writer streams: chunks of dates are read from the cache file with ``os.pread`` and written
with one ``os.pwrite`` per date (``gogooku.dataset.block_file.BlockFile``), so neither array is
mapped into the process while it is written (its memory is one chunk, not the ~13 GB the two
arrays of a 4,000-stock × 10-year cache would put into its resident set through memory maps).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import torch

from gogooku.config import NormalizationConfig
from gogooku.dataset.block_file import BlockFile
from gogooku.errors import GogookuError

CHUNK_ELEMENTS = 4_000_000
MAD_SCALE = 1.4826
IQR_SCALE = 2.5631  # Φ⁻¹(0.9) − Φ⁻¹(0.1)
MISSING_SUFFIX = "__missing"
FLOAT32_MAX = float(np.finfo(np.float32).max)


class NormalizationError(GogookuError, ValueError):
    """Shapes or inputs do not fit the normalisation contract."""


def output_names(features: Sequence[str], spec: NormalizationConfig) -> list[str]:
    """Column names of the normalised output for input ``features``."""
    names = list(features)
    if spec.missing_indicator:
        names += [f"{n}{MISSING_SUFFIX}" for n in features]
    return names


def _sorted(t: torch.Tensor) -> torch.Tensor:
    """Values sorted along the stock axis (-2); NumPy's sort on the CPU (several times faster
    than torch's there, and sorted values do not depend on the algorithm)."""
    if t.device.type == "cpu":
        return torch.from_numpy(np.sort(t.numpy(), axis=-2))
    return torch.sort(t, dim=-2).values


def _order_stat(sorted_vals: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """sorted_vals[..., pos, f] for pos of shape (..., 1, F)."""
    return torch.gather(sorted_vals, -2, pos.clamp(min=0))


def _median(sorted_vals: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    lo = _order_stat(sorted_vals, (n - 1) // 2)
    hi = _order_stat(sorted_vals, n // 2)
    return (lo + hi) * 0.5


def _robust_z(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    inf = torch.tensor(float("inf"), dtype=x.dtype, device=x.device)
    n = valid.sum(dim=-2, keepdim=True)
    sorted_x = _sorted(torch.where(valid, x, inf))
    med = _median(sorted_x, n)
    dev = torch.where(valid, (x - med).abs(), inf)
    mad = _median(_sorted(dev), n)
    q_hi = _order_stat(sorted_x, ((n - 1) * 9) // 10)
    q_lo = _order_stat(sorted_x, (n - 1) // 10)
    scale = torch.where(mad > 0, mad * MAD_SCALE, (q_hi - q_lo) / IQR_SCALE)
    scale = torch.where(torch.isfinite(scale) & (scale > 0), scale, inf)
    return (x - med) / scale


def _rank_gauss(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    inf = torch.tensor(float("inf"), dtype=x.dtype, device=x.device)
    n_axis = x.shape[-2]
    n = valid.sum(dim=-2, keepdim=True)
    sorted_x, order = torch.sort(torch.where(valid, x, inf), dim=-2)
    pos = torch.arange(n_axis, device=x.device).view(n_axis, 1).expand_as(sorted_x)
    changes = sorted_x[..., 1:, :] != sorted_x[..., :-1, :]
    edge = torch.ones_like(sorted_x[..., :1, :], dtype=torch.bool)
    is_start = torch.cat([edge, changes], dim=-2)
    is_end = torch.cat([changes, edge], dim=-2)
    first = torch.where(is_start, pos, 0).cummax(dim=-2).values
    last = torch.where(is_end, pos, n_axis).flip(-2).cummin(dim=-2).values.flip(-2)
    rank_sorted = (first + last).to(x.dtype) * 0.5 + 1.0
    rank = torch.empty_like(rank_sorted).scatter_(-2, order, rank_sorted)
    u = (rank - 0.5) / n.clamp(min=1).to(x.dtype)
    return torch.special.ndtri(u)


def _normalize_chunk(
    x: torch.Tensor, mask: torch.Tensor, spec: NormalizationConfig
) -> torch.Tensor:
    x64 = x.to(torch.float64)
    valid = mask.unsqueeze(-1) & torch.isfinite(x64)
    z = _rank_gauss(x64, valid) if spec.method == "rank_gauss" else _robust_z(x64, valid)
    bound = spec.clip if math.isfinite(spec.clip) else FLOAT32_MAX
    z = z.clamp(-bound, bound)
    out = torch.where(valid, z, 0.0).to(torch.float32)
    if spec.missing_indicator:
        missing = (mask.unsqueeze(-1) & ~valid).to(torch.float32)
        out = torch.cat([out, missing], dim=-1)
    return out


def _writable(arr: np.ndarray) -> np.ndarray:
    """A contiguous array torch can wrap (read-only memory maps are copied; nothing is written)."""
    arr = np.ascontiguousarray(arr)
    return arr if arr.flags.writeable else arr.copy()


def normalize_cross_section(x, mask, spec: NormalizationConfig):
    """Normalise ``x`` (..., N, F) per leading index over its N axis; see the module doc.

    ``x`` and ``mask`` are both NumPy arrays or both torch tensors; the result has the same kind,
    dtype float32, shape (..., N, F) or (..., N, 2F) with missing indicators.
    """
    is_numpy = isinstance(x, np.ndarray)
    xt = torch.from_numpy(_writable(x)) if is_numpy else x
    mt = torch.from_numpy(_writable(mask)) if isinstance(mask, np.ndarray) else mask
    if xt.dim() < 2:
        raise NormalizationError(f"x must have shape (..., N, F), got {tuple(xt.shape)}")
    if tuple(mt.shape) != tuple(xt.shape[:-1]):
        raise NormalizationError(
            f"mask shape {tuple(mt.shape)} does not match x shape {tuple(xt.shape)} minus F"
        )
    mt = mt.to(device=xt.device, dtype=torch.bool)
    lead = xt.shape[:-2]
    n_axis, n_feat = xt.shape[-2:]
    flat_x = xt.reshape(-1, n_axis, n_feat)
    flat_m = mt.reshape(-1, n_axis)
    step = max(1, CHUNK_ELEMENTS // max(1, n_axis * n_feat))
    parts = [
        _normalize_chunk(flat_x[i : i + step], flat_m[i : i + step], spec)
        for i in range(0, flat_x.shape[0], step)
    ]
    out_feat = 2 * n_feat if spec.missing_indicator else n_feat
    if parts:
        out = torch.cat(parts, dim=0)
    else:
        out = torch.zeros((0, n_axis, out_feat), dtype=torch.float32, device=xt.device)
    out = out.reshape(*lead, n_axis, out_feat)
    return out.numpy() if is_numpy else out


def normalize_frame(
    df: pl.DataFrame, features: Sequence[str], spec: NormalizationConfig
) -> pl.DataFrame:
    """Normalise panel rows of one or more dates: every row of a date is that date's cross-section.

    Returns ``Code, Date`` and ``output_names(features, spec)`` (Float32), sorted by (Date, Code);
    the values come from ``normalize_cross_section`` on each date's (n, F) block.
    """
    missing = [c for c in ("Code", "Date", *features) if c not in df.columns]
    if missing:
        raise NormalizationError(f"normalize_frame: column(s) {missing} not in the frame")
    if df.select(pl.struct("Code", "Date").is_duplicated().any()).item():
        raise NormalizationError("normalize_frame: duplicate (Code, Date) rows")
    rows = df.select("Code", "Date", *features).sort("Date", "Code")
    values = rows.select(
        pl.col(f).cast(pl.Float32).fill_null(float("nan")) for f in features
    ).to_numpy()
    values = np.ascontiguousarray(values, dtype=np.float32).reshape(rows.height, len(features))
    bounds = (
        rows.with_row_index("_i")
        .group_by("Date", maintain_order=True)
        .agg(pl.col("_i").first().alias("lo"), pl.len().alias("n"))
    )
    out = np.empty((rows.height, len(output_names(features, spec))), dtype=np.float32)
    for lo, n in zip(bounds["lo"].to_list(), bounds["n"].to_list(), strict=True):
        block = values[lo : lo + n]
        out[lo : lo + n] = normalize_cross_section(block, np.ones(n, dtype=bool), spec)
    names = output_names(features, spec)
    return rows.select("Code", "Date").hstack(
        pl.DataFrame(out, schema=dict.fromkeys(names, pl.Float32), orient="row")
    )


def spec_key(spec: NormalizationConfig) -> str:
    """A short stable key of a normalisation spec (folder name of its precomputed array)."""
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return f"{spec.method}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _read_dates(array: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``array[lo:hi]`` as an in-memory copy; from a ``np.memmap`` of a whole ``.npy`` file it is
    read with ``os.preadv`` (the pages are not mapped into the process)."""
    whole_file = (
        isinstance(array, np.memmap)
        and array.filename is not None
        and array.flags.c_contiguous
        and os.path.getsize(array.filename) == array.offset + array.nbytes
    )
    if not whole_file:
        return np.array(array[lo:hi])
    part = array[lo:hi]
    row = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
    out = np.empty(part.shape, dtype=array.dtype)
    view = memoryview(out.reshape(-1).view(np.uint8))
    with open(array.filename, "rb") as f:
        done, at = 0, array.offset + min(lo, array.shape[0]) * row
        while done < len(view):
            n = os.preadv(f.fileno(), [view[done:]], at + done)
            if n == 0:
                raise NormalizationError(f"{array.filename}: shorter than its header says")
            done += n
    return out


def normalized_features(cache, spec: NormalizationConfig) -> np.ndarray:
    """Memory-mapped (T, N, F') normalised features of ``cache`` for ``spec`` (see module doc)."""
    folder = Path(cache.path) / "normalized" / spec_key(spec)
    target = folder / "features.npy"
    if not target.exists():
        t_n, n_n, f_n = cache.features.shape
        tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex}")
        tmp.mkdir(parents=True)
        try:
            out_f = f_n * (2 if spec.missing_indicator else 1)
            out = BlockFile(tmp / "features.npy", np.float32, (t_n, n_n, out_f), 0.0)
            try:
                step = max(1, CHUNK_ELEMENTS // max(1, n_n * f_n))
                for lo in range(0, t_n, step):
                    x = _read_dates(cache.features, lo, lo + step).astype(np.float32, copy=False)
                    mask = _read_dates(cache.mask, lo, lo + step)
                    out.write(normalize_cross_section(x, mask, spec), lo, 0)
            finally:
                out.close()
            (tmp / "spec.json").write_text(spec.model_dump_json(indent=2) + "\n")
            try:
                tmp.rename(folder)
            except OSError:
                if not target.exists():  # not a concurrent writer that won the race
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return np.load(target, mmap_mode="r")
