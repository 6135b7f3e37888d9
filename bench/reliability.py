"""Reliability and security probes: bad inputs through the real CLI, attacks on ``gogooku serve``.

    python bench/reliability.py [--only bad|security] [--ids ID,...] [--keep DIR]

Prints JSON ``{"bad_inputs": {n, clear_error, unclear_error, traceback, silent_acceptance,
failures}, "security_probes": {n, passed, failed, failures}, "seconds": ...}`` and exits 1 when
any bad input is not a clear error or any probe fails (issue #22: 0 tracebacks, 0 silent
acceptances, 0 security failures). ``--ids`` runs only the rows whose id starts with one of the
given prefixes (``--ids date,config``); ``--keep DIR`` keeps the work folder there.

Setup (in a temporary GOGOOKU_HOME, through the CLI): a 20-stock synthetic market (2020; bars,
master, TOPIX), the dataset ``tiny`` (returns and sector blocks), a ridge run ``ln`` bundled twice
(``rel`` and ``tamper``), both promoted, with stored predictions. Only the rows that need it
build it.

``BAD_INPUTS``: each row a command line that must fail. It runs as ``python -m gogooku ...`` in
a subprocess, in its own work folder (``{work}`` in the arguments), with its own copy of the
home when it needs the market (``{home}``), after its ``prep`` (a function of ``PREPS`` that
writes a bad file or damages the copy). Outcome: ``clear_error`` (non-zero exit, no
``Traceback``, every string of ``names`` in the output, case-insensitive), ``unclear_error``
(the same but a name missing), ``traceback``, or ``silent_acceptance`` (exit 0, or still running
after ``timeout`` seconds: a server or a demo that started instead of refusing).

``SECURITY_PROBES``: each row one request to ``gogooku serve --config serve.toml --bundle rel
--bundle tamper`` (uvicorn on a free loopback port, sent on a raw socket so that nothing
normalises the target) with the key it names (``good``: a key of its own, so rate limits of one
probe never touch another; ``none``, ``wrong``, ``revoked``, ``prefix``: the good key with its
last characters changed, ``query``: the good key in the query string instead of the header,
``bearer``: in ``Authorization``), the status it expects and an optional ``check`` of the
response; or a ``custom`` probe of ``CUSTOM`` (chunked bodies, slow clients, key timing, rate
limit, tampering with the served bundle, a service that requires signed bundles). The tampering
probes run last and restore the bundle after each.

Runtime: about 3–4 minutes on 2 busy cores (setup ≈ 50 s, bad inputs ≈ 2 s each).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gogooku
from gogooku.httpserver import free_port
from gogooku.serve.auth import add_key, revoke_key

SRC = str(Path(gogooku.__file__).resolve().parents[1])
MARKET = [
    "fetch --source synthetic --seed 11 --stocks 20 --start 2020-01-01 --end 2020-12-31 "
    "--datasets equities_bars_daily,equities_master,indices_topix",
    "build --start 2020-03-02 --end 2020-12-30 --name tiny --blocks returns,sector",
    "train --model linear --dataset tiny --config {home}/ln.toml --run ln",
    "bundle --run ln --name rel",
    "bundle --run ln --name tamper",
    "promote rel v0001",
    "promote tamper v0001",
    "predict --bundle rel",
    "predict --bundle tamper",
]
RUN_CONFIG = """
[data.splits]
scheme = "rolling"
train_days = 60
val_days = 20
test_days = 20
label_horizon = 20
purge_days = 21
first_day = 9

[target]
horizons = [1, 5, 20]

