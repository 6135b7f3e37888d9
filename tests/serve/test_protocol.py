"""``gogooku serve``'s HTTP protocols (h11 and httptools): a half-sent request head is cut off
after ``header_timeout_s``; complete, keep-alive and pipelined requests are served as before."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI

from gogooku.httpserver import free_port
from gogooku.serve import protocol


def _serve(port: int, http: str) -> uvicorn.Server:
    app = FastAPI()
    app.get("/healthz")(lambda: {"status": "ok"})

    @app.get("/slow")
    async def slow() -> dict:
        await asyncio.sleep(0.8)
        return {"status": "ok"}

    config = uvicorn.Config(app, port=port, log_level="warning", lifespan="off", http=http)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, f"{http} did not start"
        time.sleep(0.01)
    return server


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return False
    return True


def _response(sock: socket.socket, count: int = 1) -> bytes:
    """``count`` whole responses (head and the /healthz body), however the bytes arrive."""
    data = b""
    while data.count(b'{"status":"ok"}') < count:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def test_serve_runs_httptools_when_installed():
    assert protocol.protocol_path() == (
        "gogooku.serve.protocol_httptools:HttpToolsHeadTimeoutProtocol"
    )


@pytest.mark.parametrize(
    "http",
    [
        "gogooku.serve.protocol:HeadTimeoutProtocol",
        "gogooku.serve.protocol_httptools:HttpToolsHeadTimeoutProtocol",
    ],
)
def test_a_half_sent_request_head_is_closed_and_whole_requests_are_served(monkeypatch, http):
    monkeypatch.setattr(protocol, "header_timeout_s", lambda: 0.5)
    port = free_port()
    server = _serve(port, http)
    try:
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            t0 = time.perf_counter()
            assert _closed_within(slow, 5)
            assert time.perf_counter() - t0 < 3
        with socket.create_connection(("127.0.0.1", port)) as ok:
            for _ in range(2):  # keep-alive: the second request on the same connection
                ok.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert _response(ok).startswith(b"HTTP/1.1 200")
                time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as piped:
            # pipelined: the second head is complete while the first answer is sent, and the
            # second answer takes longer than the head timeout
            piped.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\n")
            piped.sendall(b"Host: x\r\n\r\n")
            assert _response(piped, 2).count(b"HTTP/1.1 200") == 2
    finally:
        server.should_exit = True
