"""Benchmark: ``/v1/rankings`` latency and throughput on loopback for a 4000-stock day.

    python bench/bench_serve.py [--stocks 4000] [--seconds 5] [--concurrency 1,10,100]
                                [--top-k 50] [--workers 1] [--rounds 1]
                                [--http auto|h11|httptools] [--loop auto|asyncio|uvloop]
                                [--store postgresql://...] [--response-cache-mb MB]
                                [--out FILE]

Prints JSON. Setup (in a temporary GOGOOKU_HOME): a ridge bundle ``bench`` with one feature
(promoted; the service verifies and loads it like any bundle), the prediction store filled
directly with random scores for ``--stocks`` codes on one date (with sectors and names), one API
key, and a service config with a rate limit far above the offered load. The service runs as
``uvicorn --factory gogooku.serve.app:create_app`` in a subprocess (``--workers`` processes);
the load generator is this process: ``--concurrency`` asyncio tasks, each on its own keep-alive HTTP/1.1 connection
(asyncio streams and a minimal GET/Content-Length client — httpx's per-request CPU made the
load generator, not the server, the bottleneck), sending requests back to back for
``--seconds`` after a one-second warm-up. With ``--rounds R`` each level runs the endpoints in
turn R times, ``--seconds``/R each (a 0.2 s warm-up after the first), and pools the rounds: a
burst of load from other processes then falls on every endpoint alike instead of on one, which
keeps the ratios to ``/healthz`` meaningful on a shared machine. Ratios to ``/healthz`` per level:
p99, throughput, and server CPU per request (the server's capacity ratio, inverted: the one other
load on the machine disturbs least). ``--http`` and ``--loop`` are
uvicorn's (``auto``: httptools and uvloop when installed, else h11 and asyncio); the JSON
records which were installed. Per endpoint and concurrency: requests, throughput
(requests/s), latency p50/p90/p99/max in ms (wall time from send to the full body), errors,
and ``server_cpu_ms_per_request`` — the server processes' CPU time (``/proc``) during the level
(warm-up included) over the requests answered: the cost of a request on the server, which other
load on the machine inflates far less than latency — and ``client_cpu_ms_per_request``, the same
for the load generator (this process): when it is near 1000 / throughput the client, not the
server, sets the pace.

Endpoints: ``/v1/rankings?top_k=K`` (the default 50 and, ``full``, all stocks) and the baseline
``/healthz`` (no auth, no store) on the same server and load, so ``ratio_p99_vs_healthz`` states
what the ranking path costs beyond the HTTP stack. With ``--store URL`` (a PostgreSQL database
the bench may write: it stores the same day there as model ``bench`` and adds a key) a second
server on that store runs beside the SQLite one, and its endpoints, prefixed ``postgresql_``,
take their turns in the same rounds (ratios against its own ``/healthz``; its server CPU excludes
the PostgreSQL server's). ``--response-cache-mb 0`` turns the service's response cache off
(every ranking request then reads the store; default: the service's own default). The load generator and the server share the
machine's cores; the 1-minute load average before and after is recorded because other processes
on a shared machine inflate every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from importlib.util import find_spec
from pathlib import Path

import httpx
import numpy as np
import polars as pl

from gogooku.bundle.predstore import PredictionStore, to_store_frame
from gogooku.bundle.store import promote, write_bundle
from gogooku.bundle.storeurl import STORE_FILE
from gogooku.httpserver import free_port
from gogooku.runs import Ranges
from gogooku.serve.auth import add_key
from gogooku.serve.dbkeys import StoreKeys

DAY = dt.date(2026, 1, 30)
CONFIG = """
[model]
kind = "linear"
[target]
horizons = [1, 5]
main_horizon = 5
[data.splits]
label_horizon = 5
"""


def setup(
    home: Path, stocks: int, seed: int = 0, store: str | None = None
) -> tuple[str, str | None]:
    """Bundle, prediction store and key file under ``home`` (and the day and a key in the
    PostgreSQL ``store``); returns the API keys (SQLite's, the store's)."""
    os.environ["GOGOOKU_HOME"] = str(home)
    files = home / "src"
    files.mkdir(parents=True)
    (files / "config.toml").write_text(CONFIG)
    coef = {str(h): {"inputs": ["f0"], "coef": [0.1], "intercept": 0.0} for h in (1, 5)}
    (files / "linear.json").write_text(json.dumps(coef))
    (files / "run.json").write_text("{}")
    day = dt.date(2025, 1, 6)
    info = {
        "run_id": "bench",
        "model": "linear",
        "dataset": "bench",
        "horizons": [1, 5],
        "main_horizon": 5,
        "ranges": Ranges(train=(day, day), valid=(day, day), test=(day, day)),
        "features": ["f0"],
        "feature_hash": "0" * 64,
        "window": 1,
        "normalization": {"method": "rank_gauss", "clip": 5.0, "missing_indicator": False},
        "model_files": ["linear.json"],
        "dataset_schema_hash": None,
        "run_code_version": "bench",
    }
    names = ("config.toml", "linear.json", "run.json")
    write_bundle("bench", {n: files / n for n in names}, info)
    promote("bench", "v0001")
    rng = np.random.default_rng(seed)
    codes = [f"{1300 + i:04d}0" for i in range(stocks)]
    score = rng.standard_normal(stocks)
    scores = pl.DataFrame({"Code": codes, "pred_1d": score / 2, "pred_5d": score})
    sector = (pl.int_range(stocks) % 33 + 1) * 50
    frame = to_store_frame(scores, [1, 5], 5).with_columns(
        sector=sector.cast(pl.String).str.zfill(4),
        sector_name=pl.format("sector {}", sector),
        name=pl.format("company {}", pl.col("Code")),
    )
    PredictionStore(home / STORE_FILE).write_day("bench", "v0001", DAY, frame, stocks, "bench")
    (home / "serve.toml").write_text("rate_per_s = 1e9\nrate_burst = 1000000000\n")
    pg_key = None
    if store is not None:
        PredictionStore(store).write_day("bench", "v0001", DAY, frame, stocks, "bench")
        pg_key = StoreKeys(store).add(f"bench-{uuid.uuid4().hex[:8]}")
    return add_key(home / "keys.json", "bench"), pg_key


async def _get(reader, writer, request: bytes) -> int:
    """Send one keep-alive GET and read the whole response; returns the status code."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _load(
    url: str, path: str, headers: dict, concurrency: int, seconds: float, warmup: float
) -> tuple[list[float], int, float]:
    """Latencies (s) and errors of ``seconds`` of back-to-back requests after ``warmup``, and
    the seconds measured."""
    latencies: list[float] = []
    errors = 0
    host, port = url.removeprefix("http://").split(":")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    conns = [await asyncio.open_connection(host, int(port)) for _ in range(concurrency)]

    async def worker(conn, deadline: float, record: bool) -> None:
        nonlocal errors
        reader, writer = conn
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            ok = await _get(reader, writer, request) == 200
            if record:
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

    warm = time.perf_counter() + warmup
    await asyncio.gather(*(worker(c, warm, False) for c in conns))
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c, t0 + seconds, True) for c in conns))
    elapsed = time.perf_counter() - t0
    for _, writer in conns:
        writer.close()
    return latencies, errors, elapsed


