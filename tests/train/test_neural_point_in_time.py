"""The networks read nothing after the fold's last validation day: replacing every value from
the day after it on (features, raw market columns, targets, listing mask, static ids, the graphs
built then) by noise leaves ATFT-GAT-FAN and APEX training (ridge start included), early stopping
and the validation predictions bit-identical; the same noise under a split whose training
segment runs into the test period changes the weights (the control that the comparison sees a
read of those rows).

The dataset is a hand-made dense cache (10 stocks, 57 days, a weekly graph) held in memory, so
each fit is a few tiny steps on the CPU.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch

from gogooku.dataset.cache import DenseCache
from gogooku.dataset.splits import Fold, Segment
from gogooku.features.sector import STATIC_ID_TABLES
from gogooku.train.apex import apex_trainer
from gogooku.train.config import load_run_config
from gogooku.train.loop import Trainer, TrainError

T, N, F, M = 57, 10, 4, 2
STATIC = ["sector33_id", "market_id"]
GRAPH_EVERY = 5
TIMING = {"seconds", "samples_per_s", "train_seconds"}

COMMON = """
[data.loader]
window = 4
days_per_batch = 5
seed = 3

[train]
epochs = 3
patience = 1
lr = 0.01
seed = 5
device = "cpu"
progress = false
diagnostics_every = 2

[target]
horizons = [1, 5]
"""
MODELS = {
    "atft": """
[model]
kind = "atft"
hidden_size = 8
attention_heads = 2
gat_heads = 1
lstm_layers = 1
window = 4
fan_top_k = 2
static_embedding_dim = 2
linear_skip_init = "ridge"
""",
    "apex": """
