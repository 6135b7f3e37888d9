"""Benchmark: how long the command line and the ranking service take to start.

    python bench/bench_startup.py [--label after] [--src SRC] [--runs 7] [--kinds lgbm,linear,atft,apex]
                                  [--out bench/results/bench_startup.json]

Stores the result under ``--label`` in ``--out`` (other labels there are kept) and prints that
whole JSON document, so the same script measures an older checkout: ``--src /tmp/before/src --label before`` runs that
checkout's ``gogooku`` (every process gets ``PYTHONPATH=SRC``; default: this checkout's src).

- ``cli``: the median wall seconds over ``--runs`` fresh processes (alternating, in the same run)
  of ``python -c pass`` (``baseline_python_s``), ``gogooku --help`` (``help_s``), ``import
  gogooku`` and ``import gogooku.cli``; ``help_over_python`` is their ratio and
  ``help_minus_python_s`` the difference (goal: ≤ 0.5 s), and ``help_imports`` the heavy
  packages the ``--help`` process imported.
- ``serve``: per bundle kind, the seconds from starting ``gogooku serve --bundle NAME`` on a
  loopback port until ``GET /readyz`` answers 200, and the heavy packages that process imported
  (read from its ``sys.modules`` when it stops). Setup, in a temporary GOGOOKU_HOME with the
  measured checkout's commands: a synthetic market of 24 stocks (2020), ``gogooku build``,
  ``gogooku train`` of each kind with a small config (one epoch, hidden size 16 for the neural
  kinds), ``gogooku bundle``, ``promote``, ``predict``; the service config turns the data-age
  check off (the market is from 2020). The bundle and the config are also passed as
  ``GOGOOKU_SERVE_MODELS`` / ``GOGOOKU_SERVE_CONFIG``: at 7f0d40e ``gogooku.cli`` imports every
  command module, which creates the service app before ``serve`` reads ``--bundle``/``--config``
  (so there it served every promoted bundle with the default config).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "torch",
    "torch_geometric",
    "lightgbm",
    "optuna",
    "fastapi",
    "uvicorn",
    "sklearn",
    "scipy",
    "plotly",
    "pandas",
)
# what the console script does, so that PYTHONPATH picks the checkout
GOGOOKU = "import sys; from gogooku.cli import app; sys.argv[0] = 'gogooku'; sys.exit(app())"
# the same, recording the process's heavy imports in the file named by GOGOOKU_BENCH_MODULES
RECORDING = (
    "import atexit, json, os, sys\n"
    "def _record():\n"
    f"    names = {{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r})\n"
    "    with open(os.environ['GOGOOKU_BENCH_MODULES'], 'w') as fh:\n"
    "        json.dump(sorted(names), fh)\n"
    "atexit.register(_record)\n" + GOGOOKU.replace("; ", "\n")
)

DATA = """
[data.splits]
scheme = "rolling"
train_days = 60
val_days = 20
test_days = 20
label_horizon = 20
purge_days = 21
first_day = 9

