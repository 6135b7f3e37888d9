"""API keys and per-key rate limits.

Key file (JSON, ``ServeConfig.keys_path``)::

    {"keys": [{"name": "alice", "sha256": "<hex of SHA-256 of the key>", "revoked": false,
               "created_at": "..."}]}

Only hashes are stored; ``add_key`` prints the plaintext once. With a PostgreSQL prediction
store the keys live in its ``api_keys`` table instead (``gogooku.serve.dbkeys``), shared by every
replica. ``KeyStore`` re-reads its source (``FileKeys`` or ``StoreKeys``) when the source's
``signature()`` changes — the file's (inode, mtime, size), the store's ``generation()`` — so a
revocation takes effect without a restart. A request
without ``X-API-Key`` or with a key whose hash is not in the file gets 401, a revoked key 403.

Rate limit: a token bucket per key name — capacity ``rate_burst``, refilled at ``rate_per_s``
tokens per second (tokens = min(burst, tokens + Δt · rate)); a request takes one token, and with
none left gets 429 with ``Retry-After`` = ⌈(1 − tokens) / rate⌉ seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gogooku.errors import GogookuError
from gogooku.io import atomic_write_text


class KeyFileError(GogookuError, ValueError):
    """The key file is unreadable or a key operation is invalid; names the file."""


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def read_keys(path: Path) -> list[dict]:
    """The key entries of ``path`` (none when it does not exist); ``KeyFileError`` naming the
    file when it is not a key file."""
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text())["keys"])
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a key file ({exc})") from None


def _write(path: Path, keys: list[dict]) -> None:
    atomic_write_text(path, json.dumps({"keys": keys}, indent=2) + "\n")
    path.chmod(0o600)


def add_key(path: Path, name: str) -> str:
    """Create a key named ``name``; returns the plaintext (only its hash is stored)."""
    keys = read_keys(path)
    if any(k["name"] == name for k in keys):
        raise KeyFileError(f"{path}: a key named {name!r} exists")
    key = secrets.token_urlsafe(32)
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    keys.append({"name": name, "sha256": key_hash(key), "revoked": False, "created_at": created})
    _write(path, keys)
    return key


def revoke_key(path: Path, name: str) -> None:
    keys = read_keys(path)
    if not any(k["name"] == name for k in keys):
        raise KeyFileError(f"{path}: no key named {name!r}")
    _write(path, [{**k, "revoked": k["revoked"] or k["name"] == name} for k in keys])


class FileKeys:
    """The key file as a key source (``KeyStore``, ``gogooku apikey``)."""

    def __init__(self, path: Path) -> None:
        self.path, self.label = path, str(path)

    def entries(self) -> list[dict]:
        return read_keys(self.path)

    def add(self, name: str) -> str:
        return add_key(self.path, name)

    def revoke(self, name: str) -> None:
        revoke_key(self.path, name)

    def signature(self) -> tuple | None:
        """(inode, mtime, size) of the file; None when it does not exist (no keys)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)


class KeySource(Protocol):
    label: str

    def entries(self) -> list[dict]: ...

    def add(self, name: str) -> str: ...

    def revoke(self, name: str) -> None: ...

    def signature(self) -> object: ...


@dataclass(frozen=True)
class KeyEntry:
    name: str
    revoked: bool


class KeyStore:
    """Hash → key entry, re-read when the source's signature changes (see module doc); a
    ``Path`` is a key file."""

    def __init__(self, source: KeySource | Path) -> None:
        self.source = FileKeys(source) if isinstance(source, Path) else source
        self._sig: object = None
        self._loaded = False
        self._keys: dict[str, KeyEntry] = {}
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        sig = self.source.signature()
        if self._loaded and sig == self._sig and sig is not None:
            return
        with self._lock:
            entries = self.source.entries()
            self._keys = {
                e["sha256"]: KeyEntry(e["name"], bool(e.get("revoked", False))) for e in entries
            }
            self._sig, self._loaded = sig, True

    def lookup(self, key: str) -> KeyEntry | None:
        self._refresh()
        return self._keys.get(key_hash(key))


class RateLimiter:
    """Token buckets keyed by name (see module doc)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str) -> int | None:
        """None when allowed, else the seconds to wait (``Retry-After``)."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[name] = (tokens - 1, now)
                return None
            self._buckets[name] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))
