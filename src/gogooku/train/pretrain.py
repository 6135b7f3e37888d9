"""TS2Vec pretraining of a fold's temporal encoder, and its embeddings as model inputs.

``[data.embeddings.ts2vec]`` (:class:`~gogooku.config.Ts2VecConfig`; off unless the table is
given) makes a run of any kind first learn a :class:`~gogooku.models.ts2vec.TS2VecEncoder` on
its fold (:func:`fold_embeddings`):

- inputs: the run's selected features without the categorical ids
  (``gogooku.dataset.cache.STATIC_IDS``), normalised per date as the networks read them
  (``normalized_features`` with ``[data.normalization]``: each day's values depend on that day's
  cross-section only), missing values 0;
- training (:func:`pretrain_encoder`): only the fold's TRAINING days are read — never a
  validation or test day's features, and never any label. Each epoch visits every training day
  e with ``segment`` training days ending at e (in an order drawn from
  ``numpy.random.default_rng(seed)``); a step takes up to ``batch_stocks`` stocks listed on all
  the segment's days (drawn from the same generator), two overlapping crops with timestamp
  masking, and the hierarchical contrastive loss (``gogooku.models.ts2vec``); AdamW, one torch
  thread, ``torch.manual_seed(seed)`` before the encoder is built (the caller's torch generator
  is restored afterwards): a seed gives the same weights;
- export (:func:`encode`): the embedding of stock i on day t is the encoder's representation of
  the LAST step of its feature series ending on t (the convolutions are causal: it sees days
  t−R+1..t, R = 1 + 4 (2^blocks − 1); days before the first cached date are zeros), for every
  day of the fold (train, validation, test) with the encoder trained on the training days only.
  They are ``emb_ts2vec_0 .. emb_ts2vec_{D−1}`` (:func:`embedding_names`).

The tabular kinds (``gogooku.kinds.tabular``) join them to the panel as extra features
(normalised per date like the others); the networks append them to every window day's inputs
(``gogooku.train.loop``). The fitted encoder is saved as ``ts2vec.pt`` in the run folder. A run
with embeddings cannot be bundled yet (serving does not compute them).
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left, bisect_right
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from gogooku.config import NormalizationConfig, Ts2VecConfig
from gogooku.dataset.cache import STATIC_IDS, DenseCache, select_columns
from gogooku.dataset.loader import AppendedColumns, DayBatch
from gogooku.dataset.normalize import normalized_features
from gogooku.errors import GogookuError
from gogooku.io import atomic_path
from gogooku.models.ts2vec import TS2VecEncoder, receptive_field, ts2vec_loss
from gogooku.runs import Ranges

log = logging.getLogger(__name__)

EMBEDDING_PREFIX = "emb_ts2vec_"
ENCODER_FILE = "ts2vec.pt"
ENCODE_STOCKS = 256  # stocks encoded per forward pass at export (bounds the memory)


class PretrainError(GogookuError, ValueError):
    """The fold or the features cannot be used to pretrain the encoder."""


def embedding_names(dim: int) -> list[str]:
    return [f"{EMBEDDING_PREFIX}{k}" for k in range(dim)]


@contextmanager
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def pretrain_encoder(
    x: np.ndarray, listed: np.ndarray, train: tuple[int, int], cfg: Ts2VecConfig
) -> tuple[TS2VecEncoder, dict[str, Any]]:
    """The encoder of ``cfg`` fitted on days ``train = (lo, hi)`` (inclusive indices) of the
    (T, N, F) features ``x`` with ``listed`` (T, N); nothing outside x[lo:hi+1] is read."""
    lo, hi = train
    x_tr = np.nan_to_num(np.asarray(x[lo : hi + 1], dtype=np.float32))
    on = np.asarray(listed[lo : hi + 1], dtype=bool)
    days = x_tr.shape[0]
    if days < 2:
        raise PretrainError(f"ts2vec: {days} training day(s); the contrast needs at least 2")
    seg = min(cfg.segment, days)
    started, cpu = time.perf_counter(), time.process_time()
    with _one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        encoder = TS2VecEncoder(x_tr.shape[2], cfg.hidden, cfg.dim, cfg.blocks)
        optimizer = torch.optim.AdamW(encoder.parameters(), lr=cfg.lr)
        rng = np.random.default_rng(cfg.seed)
        generator = torch.Generator().manual_seed(cfg.seed)
        epoch_loss: list[float] = []
        steps = 0
        for epoch in range(cfg.epochs):
            losses = []
            for end in rng.permutation(np.arange(seg - 1, days)):
                start = end - seg + 1
                stocks = np.flatnonzero(on[start : end + 1].all(axis=0))
                if len(stocks) < 2:
                    continue
                if len(stocks) > cfg.batch_stocks:
                    stocks = np.sort(rng.choice(stocks, cfg.batch_stocks, replace=False))
                batch = torch.from_numpy(x_tr[start : end + 1, stocks].transpose(1, 0, 2).copy())
                loss = ts2vec_loss(encoder, batch, rng, generator, cfg.alpha, cfg.mask_p)
                if not torch.isfinite(loss):
                    raise PretrainError(f"ts2vec: epoch {epoch}: non-finite loss (lr {cfg.lr})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            if not losses:
                raise PretrainError(
                    f"ts2vec: no {seg}-day segment of the training days has 2 stocks listed "
                    "throughout"
                )
            steps += len(losses)
            epoch_loss.append(float(np.mean(losses)))
    summary = {
        "training_days": days,
        "steps": steps,
        "epoch_loss": epoch_loss,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
    }
    return encoder.eval(), summary


@torch.no_grad()
def encode(encoder: TS2VecEncoder, x: np.ndarray) -> np.ndarray:
    """(T, N, D) representations of the (T, N, F) features: entry (t, i) is the last step of
    stock i's series x[:t+1, i] (causal, so one pass over the series gives every day)."""
    t_n, n_n = x.shape[:2]
    out = np.empty((t_n, n_n, encoder.blocks[-1].conv2.out_channels), dtype=np.float32)
    with _one_thread():
        for s in range(0, n_n, ENCODE_STOCKS):
            chunk = np.nan_to_num(np.asarray(x[:, s : s + ENCODE_STOCKS], dtype=np.float32))
            z = encoder(torch.from_numpy(chunk.transpose(1, 0, 2).copy()))
            out[:, s : s + ENCODE_STOCKS] = z.numpy().transpose(1, 0, 2)
    return out


