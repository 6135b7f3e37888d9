"""Day-batch loader over the dense cache: every sample of a batch is a slice of a memory map.

A batch covers B days (``days_per_batch``); for each day t it holds

- ``x`` (B, L, N', F'): features of days t−L+1..t for the day's stocks, normalised per date by
  ``normalize_cross_section`` over the whole listed cross-section of each date (before any stock
  subsampling). ``normalize="cached"`` (default) slices the precomputed array of
  ``normalized_features`` (written on first use); ``"batch"`` normalises each batch's windows on
  the batch's device (on the CPU first when stocks are subsampled); ``"off"`` gives the raw
  features (NaN where missing). Both normalised modes give the same bits on the CPU (tested);
  the batch tensor is one copy of the B windows (``np.stack`` of memory-map views);
- ``y`` (B, N', H): targets of day t (the builder's target at t is the return from the close of
  t+1 to the close of t+1+h), NaN where unknown; ``y_mask`` = ``mask`` & finite(y);
- ``mask`` (B, N'): the stock is listed on t; ``x_mask`` (B, L, N'): listed on each window day;
- ``static`` (B, N', S) int64 categorical ids on t; ``codes`` (B, N') positions on the code axis;
- ``edges``: per day, the graph in force on t (built on or before t) as ``edge_index`` (2, E)
  int64 into the batch's N' stocks and ``edge_weight`` (E,) — edges touching a stock left out by
  subsampling are dropped; None without a graph.

Days: the requested dates (default: every cached date) minus those whose window would start
before the first cached date (excluded, not padded) and, with ``require_labels``, minus days
without any finite target. Each epoch visits every remaining day exactly once, in an order
drawn from ``numpy.random.default_rng([seed, epoch])`` (sorted when ``shuffle`` is off); the
last batch may be short. ``stocks_per_day = k`` keeps k listed stocks per day drawn from the
same generator (all listed stocks and masked padding when fewer are listed); without it N' = N
(the full code axis, unlisted stocks masked).

``contiguous_days`` (for the DMN loss's turnover): the sorted days are cut into blocks of
``days_per_batch`` consecutive days (a shorter remainder joins the last block, so no batch has
fewer days than asked unless there are fewer days in all), the order of the blocks is drawn from
``default_rng([seed, epoch])`` (kept with ``shuffle`` off), and the stocks are drawn once per
batch from those listed on its first day, so every day of a batch has the same codes (a stock
delisted within the block is masked on its later days).

On CUDA (``device`` is a CUDA device and ``torch.cuda.is_available()``) a background thread
assembles the next ``prefetch`` batches into pinned memory and copies them on a side stream;
normalisation then runs on the GPU. On the CPU batches are produced in the calling thread
(``num_workers=0`` semantics; nothing is forked).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

import numpy as np
import torch

from gogooku.config import LoaderConfig, NormalizationConfig
from gogooku.dataset.cache import CacheError, DenseCache, select_columns
from gogooku.dataset.normalize import (
    normalize_cross_section,
    normalized_features,
    output_names,
)


@dataclass
class DayBatch:
    """One batch of B days; see the module doc for shapes."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    y_mask: torch.Tensor
    x_mask: torch.Tensor
    static: torch.Tensor
    codes: torch.Tensor
    dates: list[date]
    edges: list[tuple[torch.Tensor, torch.Tensor]] | None

    def to(self, device: torch.device, non_blocking: bool = False) -> DayBatch:
        moved = {
            f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        edges = None
        if self.edges is not None:
            edges = [
                (i.to(device, non_blocking=non_blocking), w.to(device, non_blocking=non_blocking))
                for i, w in self.edges
            ]
        return replace(self, edges=edges, **moved)

    def pin_memory(self) -> DayBatch:
        pinned = {
            f.name: getattr(self, f.name).pin_memory()
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        edges = None
        if self.edges is not None:
            edges = [(i.pin_memory(), w.pin_memory()) for i, w in self.edges]
        return replace(self, edges=edges, **pinned)


class DayBatchLoader:
    """Iterate day batches of ``cache``; each ``iter()`` is one epoch (see module doc)."""

    def __init__(
        self,
        cache: DenseCache,
        config: LoaderConfig | None = None,
        normalization: NormalizationConfig | None = None,
        days: Sequence[date] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.cache = cache
        self.config = config or LoaderConfig()
        self.normalization = normalization or NormalizationConfig()
        self.device = torch.device(device)
        self.feature_idx = cache.feature_index(self.config.features, self.config.feature_blocks)
        self.target_idx = cache.target_index(self.config.targets)
        self.feature_names = [cache.feature_names[i] for i in self.feature_idx]
        self.epoch = 0
        self.days = self._usable_days(days)
        if len(self.days) == 0:
            raise CacheError(
                f"{cache.path}: no usable day (window {self.config.window}, "
                f"require_labels={self.config.require_labels}) among the requested dates"
            )
        self.source, self.source_idx = cache.features, self.feature_idx
        if self.config.normalize == "cached":
            self.source = normalized_features(cache, self.normalization)
            if self.normalization.missing_indicator:
                f_n = cache.shape[2]
                self.source_idx = np.concatenate([self.feature_idx, self.feature_idx + f_n])

    @property
    def output_features(self) -> list[str]:
        if self.config.normalize == "off":
            return list(self.feature_names)
        return output_names(self.feature_names, self.normalization)

    def _usable_days(self, days: Sequence[date] | None) -> np.ndarray:
        if days is None:
            idx = np.arange(self.cache.shape[0])
        else:
            idx = np.array(sorted({self.cache.date_index(d) for d in days}), dtype=np.int64)
        idx = idx[idx >= self.config.window - 1]
        if self.config.require_labels and len(idx):
            y = self.cache.targets[idx][..., self.target_idx]
            has_label = (np.isfinite(y) & self.cache.mask[idx][..., None]).any(axis=(1, 2))
            idx = idx[has_label]
        return idx

    def __len__(self) -> int:
        if self.config.contiguous_days:
            return max(1, len(self.days) // self.config.days_per_batch)
        return -(-len(self.days) // self.config.days_per_batch)

    def day_order(self, epoch: int) -> np.ndarray:
        """Date indices in the order epoch ``epoch`` visits them."""
        if not self.config.shuffle:
            return self.days.copy()
        return np.random.default_rng([self.config.seed, epoch]).permutation(self.days)

    def _stocks(self, t: int, rng: np.random.Generator) -> np.ndarray:
        k = self.config.stocks_per_day
        n_axis = self.cache.shape[1]
        if k is None:
            return np.arange(n_axis)
        listed = np.flatnonzero(self.cache.mask[t])
        if len(listed) >= k:
            return np.sort(rng.choice(listed, size=k, replace=False))
        unlisted = np.flatnonzero(~self.cache.mask[t])[: k - len(listed)]
        return np.concatenate([listed, unlisted])

    def _edges(self, t: int, stocks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.cache.edges(t)
        pos = np.full(self.cache.shape[1], -1, dtype=np.int64)
        pos[stocks] = np.arange(len(stocks))
        src, dst = pos[e.src], pos[e.dst]
        keep = (src >= 0) & (dst >= 0)
        index = torch.from_numpy(np.stack([src[keep], dst[keep]]))
        return index, torch.from_numpy(np.asarray(e.weight[keep], dtype=np.float32))

    def assemble(self, day_idx: Sequence[int], rng: np.random.Generator) -> DayBatch:
        """The batch for date indices ``day_idx`` on the CPU (``batch`` mode: not yet normalised
        unless stocks are subsampled)."""
        c, length = self.cache, self.config.window
        xs, ys, masks, x_masks, statics, codes, edges = [], [], [], [], [], [], []
        shared = self._stocks(int(day_idx[0]), rng) if self.config.contiguous_days else None
        for t in day_idx:
            stocks = shared if shared is not None else self._stocks(int(t), rng)
            full = stocks.shape[0] == c.shape[1]
            win_mask = c.mask[t - length + 1 : t + 1]
            if self.config.normalize == "batch" and not full:
                # normalisation needs the whole cross-section: normalise here, then pick stocks
                raw = select_columns(c.features[t - length + 1 : t + 1], self.feature_idx)
                window = normalize_cross_section(
                    np.asarray(raw, dtype=np.float32), np.asarray(win_mask), self.normalization
                )
                xs.append(window[:, stocks])
            else:
                sel = select_columns(self.source[t - length + 1 : t + 1], self.source_idx)
                xs.append(sel if full else sel[:, stocks])
            ys.append(c.targets[t][..., self.target_idx][stocks])
            masks.append(c.mask[t][stocks])
            x_masks.append(win_mask[:, stocks])
            statics.append(c.static[t][stocks])
            codes.append(stocks)
            if c.edge_graph is not None:
                edges.append(self._edges(int(t), stocks))
        x = torch.from_numpy(np.stack(xs).astype(np.float32, copy=False))
        mask = torch.from_numpy(np.stack(masks))
        y = torch.from_numpy(np.stack(ys).astype(np.float32, copy=False))
        return DayBatch(
            x=x,
            y=y,
            mask=mask,
            y_mask=mask.unsqueeze(-1) & torch.isfinite(y),
            x_mask=torch.from_numpy(np.stack(x_masks)),
            static=torch.from_numpy(np.stack(statics).astype(np.int64)),
            codes=torch.from_numpy(np.stack(codes).astype(np.int64)),
            dates=[c.date_list[int(t)] for t in day_idx],
            edges=edges if c.edge_graph is not None else None,
        )

    def finish(self, batch: DayBatch) -> DayBatch:
        """In ``batch`` mode normalise on the batch's device, unless ``assemble`` did (subsampling)."""
        if self.config.normalize != "batch" or self.config.stocks_per_day is not None:
            return batch
        x = normalize_cross_section(batch.x, batch.x_mask, self.normalization)
        return replace(batch, x=x)

    def _batches(self, epoch: int) -> Iterator[tuple[int, ...]]:
        b = self.config.days_per_batch
        if self.config.contiguous_days:
            starts = list(range(0, len(self.days), b))
            if len(starts) > 1 and len(self.days) - starts[-1] < b:
                starts.pop()
            ends = [*starts[1:], len(self.days)]
            blocks = np.arange(len(starts))
            if self.config.shuffle:
                blocks = np.random.default_rng([self.config.seed, epoch]).permutation(blocks)
            for k in blocks:
                yield tuple(int(t) for t in self.days[starts[k] : ends[k]])
            return
        order = self.day_order(epoch)
        for i in range(0, len(order), b):
            yield tuple(int(t) for t in order[i : i + b])

    def __iter__(self) -> Iterator[DayBatch]:
        epoch = self.epoch
        self.epoch += 1
        rng = np.random.default_rng([self.config.seed, epoch, 1])
        if self.device.type == "cuda" and torch.cuda.is_available():
            yield from self._iter_cuda(epoch, rng)
            return
        for day_idx in self._batches(epoch):
            yield self.finish(self.assemble(day_idx, rng).to(self.device))

    def _iter_cuda(self, epoch: int, rng: np.random.Generator) -> Iterator[DayBatch]:
        """Assemble, pin and copy batches on a side stream in a background thread."""
        stream = torch.cuda.Stream(device=self.device)
        ready: queue.Queue = queue.Queue(maxsize=self.config.prefetch)
        stop = threading.Event()
        done = object()

        def produce() -> None:
            try:
                for day_idx in self._batches(epoch):
                    if stop.is_set():
                        return
                    batch = self.assemble(day_idx, rng)
                    if self.config.pin_memory:
                        batch = batch.pin_memory()
                    with torch.cuda.stream(stream):
                        moved = batch.to(self.device, non_blocking=True)
                        event = torch.cuda.Event()
                        event.record(stream)
                    ready.put((moved, event))
                ready.put(done)
            except BaseException as exc:  # surfaced in the consumer
                ready.put(exc)

        worker = threading.Thread(target=produce, name="gogooku-prefetch", daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                batch, event = item
                torch.cuda.current_stream(self.device).wait_event(event)
                yield self.finish(batch)
        finally:
            stop.set()
            while worker.is_alive():
                try:
                    ready.get(timeout=0.1)
                except queue.Empty:
                    continue
            worker.join()


class AppendedColumns:
    """A day-batch loader (or a wrapper of one) whose batches carry K more columns after the
    loader's features: x (B, L, N, F) → (B, L, N, F + K), the same L days and N stocks. A subclass
    gives ``width`` (K; 0 passes batches through unchanged) and ``columns(batch)`` (the
    (B, L, N, K) values); ``len``, ``epoch`` and every other attribute are the wrapped loader's."""

    loader: Any
    width: int

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not set yet (copy, pickle)
            raise AttributeError(name)
        return getattr(self.loader, name)

    @property
    def epoch(self) -> int:
        return self.loader.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.loader.epoch = value

    def columns(self, batch: DayBatch) -> torch.Tensor:
        raise NotImplementedError

    def __iter__(self) -> Iterator[DayBatch]:
        for batch in self.loader:
            if self.width:
                batch = replace(batch, x=torch.cat([batch.x, self.columns(batch)], dim=-1))
            yield batch
