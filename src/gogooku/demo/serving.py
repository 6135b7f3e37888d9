"""The demo's deployment: bundle the chosen run, promote it, score the newest day, serve it.

The bundled model is the latest fit (``gogooku.research.walkforward.latest_fit``) of the
walk-forward run with the best **validation** mean RankIC at the main horizon
(``validation.json``: the mean over its fits' validation days) among the runs that have a fitted
model (factor runs are formulas, not bundles): choosing on the test days would leak them into
the selection. ``gogooku.bundle`` writes the next version of bundle
``demo`` and promotes it; the prediction job scores the dataset's latest date (the day a live
system would rank for tomorrow) into the prediction store; the ranking service
(``gogooku.serve.app``) runs on a loopback port in a background thread just long enough for one
``GET /v1/rankings?top_k=10`` with a fresh API key (``$GOGOOKU_HOME/demo/api_keys.json``).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from gogooku.bundle.job import predict
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import promote
from gogooku.httpserver import background_server
from gogooku.research.validation import read_validation
from gogooku.research.walkforward import latest_fit
from gogooku.serve.app import create_app
from gogooku.serve.auth import add_key
from gogooku.serve.config import ServeConfig

BUNDLE = "demo"
TOP = 10


def choose_run(run_dirs: list[Path], kinds: dict[str, str]) -> Path:
    """The non-factor walk-forward run with the highest validation RankIC (``validation.json``;
    ties: the first listed)."""
    scored = [
        (ric, -i, d)
        for i, d in enumerate(run_dirs)
        if kinds[d.name] != "factor" and (ric := read_validation(d)["rank_ic_mean"]) is not None
    ]
    if not scored:
        raise ValueError(
            f"no bundleable run with a validation RankIC among {[d.name for d in run_dirs]}"
        )
    return max(scored)[2]


def deploy(run_dir: Path, home: Path, console: Console) -> dict:
    """Bundle the walk-forward run's latest fit, promote, predict, serve and query; returns what
    was done and the top entries."""
    fit = latest_fit(run_dir)
    path, info = create_bundle(fit, BUNDLE)
    before = promote(BUNDLE, info.version)
    console.print(
        f"bundle {BUNDLE}@{info.version} ({info.model}, run {run_dir.name}, fit {fit.name}) at "
        f"{path}; "
        f"promoted (was {before or 'none'})"
    )
    day = predict(BUNDLE)
    console.print(f"scored {day.rows} stocks for {day.date} into the prediction store")
    keys = home / "demo" / "api_keys.json"
    keys.unlink(missing_ok=True)
    key = add_key(keys, "demo")
    app = create_app(ServeConfig(models=[BUNDLE], api_keys_file=keys))
    with background_server(app) as url:
        response = httpx.get(
            f"{url}/v1/rankings", params={"top_k": TOP}, headers={"X-API-Key": key}, timeout=60
        )
        console.print(f"service at {url}: GET /v1/rankings?top_k={TOP} -> {response.status_code}")
    response.raise_for_status()
    body = response.json()
    table = Table(
        title=f"top {TOP} of {body['total']} on {body['data_date']} ({body['model']}@{body['version']}, {body['main_horizon']}d score)"
    )
    for column in ("rank", "code", "name", "sector", "score"):
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    for e in body["rankings"]:
        table.add_row(
            str(e["rank"]), e["code"], e["name"] or "", e["sector_name"] or "", f"{e['score']:+.4f}"
        )
    console.print(table)
    console.print("service stopped")
    return {
        "bundle": f"{BUNDLE}@{info.version}",
        "bundle_path": str(path),
        "run": run_dir.name,
        "fit": str(fit),
        "model": info.model,
        "data_date": body["data_date"],
        "top": [
            {"rank": e["rank"], "code": e["code"], "score": e["score"]} for e in body["rankings"]
        ],
    }