[model]
kind = "apex"
window = 4
hidden_size = 8
attention_heads = 2
encoder_layers = 1
attention_layers = 1
static_embedding_dim = 2
market_blocks = ["market"]
""",
}


def _dates() -> np.ndarray:
    return np.busday_offset("2021-01-04", np.arange(T), roll="forward").astype("datetime64[D]")


def _segment(lo: int, hi: int) -> Segment:
    dates = _dates()
    return Segment(lo, hi, dates[lo].astype(date), dates[hi].astype(date))


# window 4 (first usable day 3), 6-day gaps between train, validation and test
FOLD = Fold(0, _segment(3, 22), _segment(29, 36), _segment(43, 50))
# the wrong split of the control: training runs through the test period
LEAKY_FOLD = replace(FOLD, train=_segment(3, 50))


def make_cache(path: Path) -> DenseCache:
    """Stock features with a planted signal (target_5d ~ 0.5 · f1), two market-level columns
    (block "market"), ids drawn from a few codes, ~5 % of rows unlisted, a graph every 5 days."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(T, N, F + M)).astype(np.float32)
    features[..., F:] = 100 + np.cumsum(rng.normal(size=(T, 1, M)), axis=0)
    noise = rng.normal(size=(T, N, 2))
    targets = np.stack([0.3 * features[..., 0], 0.5 * features[..., 1]], axis=-1) + noise
    static = np.stack([rng.integers(1, 5, (T, N)), rng.integers(1, 3, (T, N))], axis=-1)
    n_graphs = -(-T // GRAPH_EVERY)
    edges = rng.integers(0, N, size=(n_graphs, 2, 3 * N))
    return DenseCache(
        path=path,
        features=features,
        targets=targets.astype(np.float32),
        mask=rng.random((T, N)) > 0.05,
        static=static.astype(np.int16),
        dates=_dates(),
        codes=np.array([str(1301 + i) for i in range(N)]),
        feature_names=[f"f{i}" for i in range(F)] + [f"m{i}" for i in range(M)],
        feature_blocks=["returns"] * F + ["market"] * M,
        target_names=["target_1d", "target_5d"],
        static_names=STATIC,
        edge_graph=(np.arange(T) // GRAPH_EVERY).astype(np.int32),
        edge_dates=_dates()[::GRAPH_EVERY],
        edge_offsets=np.arange(n_graphs + 1, dtype=np.int64) * 3 * N,
        edge_src=edges[:, 0].reshape(-1).astype(np.int32),
        edge_dst=edges[:, 1].reshape(-1).astype(np.int32),
        edge_weight=rng.random(n_graphs * 3 * N).astype(np.float32),
    )


def noised(cache: DenseCache, start: int, path: Path) -> DenseCache:
    """``cache`` with every date from position ``start`` on replaced by noise: features and raw
    columns (large values, 10 % NaN), targets, the listing mask, static ids (anywhere in their
    code tables) and the edges and weights of the graphs built from then on."""
    rng = np.random.default_rng(1)
    features = np.array(cache.features)
    tail = rng.normal(size=features[start:].shape) * 100
    tail[rng.random(tail.shape) < 0.1] = np.nan
    features[start:] = tail
    targets = np.array(cache.targets)
    targets[start:] = rng.normal(size=targets[start:].shape)
    mask = np.array(cache.mask)
    mask[start:] = rng.random(mask[start:].shape) > 0.3
    static = np.array(cache.static)
    for s, name in enumerate(cache.static_names):
        static[start:, :, s] = rng.integers(0, len(STATIC_ID_TABLES[name]) + 1, (T - start, N))
    first_edge = int(cache.edge_offsets[np.searchsorted(cache.edge_dates, cache.dates[start])])
    src, dst, weight = (np.array(a) for a in (cache.edge_src, cache.edge_dst, cache.edge_weight))
    n_new = len(weight) - first_edge
    src[first_edge:], dst[first_edge:] = rng.integers(0, N, (2, n_new))
    weight[first_edge:] = rng.random(n_new)
    return replace(
        cache,
        path=path,
        features=features,
        targets=targets,
        mask=mask,
        static=static,
        edge_src=src,
        edge_dst=dst,
        edge_weight=weight,
    )


def _trainer(kind: str, cache: DenseCache, fold: Fold, run_dir: Path, tmp_path: Path) -> Trainer:
    config = tmp_path / f"{kind}.toml"
    config.write_text(COMMON + MODELS[kind])
    cfg = load_run_config(config)
    if kind == "apex":
        return apex_trainer(cfg, cache, fold, run_dir)
    return Trainer(cfg, cache, fold, run_dir)


def _fit(kind, cache, fold, run_dir, tmp_path, epochs=None) -> dict:
    """What a fit decides: summary, history (without timings), final and best weights, and the
    best epoch's validation and test forecasts."""
    trainer = _trainer(kind, cache, fold, run_dir, tmp_path)
    summary = trainer.fit(max_epochs=epochs)
    history = [{k: v for k, v in row.items() if k not in TIMING} for row in trainer.history]
    final = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.load_best()
    return {
        "summary": summary,
        "history": history,
        "final": final,
        "best": trainer.model.state_dict(),
        "valid": torch.stack(trainer.predict("valid").point),
        "test": torch.stack(trainer.predict("test").point),
    }


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", ["atft", "apex"])
def test_noise_after_validation_leaves_training_bit_identical(kind, tmp_path):
    clean = make_cache(tmp_path / "clean")
    noisy = noised(clean, FOLD.val.hi + 1, tmp_path / "noisy")
    a = _fit(kind, clean, FOLD, tmp_path / "run_clean", tmp_path)
    b = _fit(kind, noisy, FOLD, tmp_path / "run_noisy", tmp_path)
    assert a["summary"]["stopped"] == "early stopping", "the run exercises early stopping"
    assert a["summary"] == b["summary"]
    assert a["history"] == b["history"]
    assert _same_weights(a["final"], b["final"])
    assert _same_weights(a["best"], b["best"])
    assert torch.equal(a["valid"], b["valid"])
    assert not torch.equal(a["test"], b["test"]), "the noise reaches the test days' inputs"
    # the control: a split whose training reads the noised days trains other weights
    c = _fit(kind, clean, LEAKY_FOLD, tmp_path / "leaky_clean", tmp_path, epochs=1)
    d = _fit(kind, noisy, LEAKY_FOLD, tmp_path / "leaky_noisy", tmp_path, epochs=1)
    assert not _same_weights(c["final"], d["final"])


def test_static_cardinalities_are_the_code_tables_not_the_data(tmp_path):
    cache = make_cache(tmp_path / "clean")
    assert cache.static_cardinalities == [len(STATIC_ID_TABLES[n]) + 1 for n in STATIC]
    assert noised(cache, 0, tmp_path / "noisy").static_cardinalities == cache.static_cardinalities


def test_weights_of_another_shape_are_a_one_line_error(tmp_path):
    cache = make_cache(tmp_path / "clean")
    trainer = _trainer("atft", cache, FOLD, tmp_path / "run", tmp_path)
    trainer.fit(max_epochs=1)
    last = trainer.checkpoint_dir / "last.pt"
    state = torch.load(last, weights_only=False)
    table = state["model"]["static_embedding.weight"]
    state["model"]["static_embedding.weight"] = table[:-1]  # e.g. sized by the ids in the data
    torch.save(state, last)
    again = _trainer("atft", cache, FOLD, tmp_path / "run", tmp_path)
    with pytest.raises(TrainError, match=r"last.pt: the saved weights do not fit .*static_embed"):
        again.fit(resume=True)
