"""Two ``gogooku serve`` processes (real uvicorn, two ports) on one PostgreSQL store, each with a
GOGOOKU_HOME of its own whose ``bundles/`` is the one shared folder (docs/scale-out.md): they
answer ``/v1/rankings`` and ``/v1/models`` byte for byte alike; after ``gogooku promote`` and
``gogooku rollback`` both switch, and after a day is predicted again both serve it (their
cached answers are invalidated by the store's generation); a key added with ``gogooku apikey add --store`` is admitted by
both and, revoked, refused by both; neither writes a SQLite store or a key file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
from typer.testing import CliRunner

from gogooku.bundle.job import predict
from gogooku.bundle.scoring import create_bundle
from gogooku.cli import app

TOP5 = {"top_k": "5"}
WAIT_S = 10.0
START_S = 90.0  # two processes importing torch, FastAPI and LightGBM on a shared 2-core machine


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(check: Callable[[], bool], what: str, wait_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + wait_s
    while not check():
        assert time.monotonic() < deadline, f"not within {wait_s} s: {what}"
        time.sleep(0.05)


@pytest.fixture
def replicas(world_home, pg_store, tmp_path, monkeypatch):
    """Bundles lg v0001 (promoted) and v0002 with a stored day each, the key ``alice``, and two
    replicas serving lg; yields (clients, alice's key, the store URL)."""
    monkeypatch.setenv("GOGOOKU_STORE", pg_store)
    create_bundle("lg", "lg")
    create_bundle("ln", "lg")
    _cli("promote", "lg", "v0001")
    predict("lg@v0001")
    predict("lg@v0002")
    alice = _cli("apikey", "add", "alice", "--store", pg_store).strip()
    procs, clients = [], []
    for name in ("r1", "r2"):
        home = tmp_path / name
        home.mkdir()
        (home / "bundles").symlink_to(world_home / "bundles", target_is_directory=True)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k != "GOGOOKU_STORE"}
        env["GOGOOKU_HOME"] = str(home)
        cmd = [sys.executable, "-m", "gogooku", "serve", "--port", str(port), "--bundle", "lg"]
        procs.append(subprocess.Popen([*cmd, "--store", pg_store], env=env))
        clients.append(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10))
    try:
        for proc, client in zip(procs, clients, strict=True):
            _until(lambda p=proc, c=client: _up(p, c), f"{client.base_url} up", START_S)
        yield clients, alice, pg_store
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
        for client in clients:
            client.close()
    for home in (tmp_path / "r1", tmp_path / "r2", world_home):
        assert not (home / "predictions.sqlite").exists() and not (home / "api_keys.json").exists()


def _up(proc: subprocess.Popen, client: httpx.Client) -> bool:
    assert proc.poll() is None, f"replica exited with {proc.returncode}"
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _answers(clients, key: str, path: str, params=None) -> list[httpx.Response]:
    return [c.get(path, params=params, headers={"X-API-Key": key}) for c in clients]


@pytest.mark.slow
def test_two_replicas_on_one_postgresql_store_answer_alike_and_switch_together(replicas):
    clients, alice, store = replicas

    def alike(version: str) -> bool:
        rankings = _answers(clients, alice, "/v1/rankings", TOP5)
        models = _answers(clients, alice, "/v1/models")
        return (
            all(r.status_code == 200 for r in rankings + models)
            and rankings[0].content == rankings[1].content
            and models[0].content == models[1].content
            and rankings[0].json()["version"] == version
            and models[0].json()[0]["current"] == version
        )

    assert alike("v0001")
    assert _answers(clients, alice, "/v1/rankings", TOP5)[0].json()["rankings"][0]["rank"] == 1
    _cli("promote", "lg", "v0002")
    _until(lambda: alike("v0002"), "both serve v0002 after promote")
    _cli("rollback", "lg")
    _until(lambda: alike("v0001"), "both serve v0001 after rollback")
    rerun = predict("lg@v0001")  # cached answers are stale on both: the store's NOTIFY says so
    _until(
        lambda: (
            alike("v0001")
            and _answers(clients, alice, "/v1/rankings", TOP5)[1].json()["created_at"]
            == rerun.created_at
        ),
        "both serve the re-run day",
    )

    bob = _cli("apikey", "add", "bob", "--store", store).strip()
    _until(
        lambda: [r.status_code for r in _answers(clients, bob, "/v1/rankings", TOP5)] == [200, 200],
        "both admit bob",
    )
    _cli("apikey", "revoke", "bob", "--store", store)
    _until(
        lambda: [r.status_code for r in _answers(clients, bob, "/v1/rankings", TOP5)] == [403, 403],
        "both refuse bob",
    )
    assert [r.status_code for r in _answers(clients, "nope", "/v1/models")] == [401, 401]