[data.loader]
window = 5
days_per_batch = 2
seed = 3
"""
# checkouts from before the [target] section name the run's horizons in [loss]
HORIZONS = "\n[{section}]\nhorizons = [1, 5, 20]\n"
MODELS = {
    "lgbm": 'kind = "lgbm"\nnum_boost_round = 20\nmin_data_in_leaf = 20\nnum_threads = 1\n',
    "linear": 'kind = "linear"\n',
    "atft": 'kind = "atft"\nhidden_size = 16\nattention_heads = 2\ngat_heads = 1\nwindow = 5\n'
    "static_embedding_dim = 2\n",
    "apex": 'kind = "apex"\nwindow = 5\nhidden_size = 16\nattention_heads = 2\nencoder_layers = 1\n'
    'attention_layers = 1\nmarket_blocks = ["sector"]\n',
}
TRAIN = "\n[train]\nepochs = 1\nlr = 0.003\nseed = 5\nprogress = false\n"


def _env(src: Path, home: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    if home is not None:
        env["GOGOOKU_HOME"] = str(home)
    return env


def _wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def cli_startup(src: Path, runs: int) -> dict:
    env = _env(src)
    py = sys.executable
    probes = {
        "baseline_python_s": [py, "-c", "pass"],
        "help_s": [py, "-c", GOGOOKU, "--help"],
        "import_gogooku_s": [py, "-c", "import gogooku"],
        "import_cli_s": [py, "-c", "import gogooku.cli"],
    }
    times: dict[str, list[float]] = {k: [] for k in probes}
    _wall(probes["help_s"], env)  # warm the file cache and the bytecode
    for _ in range(runs):
        for key, argv in probes.items():
            times[key].append(_wall(argv, env))
    out = {k: round(statistics.median(v), 3) for k, v in times.items()}
    out["help_over_python"] = round(out["help_s"] / out["baseline_python_s"], 2)
    out["help_minus_python_s"] = round(out["help_s"] - out["baseline_python_s"], 3)
    with tempfile.TemporaryDirectory() as tmp:
        modules = Path(tmp) / "modules.json"
        subprocess.run(
            [py, "-c", RECORDING, "--help"],
            env={**env, "GOGOOKU_BENCH_MODULES": str(modules)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        out["help_imports"] = json.loads(modules.read_text())
    return out


def _gogooku(src: Path, home: Path, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", GOGOOKU, *args],
        env=_env(src, home),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"gogooku {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def setup(src: Path, home: Path, kinds: list[str]) -> Path:
    """Bundles NAME = kind, promoted with stored predictions; returns the service config."""
    datasets = "equities_bars_daily,equities_master,indices_topix"
    _gogooku(src, home, "fetch", "--source", "synthetic", "--seed", "11", "--stocks", "24",
             "--start", "2020-01-01", "--end", "2020-12-31", "--datasets", datasets)  # fmt: skip
    _gogooku(src, home, "build", "--start", "2020-03-02", "--end", "2020-12-30", "--name",
             "tiny", "--blocks", "returns,sector")  # fmt: skip
    for kind in kinds:
        config = home / f"{kind}.toml"
        train = TRAIN if kind in ("atft", "apex") else ""
        section = "target" if (src / "gogooku" / "target.py").is_file() else "loss"
        horizons = HORIZONS.format(section=section)
        config.write_text(DATA + horizons + "\n[model]\n" + MODELS[kind] + train)
        _gogooku(src, home, "train", "--model", kind, "--dataset", "tiny", "--config",
                 str(config), "--run", kind)  # fmt: skip
        _gogooku(src, home, "bundle", "--run", kind, "--name", kind)
        _gogooku(src, home, "promote", kind, "v0001")
        _gogooku(src, home, "predict", "--bundle", kind)
    serve = home / "serve.toml"
    serve.write_text("max_data_age_s = 0\n")
    return serve


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_startup(src: Path, home: Path, config: Path, kind: str, timeout: float = 300) -> dict:
    port = _free_port()
    modules = home / f"serve_{kind}_modules.json"
    # --bundle and --config also as the environment: at 7f0d40e every command module is imported
    # up front, which creates the service app before the options are read
    env = {
        **_env(src, home),
        "GOGOOKU_BENCH_MODULES": str(modules),
        "GOGOOKU_SERVE_MODELS": kind,
        "GOGOOKU_SERVE_CONFIG": str(config),
    }
    args = ["serve", "--bundle", kind, "--port", str(port), "--config", str(config)]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORDING, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = None
    try:
        while time.perf_counter() - start < timeout and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    ready = time.perf_counter() - start
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    if ready is None:
        raise SystemExit(f"gogooku serve --bundle {kind} never got ready:\n{err[-3000:]}")
    return {"ready_s": round(ready, 2), "imports": json.loads(modules.read_text())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after", help="Key of this run in --out.")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="The measured src folder.")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--kinds", default="lgbm,linear,atft,apex")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "bench_startup.json"
    )
    args = parser.parse_args(argv)
    src = args.src.resolve()
    kinds = [k for k in args.kinds.split(",") if k]
    result: dict = {
        "src": str(src),
        "commit": subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "cli": cli_startup(src, args.runs),
    }
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        home = Path(tmp)
        config = setup(src, home, kinds)
        result["serve"] = {kind: serve_startup(src, home, config, kind) for kind in kinds}
    result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    doc = json.loads(args.out.read_text()) if args.out.is_file() else {}
    doc[args.label] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return doc


if __name__ == "__main__":
    main()
