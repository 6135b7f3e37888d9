"""The import registry ``raw/imports.json``: one record per import, keyed by its id (its name).

A record says what an import brought: its file(s), format, market, the rows and date range it
wrote per raw dataset, the calendar span it asked for, how many stored keys of other sources it
replaced (``--replace``), and when it ran. The file is rewritten atomically on every change and
deleted when the last record goes, so a home whose imports were all removed holds no trace.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gogooku.errors import GogookuError
from gogooku.io import atomic_write_json

REGISTRY_FILE = "imports.json"
SOURCE_PREFIX = "import:"
CALENDAR_IMPORT = "calendar"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ImportRegistryError(GogookuError, ValueError):
    """A bad import name, an unknown import id, or an unreadable ``imports.json``."""


@dataclass(frozen=True)
class ImportRecord:
    """One import: ``datasets`` maps a raw dataset to ``{"rows", "first", "last"}`` (ISO dates),
    ``replaced`` a dataset to the number of other sources' keys removed, ``calendar`` the
    ``[first, last]`` span of the calendar rows it asked for (None without a calendar)."""

    id: str
    format: str
    files: list[str]
    market: str
    datasets: dict[str, dict[str, object]]
    replaced: dict[str, int]
    imported_at: str
    calendar: list[str] | None = None
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return import_source(self.id)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def import_source(name: str) -> str:
    """The catalog source label of the import ``name``: ``import:<name>``."""
    return f"{SOURCE_PREFIX}{name}"


def check_import_name(name: str) -> str:
    """``name`` when it can be an import id (letters, digits, ``._-``; not ``calendar``)."""
    if not NAME_PATTERN.match(name) or name == CALENDAR_IMPORT:
        raise ImportRegistryError(
            f"--name {name!r}: an import name starts with a letter or digit and holds only "
            f"letters, digits, '.', '_' and '-' (and {CALENDAR_IMPORT!r} is reserved)"
        )
    return name


def read_registry(raw_dir: Path) -> dict[str, ImportRecord]:
    """The records of ``raw_dir/imports.json`` by id (empty when there is no file)."""
    path = Path(raw_dir) / REGISTRY_FILE
    if not path.exists():
        return {}
    try:
        payload = json.loads(path.read_text())
        records = [ImportRecord(**item) for item in payload["imports"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ImportRegistryError(f"{path}: not an import registry ({exc})") from exc
    return {r.id: r for r in records}


def write_registry(raw_dir: Path, records: dict[str, ImportRecord]) -> None:
    """Rewrite ``raw_dir/imports.json`` atomically (sorted by id); delete it when empty."""
    path = Path(raw_dir) / REGISTRY_FILE
    if not records:
        path.unlink(missing_ok=True)
        return
    ordered = [records[k].to_json() for k in sorted(records)]
    atomic_write_json(path, {"imports": ordered})
