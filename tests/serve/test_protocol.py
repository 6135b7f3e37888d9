"""``gogooku serve``'s HTTP protocol: a half-sent request head is cut off after
``header_timeout_s``; complete requests and keep-alive connections are served as before."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from gogooku.httpserver import free_port
from gogooku.serve import protocol


def _serve(port: int) -> uvicorn.Server:
    app = FastAPI()
    app.get("/healthz")(lambda: {"status": "ok"})
    config = uvicorn.Config(
        app, port=port, log_level="warning", lifespan="off", http=protocol.HeadTimeoutProtocol
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
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


def _response(sock: socket.socket) -> bytes:
    """One whole response (head and the /healthz body), however the bytes arrive."""
    data = b""
    while not data.endswith(b'{"status":"ok"}'):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def test_a_half_sent_request_head_is_closed_and_whole_requests_are_served(monkeypatch):
    monkeypatch.setattr(protocol, "header_timeout_s", lambda: 0.5)
    port = free_port()
    server = _serve(port)
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
    finally:
        server.should_exit = True
