"""The pre-serialised /v1/rankings answers (gogooku.serve.cache): a hit equals the route's answer
byte for byte, skips the store, still checks the key and counts in the metrics; a promote, a
rollback, a new prediction day and a bundle file changed in place change the answer at once."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.bundle.job import predict
from gogooku.bundle.predstore import PredictionStore
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import promote, rollback
from gogooku.serve.app import create_app
from gogooku.serve.auth import add_key, revoke_key
from gogooku.serve.cache import CachedAnswer, ResponseCache
from gogooku.serve.config import ServeConfig

TOP5 = {"top_k": "5"}


def _release(run: str) -> str:
    _, info = create_bundle(run, "lg")
    promote("lg", info.version)
    predict("lg")
    return info.version


def _reference(store: PredictionStore, body: dict) -> dict:
    """The answer rebuilt from the store rows, as the route documents it."""
    rows = store.read_day("lg", body["version"], dt.date.fromisoformat(body["data_date"]))
    top = [
        {
            "rank": i + 1,
            "code": code,
            "score": score,
            "scores": json.loads(scores),
            "sector": sector,
            "sector_name": sector_name,
            "name": name,
        }
        for i, (code, score, scores, sector, sector_name, name) in enumerate(rows[:5])
    ]
    return {**{k: body[k] for k in body if k != "rankings"}, "rankings": top}


@pytest.fixture
def served(world_home):
    keys = world_home / "keys.json"
    alice, bob = add_key(keys, "alice"), add_key(keys, "bob")
    _release("lg")
    store = PredictionStore()
    config = ServeConfig(models=["lg"], api_keys_file=keys, max_data_age_s=0, rate_burst=1000)
    client = TestClient(create_app(config, store), headers={"X-API-Key": alice})
    return client, store, keys, bob


def test_a_hit_equals_the_routes_answer_and_skips_the_store(served, monkeypatch):
    client, store, keys, bob = served
    uncached = TestClient(
        create_app(client.app.state.config.model_copy(update={"response_cache_mb": 0})),
        headers=client.headers,
    ).get("/v1/rankings", params=TOP5)
    first = client.get("/v1/rankings", params=TOP5)
    assert first.status_code == 200 and first.json() == _reference(store, first.json())

    def refuse(*_):
        raise AssertionError("a hit read the store")

    monkeypatch.setattr(store, "day_run", refuse)
    monkeypatch.setattr(store, "read_day", refuse)
    hit = client.get("/v1/rankings", params=TOP5)
    assert hit.content == first.content == uncached.content
    for answer in (first, hit):
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["content-length"] == str(len(first.content))
    # a hit checks the key as the route does
    assert client.get("/v1/rankings", params=TOP5, headers={"X-API-Key": "nope"}).status_code == 401
    assert client.get("/v1/rankings", params=TOP5, headers={"X-API-Key": ""}).status_code == 401
    revoke_key(keys, "bob")
    revoked = client.get("/v1/rankings", params=TOP5, headers={"X-API-Key": bob})
    assert revoked.status_code == 403 and "revoked" in revoked.json()["detail"]
    monkeypatch.undo()
    metrics = client.get("/metrics").text
    assert (
        'gogooku_http_requests_total{method="GET",route="/v1/rankings",status="200"} 2.0' in metrics
    )


def test_promote_rollback_and_a_new_prediction_day_change_the_answer_at_once(served):
    client, store, _, _ = served
    first = client.get("/v1/rankings", params=TOP5)
    assert client.get("/v1/rankings", params=TOP5).content == first.content  # cached
    _release("ln")  # v0002 promoted and predicted
    second = client.get("/v1/rankings", params=TOP5).json()
    assert second["version"] == "v0002" and second == _reference(store, second)
    rollback("lg")
    assert client.get("/v1/rankings", params=TOP5).content == first.content
    rerun = predict("lg")  # the day stored again: a new created_at
    again = client.get("/v1/rankings", params=TOP5).json()
    assert again["created_at"] == rerun.created_at != first.json()["created_at"]


def test_rate_limit_applies_to_hits(world_home):
    keys = world_home / "keys.json"
    alice = add_key(keys, "alice")
    _release("lg")
    config = ServeConfig(
        models=["lg"], api_keys_file=keys, max_data_age_s=0, rate_per_s=0.01, rate_burst=3
    )
    client = TestClient(create_app(config), headers={"X-API-Key": alice})
    codes = [client.get("/v1/rankings").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


@pytest.mark.parametrize("check_s", [0.0, 3600.0])
def test_a_bundle_file_changed_in_place_is_seen_within_bundle_check_s(served, check_s):
    client, _, _, _ = served
    app = create_app(client.app.state.config.model_copy(update={"bundle_check_s": check_s}))
    client = TestClient(app, headers=client.headers)
    assert client.get("/v1/rankings").status_code == 200
    victim = next((app.state.states["lg"].root / "v0001").glob("lgbm_5d.txt"))
    victim.chmod(0o644)
    victim.write_text(victim.read_text().replace("Tree=0", "Tree=0 "))
    expected = 503 if check_s == 0 else 200  # within bundle_check_s a hit is still served
    assert client.get("/v1/rankings").status_code == expected
    assert client.get("/readyz").status_code == 503  # the full check withdraws it
    assert client.get("/v1/rankings").status_code == 503


@settings(max_examples=30, deadline=None)
@given(
    bodies=st.lists(
        st.tuples(st.sampled_from([b"a", b"b", b"c", b"d", b"e"]), st.integers(0, 40)),
        max_size=30,
    )
)
def test_the_cache_keeps_the_most_recent_answers_within_its_byte_bound(bodies):
    cache = ResponseCache(max_bytes=64)
    for query, size in bodies:
        cache.put(query, CachedAnswer(None, None, 0, None, [], b"x" * size))
        kept = [a.body for q in (b"a", b"b", b"c", b"d", b"e") if (a := cache.get(q))]
        assert cache.size == sum(map(len, kept)) <= 64 and len(cache) == len(kept)
        assert cache.get(query).body == b"x" * size  # the newest always fits (≤ 40 bytes)
