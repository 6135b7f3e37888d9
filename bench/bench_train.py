"""Benchmark: ATFT-GAT-FAN training throughput with the default run config (configs/atft.toml).

    python bench/bench_train.py [--config configs/atft.toml] [--stocks 300] [--features 100]
                                [--train-days 40] [--device cpu|cuda] [--threads N] [--out FILE]

Prints JSON. The dataset is a random panel (``make_panel``, as in ``bench_loader.py``: Gaussian features with
2 % nulls, Gaussian targets, no static ids, no graph — the GAT runs on the empty graph) of
``window − 1 + train_days + 2·(purge) + 4`` days, turned into the dense cache by
``write_cache``; numbers are about compute, not about the values. The run config's ``[model]``,
``[train]`` and ``[loss]`` are used as they are; ``[data.splits]`` is replaced so one fold covers
the panel (``train_days`` training days, 2 validation and 2 test days), ``train.epochs`` = 1.
A sample is one (stock, day): samples/s = listed stocks × training days / training seconds of the
epoch (from ``history.jsonl``; validation not included).

- CPU: ``samples_per_s``, ``epoch_s``, ``peak_rss_mb`` (max RSS of the process), ``threads``;
- CUDA (``--device cuda`` when ``torch.cuda.is_available()``): one epoch in bf16 autocast and
  one in fp32 (``amp`` true/false), each with ``samples_per_s``, ``peak_gpu_mem_mb``
  (``torch.cuda.max_memory_allocated``) and ``gpu_util_mean``/``gpu_util_max`` (percent, sampled
  every 0.2 s with ``nvidia-smi --query-gpu=utilization.gpu``), and the GPU's name.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import torch

from gogooku.config import CONFIGS_DIR, SplitConfig
from gogooku.dataset.cache import open_cache
from gogooku.dataset.cache_writer import write_cache
from gogooku.dataset.splits import walk_forward
from gogooku.train.config import RunConfig, load_run_config, with_data
from gogooku.train.loop import Trainer
from panel import make_panel

ROOT = Path(__file__).resolve().parents[1]


class GpuSampler:
    """Samples ``nvidia-smi`` GPU utilisation in a background thread."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.values, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode == 0 and out.stdout.strip():
                self.values.append(float(out.stdout.split()[0]))
            self._stop.wait(self.every)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_config(base: RunConfig, train_days: int, device: str, amp: bool) -> RunConfig:
    window = base.data.loader.window
    splits = SplitConfig(
        scheme="rolling",
        train_days=train_days,
        val_days=2,
        test_days=2,
        label_horizon=base.data.splits.label_horizon,
        first_day=window - 1,
        max_folds=1,
    )
    cfg = with_data(base, splits)
    train = cfg.train.model_copy(
        update={"epochs": 1, "device": device, "amp": amp, "progress": False}
    )
    return cfg.model_copy(update={"train": train})


def one_epoch(cfg: RunConfig, dataset: Path, work: Path, name: str) -> dict:
    cache = open_cache(dataset)
    fold = walk_forward(cache.date_list, cfg.data.splits)[0]
    trainer = Trainer(cfg, cache, fold, work / name)
    n_params = sum(p.numel() for p in trainer.model.parameters())
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    trainer.fit()
    row = json.loads((work / name / "history.jsonl").read_text().splitlines()[0])
    out = {
        "samples": row["samples"],
        "samples_per_s": round(row["samples_per_s"], 1),
        "train_s": round(row["train_seconds"], 2),
        "epoch_s": round(time.perf_counter() - t0, 2),
        "parameters": n_params,
    }
    if trainer.device.type == "cuda":
        out["peak_gpu_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIGS_DIR / "atft.toml")
    parser.add_argument("--stocks", type=int, default=300)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--train-days", type=int, default=40)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    base = load_run_config(args.config)
    gap = base.data.splits.label_horizon + 1
    days = base.data.loader.window - 1 + args.train_days + 2 * gap + 4
    result: dict = {
        "config": str(args.config),
        "shape": {"days": days, "stocks": args.stocks, "features": args.features},
        "window": base.data.loader.window,
        "days_per_batch": base.data.loader.days_per_batch,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = work / "bench"
        dataset.mkdir()
        make_panel(dataset, days, args.stocks, args.features)
        write_cache(dataset)
        if args.device == "cuda" and torch.cuda.is_available():
            result["gpu"] = torch.cuda.get_device_name()
            for amp, label in ((True, "bf16"), (False, "fp32")):
                cfg = bench_config(base, args.train_days, "cuda", amp)
                with GpuSampler() as sampler:
                    result[label] = one_epoch(cfg, dataset, work, label)
                util = sampler.values or [float("nan")]
                result[label]["gpu_util_mean"] = round(sum(util) / len(util), 1)
                result[label]["gpu_util_max"] = max(util)
        else:
            if args.device == "cuda":
                result["note"] = "--device cuda requested but CUDA is not available: CPU run"
            cfg = bench_config(base, args.train_days, "cpu", False)
            result["cpu_fp32"] = one_epoch(cfg, dataset, work, "cpu")
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