[model]
kind = "{kind}"
"""
ATFT_MODEL = "hidden_size = 8\nattention_heads = 1\ngat_heads = 1\nwindow = 5\n"
ATFT_LOADER = "\n[data.loader]\nwindow = 5\ndays_per_batch = 2\n"
SERVE_CONFIG = """
models = ["rel", "tamper"]
api_keys_file = "{keys}"
rate_per_s = 0.2
rate_burst = 12
max_body_bytes = 8192
max_data_age_s = 0
default_top_k = 10
max_top_k = 100
max_predict_rows = 5
protect_ops = true
"""
# The signed-manifest settings (issue #22); their names follow the h-sec branch's ServeConfig.
SIGNED_CONFIG = 'require_signed_bundles = true\nbundle_key_file = "{key}"\n'


# --------------------------------------------------------------------------------------------
# Bad inputs


@dataclass(frozen=True)
class BadInput:
    """A command line that must fail with a message naming each of ``names``."""

    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    prep: str | None = None
    market: bool = False
    timeout: float = 90.0


def B(id: str, argv: str, *names: str, prep: str | None = None, market: bool = False, timeout=90.0):
    """One row of ``BAD_INPUTS``; ``argv`` split on spaces."""
    return BadInput(id, tuple(argv.split()), names, prep, market, timeout)


BAD_INPUTS: list[BadInput] = [
    B("config-unknown-key", "train --model linear --dataset tiny --config {work}/c.toml", "kindd", "c.toml", prep="cfg_unknown_key", market=True),
    B("config-wrong-type", "train --model linear --dataset tiny --config {work}/c.toml", "epochs", prep="cfg_wrong_type", market=True),
    B("config-malformed-toml", "train --model linear --dataset tiny --config {work}/c.toml", "c.toml", prep="cfg_malformed", market=True),
    B("config-missing-file", "train --model linear --dataset tiny --config {work}/nope.toml", "nope.toml"),
    B("config-set-bad-value", "splits --dataset tiny --config {work}/c.toml --set splits.train_days=abc", "train_days", prep="cfg_splits"),
    B("config-set-no-equals", "splits --dataset tiny --config {work}/c.toml --set nonsense", "nonsense", prep="cfg_splits"),
    B("config-set-unknown-key", "splits --dataset tiny --config {work}/c.toml --set splits.nope=1", "nope", prep="cfg_splits"),
    B("config-splits-negative", "splits --dataset tiny --config {work}/c.toml --set splits.train_days=-5", "train_days", prep="cfg_splits"),
    B("config-serve-unknown-key", "serve --port 1 --config {work}/s.toml", "rate_per_sec", prep="serve_unknown_key", timeout=30),
    B("config-serve-out-of-range", "serve --port 1 --config {work}/s.toml", "max_top_k", prep="serve_zero_top_k", timeout=30),
    B("config-apikey-corrupt-file", "apikey list --file {work}/keys.json", "keys.json", prep="corrupt_keys"),
    B("date-feb-30", "fetch --source synthetic --start 2020-02-30 --end 2020-03-31", "2020-02-30"),
    B("date-end-before-start", "fetch --source synthetic --start 2020-06-01 --end 2020-01-01", "2020-01-01"),
    B("date-future", "fetch --source synthetic --start 2099-01-01 --end 2099-12-31", "2099", timeout=30),
    B("date-not-a-date", "fetch --source synthetic --start tomorrow --end 2020-03-31", "tomorrow"),
    B("date-build-month-13", "build --start 2020-13-01 --end 2020-12-30 --name tiny", "2020-13-01"),
    B("date-build-end-before-start", "build --start 2020-12-01 --end 2020-06-01 --name tiny", "2020-06-01", market=True),
    B("date-build-outside-store", "build --start 2031-01-05 --end 2031-06-30 --name late", "2031", market=True),
    B("date-predict-feb-30", "predict --bundle rel --date 2020-02-30", "2020-02-30", market=True),
    B("date-predict-no-data", "predict --bundle rel --date 2030-01-04", "2030-01-04", market=True),
    B("name-unknown-dataset-id", "fetch --source synthetic --start 2020-01-01 --end 2020-03-31 --datasets equities_bars_weekly", "equities_bars_weekly"),
    B("name-unknown-block", "build --start 2020-03-02 --end 2020-12-30 --name x --blocks returns,nosuchblock", "nosuchblock", market=True),
    B("name-unknown-model", "train --model xgboost --dataset tiny", "xgboost", market=True),
    B("name-unknown-dataset", "train --model linear --dataset nosuch", "nosuch"),
    B("name-unknown-bundle", "predict --bundle nosuch", "nosuch"),
    B("name-unknown-version", "promote rel v0099", "v0099", market=True),
    B("name-unknown-run", "bundle --run nosuchrun", "nosuchrun"),
    B("name-bad-bundle-name", "bundle --run ln --name ../evil", "../evil", market=True),
    B("fetch-jquants-without-key", "fetch --source jquants --start 2020-01-06 --end 2020-01-10", "JQUANTS_API_KEY"),
    B("import-missing-file", "import prices {work}/missing.csv", "missing.csv"),
    B("import-empty-csv", "import prices {work}/p.csv", "p.csv", prep="csv_empty"),
    B("import-wrong-columns", "import prices {work}/p.csv", "p.csv", prep="csv_wrong_columns"),
    B("import-nan-close", "import prices {work}/p.csv", "close", prep="csv_nan"),
    B("import-negative-price", "import prices {work}/p.csv", "close", prep="csv_negative"),
    B("import-duplicate-rows", "import prices {work}/p.csv", "duplicate", prep="csv_duplicate"),
    B("store-truncated-parquet-build", "build --start 2020-03-02 --end 2020-12-30 --name fresh", "2020-01.parquet", "fetch --repair", prep="truncate_raw", market=True),
    B("store-truncated-parquet-fetch", "fetch --source synthetic --seed 11 --stocks 20 --start 2020-01-01 --end 2020-12-31 --datasets equities_bars_daily", "2020-01.parquet", "--repair", prep="truncate_raw", market=True),
    B("store-corrupt-catalog", "store status", "catalog.sqlite", prep="corrupt_catalog", market=True),
    B("cache-truncated-features", "train --model atft --dataset tiny --config {work}/c.toml --set train.epochs=1", "features.npy", "rebuild", prep="truncate_cache", market=True),
    B("cache-truncated-dates", "splits --dataset tiny --config {work}/c.toml", "dates.npy", prep="truncate_dates", market=True),
    B("synth-error-rate-2", "synth serve --port 1 --error-rate 2", "error-rate", timeout=30),
    B("synth-drop-rate-negative", "synth serve --port 1 --drop-rate -0.5", "drop-rate", timeout=30),
    B("synth-too-few-stocks", "fetch --source synthetic --stocks 5 --start 2020-01-01 --end 2020-03-31", "stocks"),
    B("demo-configs-missing", "demo --home {work}/h --configs {work}/noconfigs", "noconfigs", timeout=40),
    B("bundle-missing-file", "promote tamper v0001", "linear.json", prep="bundle_missing_file", market=True),
]  # fmt: skip


def _write(name: str, text: str) -> Callable[[Path, Path], None]:
    return lambda home, work: (work / name).write_text(text)


def _truncate(relative: str, keep: int = 100) -> Callable[[Path, Path], None]:
    def prep(home: Path, work: Path) -> None:
        path = home / relative
        path.write_bytes(path.read_bytes()[:keep])
        if not relative.endswith(".parquet"):
            (work / "c.toml").write_text(ATFT_LOADER + RUN_CONFIG.format(kind="atft") + ATFT_MODEL)

    return prep


def _remove(relative: str) -> Callable[[Path, Path], None]:
    return lambda home, work: (home / relative).unlink()


CSV_HEAD = "Date,Code,Open,High,Low,Close,Volume\n"
PREPS: dict[str, Callable[[Path, Path], None]] = {
    "cfg_unknown_key": _write("c.toml", RUN_CONFIG.format(kind="linear") + "kindd = 1\n"),
    "cfg_wrong_type": _write("c.toml", RUN_CONFIG.format(kind="linear") + '[train]\nepochs = "ten"\n'),
    "cfg_malformed": _write("c.toml", "[model\nkind = 'linear'\n"),
    "cfg_splits": _write("c.toml", "[splits]\ntrain_days = 60\n"),
    "serve_unknown_key": _write("s.toml", "rate_per_sec = 5\n"),
    "serve_zero_top_k": _write("s.toml", "max_top_k = 0\n"),
    "corrupt_keys": _write("keys.json", '{"keys": [{"name": '),
    "csv_empty": _write("p.csv", ""),
    "csv_wrong_columns": _write("p.csv", "a,b,c\n1,2,3\n"),
    "csv_nan": _write("p.csv", CSV_HEAD + "2020-01-06,1301,10,11,9,NaN,100\n"),
    "csv_negative": _write("p.csv", CSV_HEAD + "2020-01-06,1301,10,11,9,-10,100\n"),
    "csv_duplicate": _write("p.csv", CSV_HEAD + "2020-01-06,1301,10,11,9,10,100\n" * 2),
    "truncate_raw": _truncate("raw/equities_bars_daily/2020-01.parquet"),
    "corrupt_catalog": lambda home, work: (home / "raw/catalog.sqlite").write_bytes(b"garbage" * 100),
    "truncate_cache": _truncate("datasets/tiny/cache/features.npy", 1000),
    "truncate_dates": _truncate("datasets/tiny/cache/dates.npy", 20),
    "bundle_missing_file": _remove("bundles/tamper/v0001/linear.json"),
}  # fmt: skip


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOGOOKU_", "JQUANTS_"))}
    return {**env, "GOGOOKU_HOME": str(home), "PYTHONPATH": SRC}


def cli(argv: list[str], home: Path, cwd: Path, timeout: float) -> tuple[int | None, str]:
    """Run ``python -m gogooku argv``; (exit code or None when killed at ``timeout``, output)."""
    with subprocess.Popen(
        [sys.executable, "-m", "gogooku", *argv],
        cwd=cwd,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
            return proc.returncode, out
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return None, out


def classify(code: int | None, output: str, names: tuple[str, ...]) -> str:
    """The outcome of a bad input (see module doc)."""
    if code is None or code == 0:
        return "silent_acceptance"
    if "Traceback" in output:
        return "traceback"
    low = output.lower()
    return "clear_error" if all(n.lower() in low for n in names) else "unclear_error"


def make_market(home: Path) -> Path:
    """The market, dataset, run, bundles and predictions of the module doc under ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "ln.toml").write_text(RUN_CONFIG.format(kind="linear"))
    for line in MARKET:
        code, out = cli(line.replace("{home}", str(home)).split(), home, home, 600)
        if code != 0:
            raise RuntimeError(f"setup step {line} failed:\n{out[-2000:]}")
    return home


