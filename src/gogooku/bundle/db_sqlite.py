"""The SQLite backend of the prediction store (``gogooku.bundle.db``): one file in WAL mode.

Reads use one connection per thread, kept open (a service reads on every request); every
transaction uses a connection of its own. Each connection runs the tables' DDL (idempotent).
``generation()`` is SQLite's ``PRAGMA data_version`` of one connection kept for it: it changes
whenever another connection, of any process, commits. Values of different connections are not
comparable, so that connection is shared by every thread, under a lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class SqliteDatabase:
    """See the module doc."""

    def __init__(self, path: Path, tables: Sequence[str]) -> None:
        self.path = self.target = path
        self.label = str(path)
        self.schema = "".join(f"{table};\n" for table in tables)
        self._local = threading.local()
        self._generation_conn: sqlite3.Connection | None = None
        self._generation_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(self.schema)
        return conn

    def exists(self) -> bool:
        return self.path.exists()

    def check(self) -> None:
        """Nothing to reach: the file is created by the first write."""

    def read(self, sql: str, args: Sequence = ()) -> list[tuple]:
        if not self.path.exists():
            return []
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn.execute(sql, args).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def generation(self) -> int | None:
        """``PRAGMA data_version`` (module doc); None while the file does not exist."""
        with self._generation_lock:
            try:
                if self._generation_conn is None:
                    if not self.path.exists():
                        return None
                    self._generation_conn = sqlite3.connect(self.path, check_same_thread=False)
                return self._generation_conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                return None
