"""API keys in the prediction store (used when it is PostgreSQL, so that every replica admits the
same keys): table ``api_keys`` keyed by ``name``, with ``sha256`` (hex SHA-256 of the key; the
plaintext is printed once by ``add`` and never stored), ``revoked`` (0/1) and ``created_at``.

Each change is one transaction of the store, so it moves the store's ``generation()``, which
``KeyStore`` (``gogooku.serve.auth``) uses as the signature telling it to re-read the table: a
key added or revoked on one replica's store is seen by all of them at their next request.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from gogooku.bundle.db import open_database
from gogooku.serve.auth import KeyFileError, key_hash

TABLES = (
    """CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT NOT NULL PRIMARY KEY, sha256 TEXT NOT NULL, revoked INTEGER NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID""",
)


class StoreKeys:
    """The ``api_keys`` table of the store ``target`` as a key source (see module doc)."""

    def __init__(self, target: str | Path | None = None) -> None:
        self.db = open_database(target, TABLES)
        self.label = f"{self.db.label} (api_keys)"

    def entries(self) -> list[dict]:
        rows = self.db.read(
            "SELECT name, sha256, revoked, created_at FROM api_keys ORDER BY created_at, name"
        )
        return [
            {"name": n, "sha256": h, "revoked": bool(r), "created_at": c} for n, h, r, c in rows
        ]

    def add(self, name: str) -> str:
        """Create a key named ``name``; returns the plaintext (only its hash is stored)."""
        key = secrets.token_urlsafe(32)
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self.db.transaction() as cur:
            if cur.execute("SELECT 1 FROM api_keys WHERE name=?", (name,)).fetchall():
                raise KeyFileError(f"{self.label}: a key named {name!r} exists")
            cur.execute("INSERT INTO api_keys VALUES (?,?,?,?)", (name, key_hash(key), 0, created))
        return key

    def revoke(self, name: str) -> None:
        with self.db.transaction() as cur:
            if not cur.execute("SELECT 1 FROM api_keys WHERE name=?", (name,)).fetchall():
                raise KeyFileError(f"{self.label}: no key named {name!r}")
            cur.execute("UPDATE api_keys SET revoked=1 WHERE name=?", (name,))

    def signature(self) -> int | None:
        return self.db.generation()
