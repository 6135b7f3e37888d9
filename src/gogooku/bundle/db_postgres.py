"""The PostgreSQL backend of the prediction store (``gogooku.bundle.db``), with psycopg 3.

Schema: the tables' SQLite DDL translated — ``REAL`` → ``DOUBLE PRECISION`` (a score reads back
bit-identical), ``TEXT`` → ``TEXT COLLATE "C"`` (byte order, as SQLite sorts: rankings and
listings order the same on both backends), no ``WITHOUT ROWID`` — plus the one-row table
``store_generation(id = 1, n)``; created at the first connection of each store object, under an
advisory lock (two replicas starting together do not race on ``CREATE TABLE IF NOT EXISTS``).

Reads of a store object share one autocommit connection (the service reads on its event-loop
thread; psycopg serialises concurrent use), reopened once when it was lost. A transaction opens a connection of
its own, and before committing bumps ``store_generation.n`` and sends ``NOTIFY
gogooku_store, 'n'``, delivered to every listener when (and only if) the transaction commits.

``generation()`` costs no query: a daemon thread per process and URL (shared by the store's
objects: predictions, live tables, keys) holds a ``LISTEN gogooku_store`` connection and keeps
the last ``n`` it heard; it re-reads ``n`` when it (re)connects and every ``POLL_S`` seconds
without a notification (so a lost notification is noticed within that time). Chosen over reading ``n`` on every call — a round trip per cached answer would cost the
response cache (``gogooku.serve.cache``) most of its speed — and over ``pg_stat`` counters,
which are per database, lag by the stats collector's interval and count other applications'
writes too. While the listener has no connection, ``generation()`` is None: nothing is cached.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from gogooku.bundle.storeurl import StoreError, redact

log = logging.getLogger(__name__)

CHANNEL = "gogooku_store"
POLL_S = 5.0
CONNECT_TIMEOUT_S = 10
GENERATION_TABLE = (
    "CREATE TABLE IF NOT EXISTS store_generation "
    "(id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL)"
)
_SCHEMA_LOCK = 0x676F676F  # pg_advisory_xact_lock key of the schema creation ("gogo")


def postgres_ddl(table: str) -> str:
    """A table's SQLite DDL in PostgreSQL's dialect (see module doc)."""
    ddl = table.replace(" WITHOUT ROWID", "")
    ddl = re.sub(r"\bREAL\b", "DOUBLE PRECISION", ddl)
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', ddl)


def _sql(sql: str) -> str:
    return sql.replace("?", "%s")


class _Cursor:
    """A psycopg cursor taking ``?`` placeholders."""

    def __init__(self, cursor) -> None:
        self.cursor = cursor

    def execute(self, sql: str, args: Sequence = ()):
        return self.cursor.execute(_sql(sql), tuple(args))

    def executemany(self, sql: str, rows: Sequence[Sequence]):
        return self.cursor.executemany(_sql(sql), [tuple(r) for r in rows])


class PostgresDatabase:
    """See the module doc."""

    def __init__(self, url: str, tables: Sequence[str]) -> None:
        self.target, self.label = url, redact(url)
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                f"prediction store {self.label}: PostgreSQL needs the psycopg driver "
                "(pip install 'gogooku[postgres]')"
            ) from None
        self._pg = psycopg
        self.url = re.sub(r"^postgresql\+psycopg://", "postgresql://", url)
        try:
            psycopg.conninfo.conninfo_to_dict(self.url)
        except psycopg.Error as exc:
            raise StoreError(f"prediction store {self.label}: invalid URL ({_line(exc)})") from None
        self.tables = [postgres_ddl(t) for t in tables] + [GENERATION_TABLE]
        self._schema_ready = False
        self._reader = None
        self._read_lock = threading.Lock()

    # -- connections ------------------------------------------------------------------------------
    def _error(self, exc: Exception, doing: str) -> StoreError:
        return StoreError(f"prediction store {self.label}: cannot {doing} ({_line(exc)})")

    def _connect(self, autocommit: bool = False):
        try:
            conn = self._pg.connect(
                self.url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S
            )
        except self._pg.Error as exc:
            raise self._error(exc, "connect") from None
        if not self._schema_ready:
            self._create_schema(conn)
        return conn

    def _create_schema(self, conn) -> None:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for ddl in self.tables:
                    conn.execute(ddl)
                conn.execute("INSERT INTO store_generation VALUES (1, 0) ON CONFLICT DO NOTHING")
            if not conn.autocommit:
                conn.commit()
        except self._pg.Error as exc:
            conn.close()
            raise self._error(exc, "create the schema") from None
        self._schema_ready = True

    def exists(self) -> bool:
        return True

    def check(self) -> None:
        self._connect().close()

    # -- reads and writes -------------------------------------------------------------------------
    def read(self, sql: str, args: Sequence = ()) -> list[tuple]:
        with self._read_lock:
            for attempt in (0, 1):
                if self._reader is None or self._reader.closed:
                    self._reader = self._connect(autocommit=True)
                try:
                    return self._reader.execute(_sql(sql), tuple(args)).fetchall()
                except self._pg.OperationalError as exc:
                    self._reader.close()
                    if attempt:
                        raise self._error(exc, "read") from None
                except self._pg.Error as exc:
                    raise self._error(exc, "read") from None
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self) -> Iterator[_Cursor]:
        conn = self._connect()
        try:
            with conn.cursor() as cursor:
                yield _Cursor(cursor)
                n = cursor.execute(
                    "UPDATE store_generation SET n = n + 1 WHERE id = 1 RETURNING n"
                ).fetchone()[0]
                cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(n)))
            conn.commit()
        except self._pg.Error as exc:
            conn.rollback()
            raise self._error(exc, "write") from None
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    # -- generation -------------------------------------------------------------------------------
    def generation(self) -> int | None:
        """The last ``store_generation.n`` heard by this process's listener of the URL (module
        doc; one per URL, whichever store object asks first starts it)."""
        with _LISTENERS_LOCK:
            listener = _LISTENERS.get(self.url)
            if listener is None:
                listener = _LISTENERS[self.url] = _Listener(self)
        return listener.generation()


class _Listener:
    """The ``LISTEN gogooku_store`` thread of one URL (module doc)."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self.n: int | None = None
        self.heard = threading.Event()
        threading.Thread(target=self._listen, name="gogooku-store-listener", daemon=True).start()

    def generation(self) -> int | None:
        """``n``, after waiting (at most the connect timeout) for the first reading."""
        self.heard.wait(CONNECT_TIMEOUT_S + 1)
        return self.n

    def _advance(self, n: int) -> None:
        """Keep the largest ``n`` heard: a notification queued before a re-read may arrive
        after it."""
        self.n = n if self.n is None else max(self.n, n)

    def _listen(self) -> None:
        pg = self.db._pg
        while True:
            try:
                conn = self.db._connect(autocommit=True)
                with conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while True:
                        row = conn.execute("SELECT n FROM store_generation WHERE id = 1").fetchone()
                        self._advance(row[0])
                        self.heard.set()
                        for note in conn.notifies(timeout=POLL_S):
                            self._advance(int(note.payload))
            except (StoreError, pg.Error) as exc:
                if self.n is not None or not self.heard.is_set():
                    reason = str(exc) if isinstance(exc, StoreError) else _line(exc)
                    log.warning(
                        "store listener of %s: %s; retrying every second", self.db.label, reason
                    )
                self.n = None
                self.heard.set()
                time.sleep(1.0)


_LISTENERS: dict[str, _Listener] = {}
_LISTENERS_LOCK = threading.Lock()


def _line(exc: Exception) -> str:
    """The first non-empty line of an error message."""
    return next((s.strip() for s in str(exc).splitlines() if s.strip()), type(exc).__name__)
