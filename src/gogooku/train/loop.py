"""The neural training loop: whole-day batches, AdamW, warm-up + cosine, clipping, EMA, early
stopping on validation RankIC, checkpoints and resume.

``Trainer(cfg, cache, fold, run_dir).fit()`` trains on the fold's training days (the loader
shuffles the days every epoch from ``[loader.seed, epoch]``), validates with the EMA weights after
every epoch (mean over validation days of the per-day Spearman correlation of the main-horizon
prediction with its target), and writes into ``run_dir``:

- ``checkpoints/last.pt`` after every epoch (model, EMA, optimiser, scheduler, RNG states,
  early-stopping and collapse-guard state) and ``checkpoints/best.pt`` (EMA weights of the best
  epoch); both written to a temporary file and ``os.replace``-d;
- ``history.jsonl``: one JSON object per epoch (see ``docs/training.md`` for the fields);
- ``predictions.parquet`` for the validation and test days, from the best epoch's EMA weights
  (``predict``), through ``gogooku.runs.write_predictions``.

With ``[train] phases`` each epoch runs in its phase: the model's parts are switched on or off
(``model.switch``), the parameters of frozen and switched-off parts get ``requires_grad =
False`` (parameters frozen by the model itself, a ridge-started skip, stay frozen), and the lr is
rescaled; only the last phase's epochs compete for ``best.pt`` and count for early stopping.

``fit(resume=True)`` continues after the last completed epoch of ``last.pt``; training one
epoch, stopping and resuming gives the same weights as training straight through (tested). On
CUDA the forward and the loss run under bf16 autocast (``train.amp``) and the model may be
``torch.compile``-d (``train.compile``); on the CPU both are off. With
``[data.embeddings.ts2vec]`` the fold's TS2Vec encoder is pretrained first (training days only,
``gogooku.train.pretrain``) and its D embeddings are appended to every window day's features
(the model is built for F + D inputs; a ridge start of the linear skip is fitted on the F
features and gives the embeddings zero coefficients).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import polars as pl
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from gogooku.dataset.cache import DenseCache
from gogooku.dataset.loader import DayBatch, DayBatchLoader
from gogooku.dataset.splits import Fold
from gogooku.errors import GogookuError
from gogooku.io import atomic_path, atomic_write_text
from gogooku.models.output import ModelOutput
from gogooku.models.registry import get_kind
from gogooku.runs import Ranges, write_predictions
from gogooku.target import pred_column
from gogooku.train.config import RunConfig
from gogooku.train.diagnostics import (
    ActivationProbe,
    CollapseError,
    CollapseGuard,
    dead_branches,
    grad_norms,
    long_short_sharpe,
)
from gogooku.train.losses import compute_loss
from gogooku.train.predictions import Predictions, signal_stats
from gogooku.train.pretrain import Ts2VecColumns, fold_embeddings
from gogooku.train.ridge_start import fit_ridge_start
from gogooku.train.schedule import EMA, lr_factor

log = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
CHECKPOINT_DIR = "checkpoints"


class TrainError(GogookuError, RuntimeError):
    """The run cannot train (no checkpoint to resume, empty split, non-finite loss)."""


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("train.device = 'cuda' but torch.cuda.is_available() is False")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _atomic_save(obj: object, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class Trainer:
    """Train the model of ``cfg`` on fold ``fold`` of ``cache``, writing into ``run_dir``.

    The model is the model kind's ``build(cfg.model, F, horizons, static_cardinalities)`` (the
    registry's neural kind) unless ``builder``
    (same arguments without the config) is given; it is built after ``torch.manual_seed(seed)``.
    """

    def __init__(
        self,
        cfg: RunConfig,
        cache: DenseCache,
        fold: Fold,
        run_dir: Path,
        builder: Callable[[int, list[int], list[int]], nn.Module] | None = None,
    ) -> None:
        self.cfg, self.cache, self.fold, self.run_dir = cfg, cache, fold, Path(run_dir)
        self.tc = cfg.train
        self.horizons = cfg.target.sorted_horizons
        self.device = resolve_device(self.tc.device)
        if self.device.type == "cpu":
            # Day batches are small matrices: a second intra-op thread only adds contention
            # (bench/bench_train.py on 2 cores: 565 samples/s with 1 thread, 74 with 2).
            torch.set_num_threads(1)
        torch.manual_seed(self.tc.seed)
        np.random.seed(self.tc.seed)
        lcfg = cfg.data.loader.model_copy(update={"targets": cfg.target.label_columns})
        dates = cache.date_list
        self.train_loader = DayBatchLoader(
            cache, lcfg, cfg.data.normalization, fold.dates(dates, "train"), self.device
        )
        eval_cfg = lcfg.model_copy(
            update={"shuffle": False, "require_labels": False, "stocks_per_day": None}
        )
        self.eval_loaders = {
            split: DayBatchLoader(
                cache, eval_cfg, cfg.data.normalization, fold.dates(dates, seg), self.device
            )
            for split, seg in (("valid", "val"), ("test", "test"))
        }
        self.n_features = len(self.train_loader.output_features)
        self.pretrain: dict | None = None
        if cfg.data.embeddings.ts2vec is not None:
            self._attach_ts2vec(run_dir)
        cardinalities = cache.static_cardinalities
        build = builder or (lambda f, h, c: get_kind(cfg.model.kind).build(cfg.model, f, h, c))
        torch.manual_seed(self.tc.seed)
        self.model = build(self.n_features, self.horizons, cardinalities).to(self.device)
        if getattr(cfg.model, "linear_skip_init", "random") == "ridge":
            started = time.perf_counter()
            coef, intercept = fit_ridge_start(
                cache,
                lcfg,
                cfg.data.normalization,
                [dates[i] for i in self.train_loader.days],
                cfg.model.linear_skip_alpha,
            )
            if self.pretrain is not None:  # the frozen ridge reads no embedding: zero rows
                extra = self.n_features - coef.shape[0]
                coef = torch.cat([coef, coef.new_zeros(extra, coef.shape[1])])
            self.model.skip.fix(coef.to(self.device), intercept.to(self.device))
            log.info(
                "ridge start: linear skip fitted on %d training days in %.1f s (alpha %g)",
                len(self.train_loader.days),
                time.perf_counter() - started,
                cfg.model.linear_skip_alpha,
            )
        cuda = self.device.type == "cuda"
        self.forward = torch.compile(self.model) if cuda and self.tc.compile else self.model
        self.autocast = (
            (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
            if cuda and self.tc.amp
            else nullcontext
        )
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.tc.lr, weight_decay=self.tc.weight_decay
        )
        self.total_steps = self.tc.epochs * len(self.train_loader)
        warmup = math.ceil(self.tc.warmup_frac * self.total_steps)
        self.lr_scale = 1.0
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: (
                self.lr_scale
                * lr_factor(s, self.total_steps, warmup, self.tc.cosine, self.tc.min_lr_ratio)
            ),
        )
        self.ema = EMA(self.model, self.tc.ema_decay)
        self.guard = CollapseGuard(self.tc.collapse_std, self.tc.collapse_checks)
        self.probe = ActivationProbe(self.model)
        self.start_epoch = 0
        self.best = -math.inf
        self.best_epoch = -1
        self.since_best = 0
        self.history: list[dict] = []

    def _attach_ts2vec(self, run_dir: Path) -> None:
        """Pretrain the fold's TS2Vec encoder and append its embeddings to every window day's
        inputs (``gogooku.train.pretrain``)."""
        fold, spec = self.fold, self.cfg.data.embeddings.ts2vec
        ranges = Ranges(
            train=(fold.train.start, fold.train.end),
            valid=(fold.val.start, fold.val.end),
            test=(fold.test.start, fold.test.end),
        )
        emb, (first, _), self.pretrain = fold_embeddings(
            self.cache,
            self.train_loader.feature_names,
            ranges,
            self.cfg.data.normalization,
            spec,
            run_dir,
            lead=self.cfg.data.loader.window - 1,
        )
        self.train_loader = Ts2VecColumns(self.train_loader, self.cache, emb, first)
        self.eval_loaders = {
            k: Ts2VecColumns(v, self.cache, emb, first) for k, v in self.eval_loaders.items()
        }
        self.n_features += spec.dim

    # -- phases ----------------------------------------------------------------------------------
    def phase_of(self, epoch: int) -> int | None:
        """Index of the ``[train] phases`` entry epoch ``epoch`` belongs to (None: no phases)."""
        end = 0
        for i, phase in enumerate(self.tc.phases):
            end += phase.epochs
            if epoch < end:
                return i
        return None

    def enter_phase(self, epoch: int) -> None:
        """Switch parts, freeze parameters and rescale the lr for ``epoch``'s phase."""
        index = self.phase_of(epoch)
        if index is None:
            return
        phase = self.tc.phases[index]
        base = getattr(self.model, "_orig_mod", self.model)
        for part in type(self.cfg.model).PARTS:
            if part != "encoder":
                base.switch(part, part not in phase.off)
        stopped = set(phase.off) | set(phase.freeze)
        frozen = {id(p) for part, ps in base.parameters_of().items() if part in stopped for p in ps}
        for p in self.trainable:
            p.requires_grad_(id(p) not in frozen)
        self.lr_scale = phase.lr_scale
        step = self.scheduler.last_epoch
        for group, lr in zip(self.optimizer.param_groups, self.scheduler.base_lrs, strict=True):
            group["lr"] = lr * self.scheduler.lr_lambdas[0](step)

    # -- checkpoints -----------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / CHECKPOINT_DIR

    def _state(self, epoch: int) -> dict:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "ema": self.ema.shadow,
            "ema_updates": self.ema.updates,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best": self.best,
            "best_epoch": self.best_epoch,
            "since_best": self.since_best,
            "collapse_streak": self.guard.streak,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def resume(self) -> None:
        """Load ``checkpoints/last.pt`` and the history of the epochs it completed."""
        path = self.checkpoint_dir / "last.pt"
        if not path.is_file():
            raise TrainError(f"--resume: {path} does not exist (no completed epoch to resume)")
        state = torch.load(path, map_location=self.device, weights_only=False)
        self._load_weights(state["model"], path)
        self.ema.shadow, self.ema.updates = state["ema"], state["ema_updates"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.since_best, self.guard.streak = state["since_best"], state["collapse_streak"]
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.start_epoch = state["epoch"] + 1
        self.train_loader.epoch = self.start_epoch
        history = self.run_dir / HISTORY_FILE
        lines = history.read_text().splitlines() if history.is_file() else []
        self.history = [json.loads(s) for s in lines][: self.start_epoch]

    # -- steps -----------------------------------------------------------------------------------
    def _loss(self, out: ModelOutput, batch: DayBatch):
        return compute_loss(
            out.point,
            out.quantiles,
            out.quantile_levels,
            batch.y,
            batch.y_mask,
            self.horizons,
            self.cfg.loss,
            self.cfg.target.main_horizon,
            batch.codes,
        )

    def _train_epoch(self, epoch: int, progress: Progress, task) -> dict:
        self.model.train()
        sums: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        totals, norms, samples = [], defaultdict(list), 0
        activations: dict[str, dict[str, float]] = {}
        dead: set[str] = set()
        train_pred = Predictions()
        t0 = time.perf_counter()
        for step, batch in enumerate(self.train_loader):
            probe_step = step % self.tc.diagnostics_every == 0
            with self.probe.armed() if probe_step else nullcontext() as stats, self.autocast():
                out = self.forward(batch)
                result = self._loss(out, batch)
            if not torch.isfinite(result.total):
                raise TrainError(
                    f"epoch {epoch} step {step}: non-finite loss on days {batch.dates}"
                )
            self.optimizer.zero_grad(set_to_none=True)
            result.total.backward()
            if probe_step:
                for name, value in grad_norms(self.model).items():
                    norms[name].append(value)
                activations = dict(stats)
                dead.update(dead_branches(out.branches, self.tc.dead_branch_eps))
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.ema.update(self.model)
            totals.append(float(result.total.detach()))
            for term, by_h in result.terms.items():
                for h, v in by_h.items():
                    sums[term][h].append(v)
            samples += int(batch.mask.sum())
            for d in range(batch.x.shape[0]):
                train_pred.point.append(out.point[d].detach().float().cpu())
                train_pred.y.append(batch.y[d].cpu())
                train_pred.y_mask.append(batch.y_mask[d].cpu())
                train_pred.mask.append(batch.mask[d].cpu())
            elapsed = time.perf_counter() - t0
            progress.update(task, advance=1, loss=totals[-1], sps=samples / max(elapsed, 1e-9))
        seconds = time.perf_counter() - t0
        for name in sorted(dead):
            log.warning(
                "epoch %d: model branch %r is dead (mean |output| <= %g)",
                epoch,
                name,
                self.tc.dead_branch_eps,
            )
        stats_train = signal_stats(train_pred, self.horizons)
        return {
            "train_loss": float(np.mean(totals)),
            "loss_terms": {
                term: {str(h): float(np.mean(v)) for h, v in by_h.items()}
                for term, by_h in sums.items()
            },
            "train_rank_ic": stats_train["rank_ic"],
            "train_ic": stats_train["ic"],
            "grad_norm": {k: float(np.mean(v)) for k, v in norms.items()},
            "activations": activations,
            "dead_branches": sorted(dead),
            "samples": samples,
            "samples_per_s": samples / max(seconds, 1e-9),
            "train_seconds": seconds,
        }

    @torch.no_grad()
    def predict(self, split: str) -> Predictions:
        """Forecasts of the current weights for every day of ``split`` ("valid" or "test")."""
        self.model.eval()
        pred = Predictions()
        for batch in self.eval_loaders[split]:
            with self.autocast():
                out = self.forward(batch)
            for d in range(batch.x.shape[0]):
                pred.dates.append(batch.dates[d])
                pred.codes.append(batch.codes[d].cpu().numpy())
                pred.point.append(out.point[d].float().cpu())
                pred.y.append(batch.y[d].cpu())
                pred.y_mask.append(batch.y_mask[d].cpu())
                pred.mask.append(batch.mask[d].cpu())
        return pred

    def _write_history(self) -> None:
        text = "".join(json.dumps(row, allow_nan=False) + "\n" for row in self.history)
        atomic_write_text(self.run_dir / HISTORY_FILE, text)

    # -- the run ---------------------------------------------------------------------------------
    def fit(
        self,
        resume: bool = False,
        max_epochs: int | None = None,
        on_epoch: Callable[[int, dict], None] | None = None,
    ) -> dict:
        """Train until ``train.epochs``, early stopping or (for tests) ``max_epochs`` epochs of
        this call; returns the summary (best epoch and validation RankIC, epochs run, reason).

        ``on_epoch(epoch, row)`` is called after each epoch's history row and checkpoints are
        written (``row["val_rank_ic"][str(main_horizon)]`` is the early-stopping score); an
        exception it raises (e.g. ``optuna.TrialPruned``) ends training and propagates."""
        if resume:
            self.resume()
        main = str(self.cfg.target.main_horizon)
        reason = "epochs"
        stop_at = (
            self.tc.epochs
            if max_epochs is None
            else min(self.tc.epochs, self.start_epoch + max_epochs)
        )
        columns = [
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("val RankIC({task.fields[h]}d) {task.fields[val]}"),
            TextColumn("{task.fields[sps]:.0f} samples/s"),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, disable=not self.tc.progress) as progress:
            task = progress.add_task(
                "train",
                total=len(self.train_loader),
                epoch=0,
                loss=0.0,
                val="-",
                sps=0.0,
                h=main,
            )
            if self.start_epoch >= stop_at:
                reason = "already complete"
            for epoch in range(self.start_epoch, stop_at):
                progress.reset(task, total=len(self.train_loader))
                progress.update(task, epoch=epoch)
                t0 = time.perf_counter()
                self.enter_phase(epoch)
                phase = self.phase_of(epoch)
                row = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]}
                if phase is not None:
                    row["phase"] = phase
                row.update(self._train_epoch(epoch, progress, task))
                with self.ema.applied(self.model):
                    valid = self.predict("valid")
                val = signal_stats(valid, self.horizons)
                row.update(
                    val_rank_ic=val["rank_ic"],
                    val_ic=val["ic"],
                    val_sharpe=self._sharpe(valid),
                    pred_std=val["pred_std"],
                )
                score = val["rank_ic"][main]
                selecting = phase is None or phase == len(self.tc.phases) - 1
                improved = selecting and score is not None and score > self.best
                if improved:
                    self.best, self.best_epoch, self.since_best = score, epoch, 0
                    _atomic_save(self.ema.weights(self.model), self.checkpoint_dir / "best.pt")
                elif selecting:
                    self.since_best += 1
                row.update(best=improved, seconds=time.perf_counter() - t0)
                self.history.append(row)
                self._write_history()
                progress.update(task, val=f"{score:+.4f}" if score is not None else "n/a")
                collapse = None
                try:
                    self.guard.check(val["pred_std"][main] or 0.0, int(main), epoch)
                except CollapseError as exc:
                    collapse = exc
                _atomic_save(self._state(epoch), self.checkpoint_dir / "last.pt")
                if collapse is not None:
                    raise collapse
                if on_epoch is not None:
                    on_epoch(epoch, row)
                if self.since_best >= self.tc.patience:
                    reason = "early stopping"
                    break
        summary = {
            "best_epoch": self.best_epoch,
            "best_val_rank_ic": None if self.best == -math.inf else self.best,
            "epochs_run": len(self.history),
            "stopped": reason,
        }
        if self.pretrain is not None:
            summary["ts2vec"] = self.pretrain
        return summary

    def _sharpe(self, pred: Predictions) -> float | None:
        """Validation long-short net Sharpe of the main horizon (``long_short_sharpe``)."""
        point, y, y_mask, _ = pred.stacked()
        j = self.horizons.index(self.cfg.target.main_horizon)
        ev = self.cfg.evaluate
        return long_short_sharpe(
            point[..., j],
            torch.where(y_mask[..., j], y[..., j], 0.0),
            y_mask[..., j],
            pred.dates,
            self.cfg.target.main_horizon,
            ev.top_k,
            ev.cost_bps,
        )

    def load_best(self) -> None:
        """Load the best epoch's EMA weights (``checkpoints/best.pt``) into the model."""
        path = self.checkpoint_dir / "best.pt"
        if not path.is_file():
            raise TrainError(
                f"{path} does not exist: no epoch had a finite validation RankIC to select"
            )
        self._load_weights(torch.load(path, map_location=self.device, weights_only=True), path)

    def _load_weights(self, weights: dict[str, torch.Tensor], path: Path) -> None:
        """Load ``weights`` (read from ``path``) into the model, or a one-line TrainError."""
        try:
            self.model.load_state_dict(weights)
        except RuntimeError as exc:
            lines = str(exc).splitlines()
            detail = (lines[1:] or lines)[0].strip()
            raise TrainError(
                f"{path}: the saved weights do not fit the model built from the run's config "
                f"and dataset ({detail}); e.g. a run trained before the static-id embedding "
                "sizes became the code tables' sizes: train it again"
            ) from None

    def prediction_frame(self) -> pl.DataFrame:
        """``Date, Code, pred_{h}d, split`` for every listed stock of the valid and test days."""
        frames = []
        codes_axis = np.asarray(self.cache.codes).astype(str)
        for split in ("valid", "test"):
            pred = self.predict(split)
            for day, codes, point, mask in zip(
                pred.dates, pred.codes, pred.point, pred.mask, strict=True
            ):
                m = mask.numpy()
                values = point.numpy()[m]
                frames.append(
                    pl.DataFrame(
                        {
                            "Date": [day] * int(m.sum()),
                            "Code": codes_axis[codes[m]],
                            **{
                                pred_column(h): values[:, j].astype(np.float64)
                                for j, h in enumerate(self.horizons)
                            },
                            "split": [split] * int(m.sum()),
                        },
                        schema_overrides={"Date": pl.Date},
                    )
                )
        return pl.concat(frames)

    def write_predictions(self) -> Path:
        self.load_best()
        return write_predictions(self.run_dir, self.prediction_frame())