def run_bad_input(case: BadInput, market: Path | None, root: Path) -> dict:
    work = root / case.id
    work.mkdir(parents=True)
    home = work / "home"
    if case.market:
        shutil.copytree(market, home, symlinks=True)
    if case.prep:
        PREPS[case.prep](home, work)
    argv = [a.replace("{work}", str(work)).replace("{home}", str(home)) for a in case.argv]
    t0 = time.perf_counter()
    code, out = cli(argv, home, work, case.timeout)
    seconds = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    outcome = classify(code, out, case.names)
    tail = "\n".join(out.strip().splitlines()[-3:])
    return {"id": case.id, "outcome": outcome, "exit": code, "s": round(seconds, 1), "tail": tail}


def bad_inputs(cases: list[BadInput], market: Callable[[], Path], root: Path) -> dict:
    results = [run_bad_input(c, market() if c.market else None, root) for c in cases]
    kinds = ("clear_error", "unclear_error", "traceback", "silent_acceptance")
    summary: dict = {"n": len(results), **dict.fromkeys(kinds, 0)}
    for r in results:
        summary[r["outcome"]] += 1
    summary["failures"] = [r for r in results if r["outcome"] != "clear_error"]
    return summary


# --------------------------------------------------------------------------------------------
# Security probes


@dataclass(frozen=True)
class Probe:
    """One request and what the service must answer (see module doc)."""

    id: str
    method: str = "GET"
    target: str = "/"
    key: str = "good"
    expect: tuple[int, ...] = (200,)
    body: str | None = None
    check: str | None = None
    custom: str | None = None


