"""The prediction store's database: one interface, two backends.

Where the store lives is a *target*: a path (SQLite file, the embedded default
``$GOGOOKU_HOME/predictions.sqlite``) or a ``postgresql://user:password@host:port/db`` URL
(also ``postgres://`` and SQLAlchemy's ``postgresql+psycopg://``), shared by every service
replica and job. ``store_target()`` reads it from ``--store`` / ``$GOGOOKU_STORE``
(``gogooku.settings``; ``gogooku.bundle.storeurl``); ``open_database`` opens the backend for it, ``gogooku.bundle.db_sqlite``
or ``gogooku.bundle.db_postgres``, each a small module of its own, so that SQL above this layer
(``predstore``, ``livestore``, ``gogooku.serve.dbkeys``) is written once; ``gogooku.bundle.storeurl``
resolves the target.

The interface (``Database``):

- ``read(sql, args)`` → rows; ``transaction()`` → a cursor (``execute``, ``executemany``) whose
  statements commit together when the block ends (rolled back on an exception). SQL uses ``?``
  placeholders and the SQLite dialect of the tables' DDL; a backend translates what differs.
- ``generation()``: a number that changes whenever any process commits a write (None: nothing
  read from the store may be cached now).
- ``exists()``: the store can be read (a SQLite file not created yet cannot; reads answer none).
- ``check()``: connect now (and create the schema), so that a bad target fails at startup.

Each backend creates its tables on first use (``CREATE TABLE IF NOT EXISTS``, idempotent).
Errors are ``StoreError``: one line naming the target with its password masked
(``gogooku.bundle.storeurl.redact``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol

from gogooku.bundle.storeurl import STORE_ENV, store_target
from gogooku.settings import environ_applied


class Cursor(Protocol):
    def execute(self, sql: str, args: Sequence = ()) -> object: ...

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> object: ...


class Database(Protocol):
    """See the module doc."""

    target: str | Path  # the SQLite file or the URL as given
    label: str  # the target for messages (password masked)

    def exists(self) -> bool: ...

    def check(self) -> None: ...

    def read(self, sql: str, args: Sequence = ()) -> list[tuple]: ...

    def transaction(self) -> AbstractContextManager[Cursor]: ...

    def generation(self) -> int | None: ...


def open_database(target: str | Path | None, tables: Sequence[str]) -> Database:
    """The backend of ``store_target(target)`` with ``tables`` (SQLite DDL, see module doc)."""
    resolved = store_target(target)
    if isinstance(resolved, Path):
        from gogooku.bundle.db_sqlite import SqliteDatabase

        return SqliteDatabase(resolved, tables)
    from gogooku.bundle.db_postgres import PostgresDatabase

    return PostgresDatabase(resolved, tables)


def store_selected(target: str | None) -> AbstractContextManager[None]:
    """``$GOGOOKU_STORE`` = ``target`` inside the block (a command's ``--store``); nothing when
    None. The target is validated first, so a bad scheme fails before any work."""
    if target is None:
        return nullcontext()
    store_target(target)
    return environ_applied({STORE_ENV: target})
