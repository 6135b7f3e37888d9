"""Where a build's memory goes: its resident set sampled over time, by stage and block.

``StageClock`` records each stage's *peak* RSS growth (``metadata.json``), which says where the
peak is reached but not what is held there. This script runs one full build in process, with a
thread reading ``VmRSS`` from ``/proc/self/status`` every ``--every`` seconds and noting the
build's current stage (``gogooku.dataset.stages``) and block. It prints one JSON document: per
stage and per block the highest RSS sampled while it ran (MB) and the RSS when it was first
seen, and the build's overall peak (``ru_maxrss``).

Usage: ``python bench/bench_build_rss.py HOME START`` where ``HOME`` is a store folder written
by ``bench/bench_build.py --home`` (``HOME/raw``; the dataset goes to ``HOME/datasets/rss``),
``START`` the first build day (``setup.json``'s ``start``). Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from gogooku.dataset import compute, stages


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("start", type=date.fromisoformat)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2024, 12, 30))
    parser.add_argument("--every", type=float, default=0.1)
    parser.add_argument("--chunk-stocks", type=int, default=400)
    args = parser.parse_args()
    os.environ["GOGOOKU_HOME"] = str(args.home)
    from gogooku.dataset.build import build_dataset
    from gogooku.settings import Settings

    where: list[str] = []
    run_block = compute._run_block
    stage = stages.StageClock.stage

    def traced_block(block, *rest, **kw):
        where.append(f"block:{block.name}")
        try:
            return run_block(block, *rest, **kw)
        finally:
            where.pop()

    @contextmanager
    def traced_stage(self, name):
        where.append(f"stage:{name}")
        try:
            with stage(self, name):
                yield
        finally:
            where.pop()

    compute._run_block = traced_block
    stages.StageClock.stage = traced_stage
    seen: dict[str, dict[str, float]] = {}
    done = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not done.is_set():
            rss = _rss_mb()
            label = where[-1] if where else "other"
            entry = seen.setdefault(label, {"first_s": time.perf_counter() - t0, "at_first": rss})
            entry["max_mb"] = max(entry.get("max_mb", 0.0), rss)
            done.wait(args.every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    settings = Settings()
    result = build_dataset(
        "rss",
        args.start,
        args.end,
        settings=settings,
        show_progress=False,
        chunk_stocks=args.chunk_stocks,
        incremental=False,
    )
    done.set()
    thread.join()
    print(
        json.dumps(
            {
                "rows": result.rows,
                "seconds": result.seconds,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "by_label": {
                    k: {n: round(v, 1) for n, v in e.items()}
                    for k, e in sorted(seen.items(), key=lambda kv: kv[1]["first_s"])
                },
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
