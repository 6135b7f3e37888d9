"""The ranking service on a real loopback socket: rankings, hot promote/rollback, corruption,
auth, limits, validation, error bodies and /v1/predict parity with the trainer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
import polars as pl
import pytest

from gogooku.bundle.job import predict
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import promote, rollback
from gogooku.httpserver import background_server
from gogooku.serve.app import create_app
from gogooku.serve.auth import add_key, revoke_key
from gogooku.serve.config import ServeConfig

LAST = "2020-12-30"


@pytest.fixture
def keys(world_home) -> tuple[Path, str, str]:
    path = world_home / "keys.json"
    alice = add_key(path, "alice")
    bob = add_key(path, "bob")
    revoke_key(path, "bob")
    return path, alice, bob


def _config(keys_file: Path, **kw) -> ServeConfig:
    return ServeConfig(models=["lg"], api_keys_file=keys_file, max_data_age_s=0, **kw)


def _bundle(run: str, name: str = "lg") -> str:
    _, info = create_bundle(run, name)
    promote(name, info.version)
    predict(name)
    return info.version


@pytest.mark.slow
def test_rankings_promote_rollback_and_corruption(world_home, keys):
    keys_file, alice, _ = keys
    _bundle("lg")
    with background_server(create_app(_config(keys_file))) as url:
        client = httpx.Client(base_url=url, headers={"X-API-Key": alice}, timeout=30)
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["models"] == {"lg": "v0001"}
        first = client.get("/v1/rankings", params={"top_k": 5}).json()
        assert first["version"] == "v0001" and first["data_date"] == LAST
        assert first["total"] == 23 and first["count"] == 5 and first["main_horizon"] == 5
        ranks = first["rankings"]
        assert [r["rank"] for r in ranks] == [1, 2, 3, 4, 5]
        assert [r["score"] for r in ranks] == sorted((r["score"] for r in ranks), reverse=True)
        assert all(r["sector"] and r["name"] for r in ranks)
        sector = ranks[0]["sector"]
        only = client.get("/v1/rankings", params={"sector": sector, "top_k": 100}).json()
        assert only["count"] >= 1 and {r["sector"] for r in only["rankings"]} == {sector}
        models = client.get("/v1/models").json()
        assert models[0]["current"] == "v0001" and models[0]["versions"][0]["kind"] == "lgbm"

        _bundle("ln")  # v0002 of the same name: a ridge model
        with ThreadPoolExecutor(4) as pool:  # requests across the switch all succeed
            statuses = list(pool.map(lambda _: client.get("/v1/rankings").status_code, range(40)))
        assert set(statuses) == {200}
        second = client.get("/v1/rankings", params={"top_k": 5}).json()
        assert second["version"] == "v0002"
        assert [r["score"] for r in second["rankings"]] != [r["score"] for r in ranks]

        assert rollback("lg") == ("v0002", "v0001")
        back = client.get("/v1/rankings", params={"top_k": 5}).json()
        assert back["version"] == "v0001" and back["rankings"] == ranks

        victim = world_home / "bundles" / "lg" / "v0001" / "lgbm_5d.txt"
        victim.chmod(0o644)
        victim.write_text(victim.read_text().replace("Tree=0", "Tree=0 "))
        ready = client.get("/readyz")
        assert ready.status_code == 503 and not ready.json()["ready"]
        assert "lgbm_5d.txt: SHA-256 differs from the manifest" in ready.json()["reasons"][0]
        refused = client.get("/v1/rankings")
        assert refused.status_code == 503 and "not ready" in refused.json()["detail"]
        metrics = client.get("/metrics").text
        assert 'gogooku_model_ready{model="lg"} 0.0' in metrics


@pytest.mark.slow
def test_auth_limits_validation_and_errors(world_home, keys):
    keys_file, alice, bob = keys
    _bundle("lg")
    cfg = _config(keys_file, rate_per_s=0.01, rate_burst=3, max_body_bytes=2000)
    with background_server(create_app(cfg)) as url:
        client = httpx.Client(base_url=url, timeout=30)
        assert client.get("/v1/rankings").status_code == 401
        assert client.get("/v1/rankings", headers={"X-API-Key": "nope"}).status_code == 401
        revoked = client.get("/v1/rankings", headers={"X-API-Key": bob})
        assert revoked.status_code == 403 and "revoked" in revoked.json()["detail"]
        bad = client.get("/v1/rankings", params={"top_k": 0}, headers={"X-API-Key": alice})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "top_k"]
        answers = [client.get("/v1/rankings", headers={"X-API-Key": alice}) for _ in range(4)]
        codes = [a.status_code for a in answers]
        assert codes[0] == 200 and codes[-1] == 429 and codes.count(200) <= 3  # burst 3
        assert int(answers[-1].headers["Retry-After"]) >= 1
        big = client.post("/v1/predict", content=b"x" * 5000, headers={"X-API-Key": alice})
        assert big.status_code == 413
        assert client.get("/docs").status_code == 200
        assert "/v1/rankings" in client.get("/openapi.json").json()["paths"]
        assert client.get("/metrics").status_code == 200
        # security headers: nosniff everywhere, no caching of per-key answers
        assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"
        assert "cache-control" not in client.get("/healthz").headers
        for answer in (answers[0], answers[-1], revoked, big):
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["cache-control"] == "no-store"

    cfg = _config(keys_file)
    with background_server(create_app(cfg)) as url:
        client = httpx.Client(base_url=url, headers={"X-API-Key": alice}, timeout=30)
        inputs = client.get("/v1/models").json()[0]["inputs"]
        row = {"Date": LAST, "Code": "13010", "features": dict.fromkeys(inputs[1:], 0.5)}
        bad = client.post("/v1/predict", json={"rows": [row]})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "rows", 0, "features", inputs[0]]
        row["Date"] = "2020-13-45"
        bad = client.post("/v1/predict", json={"rows": [row]})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:4] == [
            "body",
            "rows",
            0,
            "Date",
        ]
        (world_home / "predictions.sqlite").write_bytes(b"not a database" * 100)
        for suffix in ("-wal", "-shm"):
            (world_home / f"predictions.sqlite{suffix}").unlink(missing_ok=True)
        broken = client.get("/v1/rankings", params={"date": "2020-12-29"})
        assert broken.status_code == 500
        assert broken.json() == {"detail": "internal server error"}


def _window_rows(world_home: Path, inputs: list[str], day, window: int) -> list[dict]:
    panel = pl.read_parquet(world_home / "datasets" / "tiny" / "panel.parquet")
    dates = panel["Date"].unique().sort()
    chosen = dates.filter(dates <= day).tail(window)
    rows = panel.filter(pl.col("Date").is_in(chosen.implode())).select("Date", "Code", *inputs)
    return [
        {"Date": r["Date"].isoformat(), "Code": r["Code"], "features": {n: r[n] for n in inputs}}
        for r in rows.iter_rows(named=True)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("run", ["lg", "at", "ap"])
def test_predict_endpoint_equals_training_predictions(world_home, keys, run):
    keys_file, alice, _ = keys
    _bundle(run, "lg")
    trained = pl.read_parquet(world_home / "runs" / run / "predictions.parquet")
    day = trained.filter(pl.col("split") == "test")["Date"].max()
    with background_server(create_app(_config(keys_file))) as url:
        client = httpx.Client(base_url=url, headers={"X-API-Key": alice}, timeout=60)
        model = client.get("/v1/models").json()[0]
        rows = _window_rows(world_home, model["inputs"], day, model["window"])
        response = client.post("/v1/predict", json={"rows": rows})
        assert response.status_code == 200, response.text[:500]
        body = response.json()
    assert body["date"] == day.isoformat() and body["version"] == "v0001"
    # the run's own horizons: lgbm's horizons = "main" predicts 5d only, the networks all
    horizons = [int(c[5:-1]) for c in trained.columns if c.startswith("pred_")]
    assert horizons == ([5] if run == "lg" else [1, 5, 20])
    got = pl.DataFrame(
        {
            "Code": [p["code"] for p in body["predictions"]],
            **{f"pred_{h}d": [p["scores"][str(h)] for p in body["predictions"]] for h in horizons},
        }
    ).sort("Code")
    expected = trained.filter(pl.col("Date") == day).sort("Code")
    assert got["Code"].to_list() == expected["Code"].to_list()
    for h in horizons:
        assert (got[f"pred_{h}d"] - expected[f"pred_{h}d"]).abs().max() <= 1e-6


@pytest.mark.slow
def test_an_lgbm_run_with_main_horizon_20_is_served_ranked_by_its_20_day_score(world_home, keys):
    from gogooku.bundle.scoring import load_bundle
    from gogooku.bundle.store import resolve
    from gogooku.train.config import load_run_config
    from gogooku.train.run import train_run

    base = load_run_config(world_home / "runs" / "lg" / "config.toml")
    cfg = base.model_copy(
        update={
            "target": base.target.model_copy(update={"main_horizon": 20}),
            "model": base.model.model_copy(update={"horizons": "each"}),
        }
    )
    train_run("lgbm", "tiny", cfg, run_id="lg20", fold_index=0, evaluate=False)
    version = _bundle("lg20", "lg20")
    keys_file, alice, _ = keys
    config = ServeConfig(models=["lg20"], api_keys_file=keys_file, max_data_age_s=0)
    with background_server(create_app(config)) as url:
        body = httpx.get(
            f"{url}/v1/rankings",
            params={"top_k": 100},
            headers={"X-API-Key": alice},
            timeout=30,
        ).json()
    assert body["main_horizon"] == 20
    served = [r["code"] for r in body["rankings"]]
    assert body["data_date"] == LAST
    last = load_bundle(resolve("lg20", version)).score_dataset(date.fromisoformat(LAST))
    by_20d = last.sort(["pred_20d", "Code"], descending=[True, False])["Code"].to_list()
    by_5d = last.sort(["pred_5d", "Code"], descending=[True, False])["Code"].to_list()
    assert by_20d != by_5d
    assert served == by_20d


def test_protect_ops_puts_docs_schema_and_metrics_behind_the_key(world_home, keys):
    keys_file, alice, _ = keys
    _bundle("lg")
    with background_server(create_app(_config(keys_file, protect_ops=True))) as url:
        client = httpx.Client(base_url=url, timeout=30)
        for path in ("/docs", "/openapi.json", "/metrics"):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers={"X-API-Key": alice}).status_code == 200, path
        assert client.get("/redoc").status_code == 404
        schema = client.get("/openapi.json", headers={"X-API-Key": alice}).json()
        assert "/v1/rankings" in schema["paths"] and "/docs" not in schema["paths"]
        assert client.get("/healthz").status_code == 200