def _summary(latencies: list[float], errors: int, elapsed: float) -> dict:
    ms = np.asarray(latencies) * 1000
    pct = (lambda q: round(float(np.percentile(ms, q)), 2)) if len(ms) else (lambda q: None)
    return {
        "requests": len(latencies),
        "errors": errors,
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(float(ms.max()), 2) if len(ms) else None,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its descendants (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        total += _cpu_seconds(int(child))
    return total


def _wait_ready(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start in 180 s")


def _ratios(row: dict, prefix: str) -> None:
    """Ratios of each endpoint of the server ``prefix`` to that server's ``/healthz``."""
    base = row[prefix + "baseline_healthz"]
    for name in [n for n in row if n.startswith(prefix) and n != prefix + "baseline_healthz"]:
        if prefix == "" and name.startswith("postgresql_"):
            continue
        if base["p99_ms"] and row[name]["p99_ms"] is not None:
            row[name]["ratio_p99_vs_healthz"] = round(row[name]["p99_ms"] / base["p99_ms"], 2)
        if base["throughput_rps"]:
            ratio = row[name]["throughput_rps"] / base["throughput_rps"]
            row[name]["ratio_throughput_vs_healthz"] = round(ratio, 2)
        if base["server_cpu_ms_per_request"]:
            cpu = row[name]["server_cpu_ms_per_request"] / base["server_cpu_ms_per_request"]
            row[name]["ratio_server_cpu_vs_healthz"] = round(cpu, 2)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,10,100")
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--http", choices=["auto", "h11", "httptools"], default="auto")
    parser.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--store", default=None, help="also measure a PostgreSQL store (URL)")
    parser.add_argument(
        "--response-cache-mb", type=float, default=None, help="the service's (0: no cache)"
    )
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        key, pg_key = setup(home, args.stocks, store=args.store)
        if args.response_cache_mb is not None:
            with (home / "serve.toml").open("a") as fh:
                fh.write(f"response_cache_mb = {args.response_cache_mb}\n")
        env = {
            **os.environ,
            "GOGOOKU_HOME": str(home),
            "GOGOOKU_SERVE_MODELS": "bench",
            "GOGOOKU_API_KEYS_FILE": str(home / "keys.json"),
            "GOGOOKU_SERVE_CONFIG": str(home / "serve.toml"),
        }
        env.pop("GOGOOKU_STORE", None)
        servers = {"": (env, key)}
        if args.store is not None:
            pg_env = {k: v for k, v in env.items() if k != "GOGOOKU_API_KEYS_FILE"}
            servers["postgresql_"] = ({**pg_env, "GOGOOKU_STORE": args.store}, pg_key)
        try:
            endpoints: dict[str, tuple[str, str, dict, subprocess.Popen]] = {}
            for prefix, (server_env, server_key) in servers.items():
                port = free_port()
                cmd = [sys.executable, "-m", "uvicorn", "--factory", "gogooku.serve.app:create_app"]
                cmd += ["--port", str(port)]
                cmd += ["--log-level", "warning", "--workers", str(args.workers)]
                cmd += ["--http", args.http, "--loop", args.loop]
                procs.append(subprocess.Popen(cmd, env=server_env))
                url = f"http://127.0.0.1:{port}"
                _wait_ready(url, procs[-1])
                headers = {"X-API-Key": server_key}
                paths = {
                    "baseline_healthz": "/healthz",
                    f"rankings_top{args.top_k}": f"/v1/rankings?top_k={args.top_k}",
                    "rankings_full": f"/v1/rankings?top_k={args.stocks}",
                }
                for name, path in paths.items():
                    endpoints[prefix + name] = (url, path, headers, procs[-1])
                full = url + paths["rankings_full"]
                check = httpx.get(full, headers=headers, timeout=60).json()
                assert check["total"] == args.stocks and check["count"] == args.stocks
            result: dict = {
                "benchmark": "serve",
                "stocks": args.stocks,
                "seconds_per_level": args.seconds,
                "workers": args.workers,
                "rounds": args.rounds,
                "http": args.http,
                "loop": args.loop,
                "stores": ["sqlite"] + (["postgresql"] if args.store else []),
                "response_cache_mb": args.response_cache_mb,
                "installed": {m: find_spec(m) is not None for m in ("httptools", "uvloop")},
                "cpus": os.cpu_count(),
                "loadavg_before": round(os.getloadavg()[0], 2),
                "response_bytes": {
                    name: len(httpx.get(url + path, headers=headers, timeout=60).content)
                    for name, (url, path, headers, _) in endpoints.items()
                },
                "levels": {},
            }
            for c in levels:
                pooled = {name: ([], 0, 0.0, 0.0, 0.0) for name in endpoints}
                for r in range(args.rounds):
                    for name, (url, path, headers, proc) in endpoints.items():
                        cpu0, client0 = _cpu_seconds(proc.pid), time.process_time()
                        lat, err, secs = asyncio.run(
                            _load(
                                url, path, headers, c, args.seconds / args.rounds, 0.2 if r else 1.0
                            )
                        )
                        cpu = _cpu_seconds(proc.pid) - cpu0
                        client = time.process_time() - client0
                        lat0, err0, secs0, cpu_sum, client_sum = pooled[name]
                        pooled[name] = (
                            lat0 + lat,
                            err0 + err,
                            secs0 + secs,
                            cpu_sum + cpu,
                            client_sum + client,
                        )
                row = {}
                for name, (lat, err, elapsed, cpu, client) in pooled.items():
                    row[name] = _summary(lat, err, elapsed)
                    done = max(len(lat) + err, 1)
                    row[name]["server_cpu_ms_per_request"] = round(1000 * cpu / done, 3)
                    row[name]["client_cpu_ms_per_request"] = round(1000 * client / done, 3)
                for prefix in servers:
                    _ratios(row, prefix)
                result["levels"][str(c)] = row
            result["loadavg_after"] = round(os.getloadavg()[0], 2)
            p99 = result["levels"].get("100", {}).get(f"rankings_top{args.top_k}", {}).get("p99_ms")
            result["target_p99_ms_at_100"] = 20
            result["meets_target"] = None if p99 is None else p99 <= 20
            result["ratio_goal"] = "rankings throughput >= 0.8 x /healthz, p99 <= 2 x (issue 26)"
            result["meets_ratio_goal"] = {
                c: row[f"rankings_top{args.top_k}"].get("ratio_throughput_vs_healthz", 0) >= 0.8
                and row[f"rankings_top{args.top_k}"].get("ratio_p99_vs_healthz", 1e9) <= 2
                for c, row in result["levels"].items()
            }
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