def P(id: str, method: str, target: str, key: str, *expect: int, body=None, check=None) -> Probe:
    """One row of ``SECURITY_PROBES``."""
    return Probe(id, method, target, key, expect, body, check)


def C(id: str, custom: str) -> Probe:
    """A custom row of ``SECURITY_PROBES`` (a function of ``CUSTOM``)."""
    return Probe(id, custom=custom)


SECURITY_PROBES: list[Probe] = [
    P("auth-models-no-key", "GET", "/v1/models", "none", 401),
    P("auth-rankings-no-key", "GET", "/v1/rankings", "none", 401),
    P("auth-predict-no-key", "POST", "/v1/predict", "none", 401, body="predict_valid"),
    P("auth-models-wrong-key", "GET", "/v1/models", "wrong", 401),
    P("auth-rankings-wrong-key", "GET", "/v1/rankings", "wrong", 401),
    P("auth-predict-wrong-key", "POST", "/v1/predict", "wrong", 401, body="predict_valid"),
    P("auth-revoked-key", "GET", "/v1/rankings", "revoked", 403),
    P("auth-revoked-key-predict", "POST", "/v1/predict", "revoked", 403, body="predict_valid"),
    P("auth-key-prefix", "GET", "/v1/rankings", "prefix", 401),
    P("auth-key-in-query", "GET", "/v1/rankings?api_key={key}", "query", 401),
    P("auth-key-in-query-x", "GET", "/v1/rankings?X-API-Key={key}", "query", 401),
    P("auth-key-as-bearer", "GET", "/v1/rankings", "bearer", 401),
    P("auth-empty-key", "GET", "/v1/rankings", "empty", 401),
    P("auth-huge-key", "GET", "/v1/rankings", "huge", 401),
    P("auth-good-key-models", "GET", "/v1/models", "good", 200),
    P("auth-good-key-rankings", "GET", "/v1/rankings", "good", 200),
    P("auth-good-key-predict", "POST", "/v1/predict", "good", 200, body="predict_valid"),
    C("auth-timing-prefix", "key_timing"),
    P("ops-healthz-open", "GET", "/healthz", "none", 200),
    P("ops-readyz-open", "GET", "/readyz", "none", 200),
    P("ops-metrics-no-key", "GET", "/metrics", "none", 401),
    P("ops-metrics-wrong-key", "GET", "/metrics", "wrong", 401),
    P("ops-metrics-good-key", "GET", "/metrics", "good", 200),
    P("ops-docs-no-key", "GET", "/docs", "none", 401),
    P("ops-docs-good-key", "GET", "/docs", "good", 200),
    P("ops-openapi-no-key", "GET", "/openapi.json", "none", 401),
    P("ops-openapi-good-key", "GET", "/openapi.json", "good", 200),
    P("ops-redoc-closed", "GET", "/redoc", "none", 401, 404),
    P("ops-docs-oauth-redirect", "GET", "/docs/oauth2-redirect", "none", 401, 404),
    P("ops-openapi-dotdot", "GET", "/docs/../openapi.json", "none", 400, 401, 404),
    P("hdr-nosniff-healthz", "GET", "/healthz", "none", 200, check="nosniff"),
    P("hdr-nosniff-401", "GET", "/v1/models", "none", 401, check="nosniff"),
    P("hdr-nosniff-404", "GET", "/nope", "none", 404, check="nosniff"),
    P("hdr-no-store-models", "GET", "/v1/models", "good", 200, check="no_store"),
    P("hdr-no-store-rankings", "GET", "/v1/rankings", "good", 200, check="no_store"),
    P("hdr-no-store-401", "GET", "/v1/rankings", "none", 401, check="no_store"),
    P("hdr-no-store-predict", "POST", "/v1/predict", "good", 200, body="predict_valid", check="no_store"),
    P("hdr-json-content-type", "GET", "/v1/rankings", "good", 200, check="json"),
    P("cors-no-allow-origin", "GET", "/v1/rankings", "good", 200, check="no_cors"),
    P("cors-preflight-refused", "OPTIONS", "/v1/rankings", "cors", 401, 404, 405, check="no_cors"),
    P("cors-no-credentials", "GET", "/healthz", "cors", 200, check="no_cors"),
    P("method-delete-models", "DELETE", "/v1/models", "good", 405),
    P("method-put-rankings", "PUT", "/v1/rankings", "good", 405),
    P("method-get-predict", "GET", "/v1/predict", "good", 405),
    P("method-post-rankings", "POST", "/v1/rankings", "good", 405, body="json_empty"),
    P("method-patch-readyz", "PATCH", "/readyz", "none", 405),
    P("method-trace-root", "TRACE", "/", "none", 404, 405),
    P("method-bogus", "BREW", "/v1/models", "good", 400, 405, 501),
    P("param-top-k-over-max", "GET", "/v1/rankings?top_k=101", "good", 422),
    P("param-top-k-max", "GET", "/v1/rankings?top_k=100", "good", 200),
    P("param-top-k-huge", "GET", "/v1/rankings?top_k=99999999999999999999", "good", 422),
    P("param-top-k-zero", "GET", "/v1/rankings?top_k=0", "good", 422),
    P("param-top-k-negative", "GET", "/v1/rankings?top_k=-1", "good", 422),
    P("param-top-k-nan", "GET", "/v1/rankings?top_k=NaN", "good", 422),
    P("param-top-k-float", "GET", "/v1/rankings?top_k=1.5", "good", 422),
    P("param-top-k-text", "GET", "/v1/rankings?top_k=abc", "good", 422),
    P("param-default-top-k", "GET", "/v1/rankings", "good", 200, check="count_10"),
    P("param-date-feb-30", "GET", "/v1/rankings?date=2020-02-30", "good", 422),
    P("param-date-text", "GET", "/v1/rankings?date=yesterday", "good", 422),
    P("param-date-no-data", "GET", "/v1/rankings?date=2099-01-05", "good", 404),
    P("param-no-echo", "GET", "/v1/rankings?top_k=%3Cscript%3Ealert(1)%3C/script%3E", "good", 422, check="no_echo"),
    P("param-sector-injection", "GET", "/v1/rankings?sector=%27%20OR%201%3D1--", "good", 200, check="count_0"),
    P("param-unknown-param-ignored", "GET", "/v1/rankings?admin=1", "good", 200),
    P("trav-model-dotdot", "GET", "/v1/rankings?model=../tamper", "good", 404),
    P("trav-model-encoded", "GET", "/v1/rankings?model=%2e%2e%2frel", "good", 404),
    P("trav-model-nul", "GET", "/v1/rankings?model=rel%00", "good", 404),
    P("trav-model-absolute", "GET", "/v1/rankings?model=/etc/passwd", "good", 404),
    P("trav-model-unserved", "GET", "/v1/rankings?model=other", "good", 404),
    P("trav-path-dotdot", "GET", "/v1/../../etc/passwd", "good", 400, 404),
    P("trav-path-encoded", "GET", "/%2e%2e/%2e%2e/etc/passwd", "good", 400, 404),
    P("trav-path-nul", "GET", "/v1/models%00", "good", 400, 404),
    P("trav-v1-dotdot-no-key", "GET", "/v1/../v1/models", "none", 400, 401, 404),
    P("trav-predict-model", "POST", "/v1/predict", "good", 404, body="predict_model_dotdot"),
    P("body-malformed-json", "POST", "/v1/predict", "good", 422, body="json_malformed"),
    P("body-truncated-json", "POST", "/v1/predict", "good", 422, body="json_truncated"),
    P("body-not-object", "POST", "/v1/predict", "good", 422, body="json_list"),
    P("body-empty", "POST", "/v1/predict", "good", 422, body="empty"),
    P("body-no-rows", "POST", "/v1/predict", "good", 422, body="json_empty"),
    P("body-unknown-field", "POST", "/v1/predict", "good", 422, body="predict_unknown_field"),
    P("body-unknown-feature", "POST", "/v1/predict", "good", 422, body="predict_unknown_feature"),
    P("body-missing-feature", "POST", "/v1/predict", "good", 422, body="predict_missing_feature"),
    P("body-nan-feature", "POST", "/v1/predict", "good", 422, body="predict_nan"),
    P("body-infinity-feature", "POST", "/v1/predict", "good", 422, body="predict_infinity"),
    P("body-huge-number", "POST", "/v1/predict", "good", 422, body="predict_huge_number"),
    P("body-string-feature", "POST", "/v1/predict", "good", 422, body="predict_string"),
    P("body-duplicate-rows", "POST", "/v1/predict", "good", 422, body="predict_duplicate"),
    P("body-too-many-rows", "POST", "/v1/predict", "good", 413, body="predict_six_rows"),
    P("body-long-code", "POST", "/v1/predict", "good", 422, body="predict_long_code"),
    P("body-bad-date", "POST", "/v1/predict", "good", 422, body="predict_bad_date"),
    P("body-deep-nesting", "POST", "/v1/predict", "good", 413, 422, body="json_deep"),
    P("size-content-length-over", "POST", "/v1/predict", "good", 413, body="big"),
    P("size-content-length-lie", "POST", "/v1/predict", "good", 413, body="claims_big"),
    C("size-chunked-over", "chunked_over"),
    C("size-chunked-under", "chunked_under"),
    P("size-content-length-invalid", "POST", "/v1/predict", "good", 400, body="bad_length"),
    P("size-huge-header", "GET", "/healthz", "huge_header", 400, 431),
    C("rate-limit-429", "rate_limit"),
    C("rate-limit-per-key", "rate_limit_other_key"),
    C("slow-clients-do-not-block", "slow_clients"),
    C("slow-partial-request-closed", "partial_request_closed"),
    C("tamper-same-size-mtime", "tamper_same_size"),
    C("tamper-changed-size", "tamper_changed_size"),
    C("tamper-file-removed", "tamper_removed"),
    C("tamper-current-outside", "current_outside"),
    C("tamper-current-missing-version", "current_missing_version"),
    C("tamper-recovers-after-restore", "tamper_restored"),
    C("signed-unsigned-refused", "unsigned_refused"),
]  # fmt: skip


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def http(port: int, method: str, target: str, headers: dict[str, str], body: bytes | None = None,
         chunks: list[bytes] | None = None, timeout: float = 15.0) -> Response:  # fmt: skip
    """Send one request on a raw socket (the target exactly as given) and read the response."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if chunks is not None:
        lines.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    else:
        payload = body or b""
        if body is not None and not any(k.lower() == "content-length" for k in headers):
            lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        # The server may answer (413) and close before it has read the whole body.
        with contextlib.suppress(OSError):
            sock.sendall(payload)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    if not status_line.startswith("HTTP/"):
        raise ConnectionError(f"no HTTP response (got {data[:80]!r})")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return Response(int(status_line.split()[1]), parsed, rest)


@dataclass
class Service:
    """The running service under probe: its port, home, keys and request bodies."""

    port: int
    home: Path
    keys: dict[str, str]
    bodies: dict[str, bytes]
    extra: list[subprocess.Popen] = field(default_factory=list)

    def headers(self, probe: Probe) -> dict[str, str]:
        good = self.keys.get(probe.id, "")
        return {
            "good": {"X-API-Key": good},
            "none": {},
            "wrong": {"X-API-Key": "wrong-" + secrets.token_urlsafe(32)},
            "revoked": {"X-API-Key": self.keys["revoked"]},
            "prefix": {"X-API-Key": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")},
            "query": {},
            "bearer": {"Authorization": f"Bearer {good}"},
            "empty": {"X-API-Key": ""},
            "huge": {"X-API-Key": "k" * 8000},
            "cors": {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
            "huge_header": {"X-Filler": "x" * 200_000},
        }[probe.key]

    def send(self, probe: Probe) -> Response:
        target = probe.target.replace("{key}", self.keys.get(probe.id, ""))
        body = self.bodies[probe.body] if probe.body is not None else None
        headers = self.headers(probe)
        if probe.body is not None:
            headers["Content-Type"] = "application/json"
        if probe.body == "claims_big":
            headers["Content-Length"] = str(10**9)
        if probe.body == "bad_length":
            headers["Content-Length"] = "12abc"
        return http(self.port, probe.method, target, headers, body)

    def good(self, name: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[name]}


CHECKS: dict[str, Callable[[Response], bool]] = {
    "nosniff": lambda r: r.headers.get("x-content-type-options") == "nosniff",
    "no_store": lambda r: "no-store" in r.headers.get("cache-control", ""),
    "json": lambda r: r.headers.get("content-type", "").startswith("application/json"),
    "no_cors": lambda r: not any(h.startswith("access-control-allow") for h in r.headers),
    "no_echo": lambda r: b"script" not in r.body.lower(),
    "count_10": lambda r: json.loads(r.body)["count"] == 10,
    "count_0": lambda r: json.loads(r.body)["count"] == 0,
}


def _bodies(inputs: list[str], day: str) -> dict[str, bytes]:
    def rows(n: int, **change) -> list[dict]:
        out = []
        for i in range(n):
            feats = dict.fromkeys(inputs, 0.01)
            out.append({"Date": day, "Code": f"{1301 + i}0", "features": feats} | change)
        return out

    def predict(n: int = 2, extra: dict | None = None, **change) -> bytes:
        return json.dumps({"rows": rows(n, **change)} | (extra or {})).encode()

    first = inputs[0]
    nan_row = rows(1)[0]
    nan_row["features"][first] = "NAN_TOKEN"
    missing = rows(1)
    del missing[0]["features"][first]
    unknown = rows(1)
    unknown[0]["features"]["not_a_feature"] = 1.0
    text = rows(1)
    text[0]["features"][first] = "abc"
    dup = rows(1) * 2
    return {
        "predict_valid": predict(),
        "predict_model_dotdot": predict(extra={"model": "../rel"}),
        "predict_unknown_field": predict(extra={"admin": True}),
        "predict_unknown_feature": json.dumps({"rows": unknown}).encode(),
        "predict_missing_feature": json.dumps({"rows": missing}).encode(),
        "predict_nan": json.dumps({"rows": [nan_row]}).encode().replace(b'"NAN_TOKEN"', b"NaN"),
        "predict_infinity": json.dumps({"rows": [nan_row]})
        .encode()
        .replace(b'"NAN_TOKEN"', b"Infinity"),
        "predict_huge_number": json.dumps({"rows": [nan_row]})
        .encode()
        .replace(b'"NAN_TOKEN"', b"1e999"),
        "predict_string": json.dumps({"rows": text}).encode(),
        "predict_duplicate": json.dumps({"rows": dup}).encode(),
        "predict_six_rows": predict(6),
        "predict_long_code": predict(1, Code="1" * 200),
        "predict_bad_date": predict(1, Date="2020-02-30"),
        "json_malformed": b'{"rows": [ {"Date": }',
        "json_truncated": predict()[:-10],
        "json_list": b"[1, 2, 3]",
        "json_empty": b"{}",
        "json_deep": b"[" * 5000 + b"]" * 5000,
        "empty": b"",
        "big": b'{"rows": [' + b" " * 20_000 + b"]}",
        "claims_big": b"{}",
        "bad_length": b"{}",
    }


def _wait_ready(port: int, proc: subprocess.Popen, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            tail = out.strip().splitlines()[-1:] or ["(no output)"]
            raise RuntimeError(f"server exited with {proc.returncode}: {tail[0]}")
        try:
            http(port, "GET", path, {}, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not start in 90 s")


def start_serve(home: Path, config: Path, bundles: list[str]) -> tuple[subprocess.Popen, int]:
    """``gogooku serve --config config --bundle ...`` on a free port, ready."""
    port = free_port()
    argv = ["serve", "--port", str(port), "--config", str(config)]
    argv += [a for b in bundles for a in ("--bundle", b)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gogooku", *argv],
        cwd=home,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_ready(port, proc)
    except RuntimeError:
        stop(proc)
        raise
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# Custom probes: each returns None when it passed, else what went wrong.


def _status(svc: Service, target: str, key: str | None = None) -> int:
    headers = svc.good(key) if key else {}
    return http(svc.port, "GET", target, headers).status


def key_timing(svc: Service, probe: Probe) -> str | None:
    """A wrong key sharing all but its last characters with a good one is not answered slower
    than an unrelated wrong key (no early-exit comparison of secrets)."""
    good = svc.keys[probe.id]
    near, far = [], []
    for _ in range(40):
        for keys, sample in ((near, good[:-2] + "zz"), (far, secrets.token_urlsafe(32))):
            t0 = time.perf_counter()
            http(svc.port, "GET", "/v1/models", {"X-API-Key": sample})
            keys.append(time.perf_counter() - t0)
    ratio = statistics.median(near) / statistics.median(far)
    return None if 0.5 < ratio < 2.0 else f"median latency ratio near/far key {ratio:.2f}"


def _chunked(svc: Service, probe: Probe, size: int) -> Response:
    chunk = b" " * 1000
    body = [b'{"rows": ['] + [chunk] * (size // 1000) + [b"]}"]
    headers = {**svc.good(probe.id), "Content-Type": "application/json"}
    return http(svc.port, "POST", "/v1/predict", headers, chunks=body)


def chunked_over(svc: Service, probe: Probe) -> str | None:
    status = _chunked(svc, probe, 20_000).status
    return None if status == 413 else f"chunked body over max_body_bytes: {status}, expected 413"


def chunked_under(svc: Service, probe: Probe) -> str | None:
    status = _chunked(svc, probe, 2_000).status
    return None if status == 422 else f"chunked body under the limit: {status}, expected 422"


def rate_limit(svc: Service, probe: Probe) -> str | None:
    statuses = [_status(svc, "/v1/models", probe.id) for _ in range(14)]
    if statuses[0] != 200 or statuses[-1] != 429:
        return f"14 requests at burst 12: statuses {statuses}"
    headers = http(svc.port, "GET", "/v1/models", svc.good(probe.id)).headers
    return None if headers.get("retry-after", "").isdigit() else "429 without Retry-After"


def rate_limit_other_key(svc: Service, probe: Probe) -> str | None:
    for _ in range(14):
        _status(svc, "/v1/models", "rate-limit-429")
    status = _status(svc, "/v1/models", probe.id)
    return None if status == 200 else f"another key's bucket limited this key: {status}"


def slow_clients(svc: Service, probe: Probe) -> str | None:
    """Thirty clients stuck in their headers do not stop the service answering others."""
    socks = []
    try:
        for _ in range(30):
            sock = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            socks.append(sock)
        t0 = time.perf_counter()
        status = _status(svc, "/healthz")
        took = time.perf_counter() - t0
    finally:
        for sock in socks:
            sock.close()
    return None if status == 200 and took < 3 else f"/healthz {status} in {took:.1f} s"


def partial_request_closed(svc: Service, probe: Probe, wait: float = 15.0) -> str | None:
    """A client that sends part of a request and stops is disconnected (or answered) within
    ``wait`` seconds, so idle half-requests cannot pile up."""
    with socket.create_connection(("127.0.0.1", svc.port), timeout=wait) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            sock.recv(1024)
        except TimeoutError:
            return f"half-sent request still open after {wait:.0f} s"
        except ConnectionResetError:
            pass
    return None


def _ready(svc: Service) -> tuple[int, str]:
    r = http(svc.port, "GET", "/readyz", {})
    return r.status, r.body.decode(errors="replace")


def _tampered(
    svc: Service, probe: Probe, damage: Callable[[Path], Callable[[], None]]
) -> str | None:
    """``damage(version folder)`` changes the ``tamper`` bundle and returns its undo; /readyz
    must say 503 naming ``tamper`` and /v1/rankings of it 503, until the undo."""
    undo = damage(svc.home / "bundles" / "tamper" / "v0001")
    try:
        status, body = _ready(svc)
        ranked = _status(svc, "/v1/rankings?model=tamper", probe.id)
    finally:
        undo()
    if status != 503 or "tamper" not in body:
        return f"/readyz {status} after the damage: {body[:200]}"
    return None if ranked == 503 else f"/v1/rankings?model=tamper {ranked} after the damage"


def _same_size(folder: Path) -> Callable[[], None]:
    path = folder / "linear.json"
    original, st = path.read_bytes(), path.stat()
    flipped = original.replace(b"0", b"1", 1) if b"0" in original else original[::-1]
    path.write_bytes(flipped)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    time.sleep(0.05)

    def undo() -> None:
        path.write_bytes(original)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    return undo


def _changed_size(folder: Path) -> Callable[[], None]:
    path = folder / "linear.json"
    original = path.read_bytes()
    path.write_bytes(original + b" ")
    return lambda: path.write_bytes(original)


def _removed(folder: Path) -> Callable[[], None]:
    path = folder / "metrics.json"
    original = path.read_bytes()
    path.unlink()
    return lambda: path.write_bytes(original)


def _pointer(target: str) -> Callable[[Path], Callable[[], None]]:
    def damage(folder: Path) -> Callable[[], None]:
        pointer = folder.parent / "CURRENT"
        original = pointer.read_text()
        pointer.write_text(target + "\n")
        return lambda: pointer.write_text(original)

    return damage


def tamper_restored(svc: Service, probe: Probe) -> str | None:
    """After the tampering probes undo their damage the service is ready and serves again."""
    deadline = time.monotonic() + 5
    while (status := _ready(svc))[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    ranked = _status(svc, "/v1/rankings?model=tamper", probe.id)
    return None if (status[0], ranked) == (200, 200) else f"/readyz {status}, rankings {ranked}"


def unsigned_refused(svc: Service, probe: Probe) -> str | None:
    """A service that requires signed manifests refuses the (unsigned) bundle: /readyz 503."""
    key = svc.home / "signing.key"
    key.write_text(secrets.token_hex(32))
    key.chmod(0o600)
    config = svc.home / "signed.toml"
    config.write_text(
        SERVE_CONFIG.format(keys=svc.home / "keys.json") + SIGNED_CONFIG.format(key=key)
    )
    try:
        proc, port = start_serve(svc.home, config, ["rel"])
    except RuntimeError as exc:
        return f"service with required signatures did not start: {exc}"
    try:
        ready = http(port, "GET", "/readyz", {}).status
        ranked = http(port, "GET", "/v1/rankings", svc.good(probe.id)).status
    finally:
        stop(proc)
    return (
        None if (ready, ranked) == (503, 503) else f"unsigned: /readyz {ready}, rankings {ranked}"
    )


CUSTOM: dict[str, Callable[[Service, Probe], str | None]] = {
    "key_timing": key_timing,
    "chunked_over": chunked_over,
    "chunked_under": chunked_under,
    "rate_limit": rate_limit,
    "rate_limit_other_key": rate_limit_other_key,
    "slow_clients": slow_clients,
    "partial_request_closed": partial_request_closed,
    "tamper_same_size": lambda s, p: _tampered(s, p, _same_size),
    "tamper_changed_size": lambda s, p: _tampered(s, p, _changed_size),
    "tamper_removed": lambda s, p: _tampered(s, p, _removed),
    "current_outside": lambda s, p: _tampered(s, p, _pointer("../rel/v0001")),
    "current_missing_version": lambda s, p: _tampered(s, p, _pointer("v0099")),
    "tamper_restored": tamper_restored,
    "unsigned_refused": unsigned_refused,
}


def run_probe(svc: Service, probe: Probe) -> str | None:
    """None when ``probe`` passed, else what went wrong."""
    try:
        if probe.custom:
            return CUSTOM[probe.custom](svc, probe)
        r = svc.send(probe)
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if r.status not in probe.expect:
        return f"status {r.status}, expected {'/'.join(map(str, probe.expect))}: {r.body[:160]!r}"
    if probe.check and not CHECKS[probe.check](r):
        return f"check {probe.check} failed: headers {r.headers}"
    return None


def security_probes(probes: list[Probe], home: Path) -> dict:
    keys_file = home / "keys.json"
    # A key for every probe, selected or not: some custom probes use another probe's key.
    keys = {p.id: add_key(keys_file, p.id) for p in SECURITY_PROBES}
    keys["revoked"] = add_key(keys_file, "revoked")
    revoke_key(keys_file, "revoked")
    setup_key = add_key(keys_file, "setup")
    config = home / "serve.toml"
    config.write_text(SERVE_CONFIG.format(keys=keys_file))
    proc, port = start_serve(home, config, ["rel", "tamper"])
    try:
        models = http(port, "GET", "/v1/models", {"X-API-Key": setup_key})
        inputs = json.loads(models.body)[0]["inputs"]
        day = json.loads(http(port, "GET", "/v1/rankings", {"X-API-Key": setup_key}).body)
        svc = Service(port, home, keys, _bodies(inputs, day["data_date"]))
        failures = []
        for probe in probes:
            problem = run_probe(svc, probe)
            if problem:
                failures.append({"id": probe.id, "problem": problem})
    finally:
        stop(proc)
    return {"n": len(probes), "passed": len(probes) - len(failures), "failed": len(failures),
            "failures": failures}  # fmt: skip


# --------------------------------------------------------------------------------------------


def _select(rows: list, prefixes: list[str] | None) -> list:
    return [r for r in rows if not prefixes or r.id.startswith(tuple(prefixes))]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("bad", "security"), default=None)
    parser.add_argument("--ids", default=None, help="comma-separated id prefixes")
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    args = parser.parse_args(argv)
    prefixes = args.ids.split(",") if args.ids else None
    root = args.keep or Path(tempfile.mkdtemp(prefix="gogooku_reliability_"))
    root.mkdir(parents=True, exist_ok=True)
    market: list[Path] = []

    def the_market() -> Path:
        if not market:
            market.append(make_market(root / "market"))
        return market[0]

    t0 = time.perf_counter()
    result: dict = {}
    try:
        if args.only in (None, "bad"):
            result["bad_inputs"] = bad_inputs(_select(BAD_INPUTS, prefixes), the_market, root)
        if args.only in (None, "security"):
            probes = _select(SECURITY_PROBES, prefixes)
            if probes:
                result["security_probes"] = security_probes(probes, the_market())
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def failed(result: dict) -> bool:
    bad = result.get("bad_inputs", {})
    return bool(bad.get("failures")) or bool(result.get("security_probes", {}).get("failed"))


if __name__ == "__main__":
    outcome = main()
    print(json.dumps(outcome, indent=2))
    sys.exit(1 if failed(outcome) else 0)