def day_span(dates: list[date], start: date, end: date, what: str) -> tuple[int, int]:
    """(first, last) positions of the dates within start..end on the ascending ``dates``."""
    lo, hi = bisect_left(dates, start), bisect_right(dates, end) - 1
    if hi < lo:
        raise PretrainError(f"ts2vec: no cached date in the {what} range {start}..{end}")
    return lo, hi


def fold_embeddings(
    cache: DenseCache,
    features: list[str],
    ranges: Ranges,
    normalization: NormalizationConfig,
    cfg: Ts2VecConfig,
    run_dir: Path | None = None,
    lead: int = 0,
) -> tuple[np.ndarray, tuple[int, int], dict[str, Any]]:
    """Pretrain on the fold's training days (module doc) and encode the days from ``lead`` days
    before the train start (a network's window) to the test end: ((T', N, D) embeddings,
    (first, last) cache positions they cover, the pretraining summary). With ``run_dir`` the
    encoder is saved there."""
    names = [f for f in features if f not in STATIC_IDS]
    if not names:
        raise PretrainError("ts2vec: no feature left once the categorical ids are removed")
    idx = cache.feature_index(names)
    if normalization.missing_indicator:
        idx = np.concatenate([idx, idx + cache.shape[2]])
    source = normalized_features(cache, normalization)
    dates = cache.date_list
    train = day_span(dates, *ranges.of("train"), "train")
    first, last = max(0, train[0] - lead), day_span(dates, *ranges.of("test"), "test")[1]
    encoder, summary = pretrain_encoder(
        select_columns(source[train[0] : train[1] + 1], idx),
        cache.mask[train[0] : train[1] + 1],
        (0, train[1] - train[0]),
        cfg,
    )
    log.info(
        "ts2vec: %d steps on %d training days in %.1f s (%.1f CPU-s), loss %s",
        summary["steps"],
        summary["training_days"],
        summary["seconds"],
        summary["cpu_seconds"],
        " → ".join(f"{v:.3f}" for v in summary["epoch_loss"]),
    )
    if run_dir is not None:
        with atomic_path(Path(run_dir) / ENCODER_FILE) as tmp:
            torch.save(
                {"state": encoder.state_dict(), "config": cfg.model_dump(), "features": names},
                tmp,
            )
    warm = max(0, first - receptive_field(cfg.blocks) + 1)
    emb = encode(encoder, select_columns(source[warm : last + 1], idx))[first - warm :]
    return emb, (first, last), summary


def embedding_frame(cache: DenseCache, emb: np.ndarray, span: tuple[int, int]) -> pl.DataFrame:
    """``Date, Code, emb_ts2vec_*`` of the listed (stock, day) cells of the embedded days."""
    first, last = span
    t_idx, n_idx = np.nonzero(np.asarray(cache.mask[first : last + 1]))
    values = emb[t_idx, n_idx]
    return pl.DataFrame(
        {
            "Date": cache.dates[first : last + 1][t_idx],
            "Code": cache.codes[n_idx].astype(str),
            **{name: values[:, k] for k, name in enumerate(embedding_names(emb.shape[2]))},
        }
    ).with_columns(pl.col("Date").cast(pl.Date))


class Ts2VecColumns(AppendedColumns):
    """A day-batch loader (or a wrapper of one) whose batches carry the embeddings of every
    window day after the loader's features: x (B, L, N, F) → (B, L, N, F + D), for the same
    days and stocks. ``emb`` (T', N, D) covers the cache positions from ``first`` on."""

    def __init__(self, loader: Any, cache: DenseCache, emb: np.ndarray, first: int) -> None:
        self.loader, self.cache, self.first = loader, cache, first
        self.emb = torch.from_numpy(emb)
        self.width = self.emb.shape[-1]

    def columns(self, batch: DayBatch) -> torch.Tensor:
        """(B, L, N, D) embeddings of ``batch``'s window days and stocks."""
        length = batch.x.shape[1]
        ends = torch.tensor([self.cache.date_index(d) - self.first for d in batch.dates])
        steps = ends[:, None] + torch.arange(1 - length, 1)
        if int(steps.min()) < 0:
            raise PretrainError(
                f"ts2vec: no embedding for the window of {batch.dates[0]} (starts before the "
                "embedded days)"
            )
        codes = batch.codes.cpu()
        return self.emb[steps[:, :, None], codes[:, None, :]].to(batch.x.device)
