"""Atomic file writes and the code version stamped into every artefact.

Every file gogooku writes for a user (run folders, datasets, bundles, the raw store, reports)
goes through :func:`atomic_path`: the content is written to a temporary file in the target's
folder and moved over the target with ``os.replace``, so a reader sees the old file or the new
one, never a half-written one, and an interrupted write leaves the old file in place.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gogooku import __version__

if TYPE_CHECKING:
    import polars as pl

TEMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: str | Path, fsync: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` when the block ends
    without an exception and is removed otherwise. ``fsync`` flushes it to disk first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, payload: object) -> Path:
    """Write ``payload`` as indented JSON (dates and other objects via ``str``) atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def atomic_write_parquet(
    path: str | Path, frame: pl.DataFrame, fsync: bool = False, **options
) -> Path:
    """Write ``frame`` as Parquet (``options`` go to ``write_parquet``) atomically."""
    with atomic_path(path, fsync=fsync) as tmp:
        frame.write_parquet(tmp, **options)
    return Path(path)


def code_version() -> str:
    """``<package version>`` plus ``+g<commit>`` when the source tree is a git checkout."""
    src = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return __version__
    commit = out.stdout.strip()
    return f"{__version__}+g{commit}" if out.returncode == 0 and commit else __version__
