"""Where the prediction store lives (``gogooku.bundle.db``): a SQLite path or a PostgreSQL URL,
read from ``--store`` / ``$GOGOOKU_STORE`` (``gogooku.settings``); ``StoreError`` and ``redact``,
which masks a URL's password in every message.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gogooku.errors import GogookuError
from gogooku.settings import get_settings

STORE_ENV = "GOGOOKU_STORE"
STORE_FILE = "predictions.sqlite"
STORE_HELP = (
    "Prediction store: a SQLite file or postgresql://user:password@host:port/db shared by "
    f"replicas (default: ${STORE_ENV}, else $GOGOOKU_HOME/{STORE_FILE})."
)
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class StoreError(GogookuError, RuntimeError):
    """The prediction store cannot be opened, reached or written; names the target."""


def is_postgres(target: str | Path) -> bool:
    match = _SCHEME_RE.match(str(target))
    return match is not None and match.group(1).lower() in POSTGRES_SCHEMES


def redact(target: str | Path) -> str:
    """``target`` with the password of a URL (user info or ``password=`` query) as ``***``."""
    text = str(target)
    match = _SCHEME_RE.match(text)
    if not match:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:  # unparseable (a bad IPv6 literal): show nothing after the scheme
        return f"{match.group(1)}://…"
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = urlencode(
        [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)], safe="/*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def store_target(target: str | Path | None = None) -> str | Path:
    """``target``, else ``$GOGOOKU_STORE``, else ``$GOGOOKU_HOME/predictions.sqlite``; a URL of
    another scheme than PostgreSQL's is a ``StoreError``."""
    settings = get_settings()
    chosen = target if target not in (None, "") else settings.store
    if chosen in (None, ""):
        return settings.home / STORE_FILE
    match = _SCHEME_RE.match(str(chosen))
    if match is None:
        return Path(chosen)
    if match.group(1).lower() not in POSTGRES_SCHEMES:
        raise StoreError(
            f"prediction store {redact(chosen)}: unsupported scheme {match.group(1)!r} "
            "(a SQLite file path or postgresql://...)"
        )
    return str(chosen)
