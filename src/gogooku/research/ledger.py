"""The hold-out ledger: ``$GOGOOKU_HOME/holdout/ledger.jsonl``, one JSON object per line, one line
per scoring of a dataset's sealed hold-out (``gogooku evaluate --final``).

It is append-only: a line is appended with one ``write`` on a file opened ``O_APPEND`` and
fsynced; nothing here rewrites, truncates or removes a line. Fields of a line: ``who``
(``getpass.getuser()``), ``when`` (UTC ISO 8601), ``run`` (the run whose config was scored),
``final_run`` (the run fitted on the final fold), ``dataset``, ``holdout`` (``{"start", "end"}``),
``config_hash`` (:func:`config_hash`), ``model``, ``code_version``, ``figures`` (per horizon of
the test split: ``rank_ic_mean``, ``rank_ic_ci`` [low, high], ``rank_icir``,
``long_short_sharpe``, ``long_short_sharpe_ci`` [low, high]) and ``again`` (whether
``--again`` allowed a repeated scoring of the same dataset and config hash).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from gogooku.settings import get_settings

LEDGER_DIR = "holdout"
LEDGER_FILE = "ledger.jsonl"


def ledger_path() -> Path:
    return get_settings().home / LEDGER_DIR / LEDGER_FILE


def config_hash(config: BaseModel) -> str:
    """sha256 (hex) of the resolved run config as canonical JSON: ``model_dump(mode="json",
    exclude_defaults=True)`` without ``[tracking]`` (where a run is logged, not what is fitted:
    switching it on does not make a new config), plus the model kind, dumped with sorted keys,
    ``separators=(",", ":")``, ASCII only — the same config gives the same hash whatever the TOML
    file's layout or comments, and a later version that adds a key with a default does not
    change it (a hold-out scored before an upgrade stays scored). The kind is always kept, so
    two kinds' all-default configs differ."""
    fitted = config.model_dump(mode="json", exclude={"tracking"}, exclude_defaults=True)
    kind = getattr(getattr(config, "model", None), "kind", None)
    if kind is not None:
        fitted["model"] = {**fitted.get("model", {}), "kind": kind}
    canonical = json.dumps(fitted, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_ledger(path: Path | None = None) -> Iterator[dict]:
    """The ledger's entries, oldest first (none when it does not exist)."""
    path = path or ledger_path()
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def scored(dataset: str, chash: str, path: Path | None = None) -> list[dict]:
    """The entries that scored ``dataset``'s hold-out with the config hash ``chash``."""
    return [e for e in read_ledger(path) if e["dataset"] == dataset and e["config_hash"] == chash]


def append_entry(entry: dict, path: Path | None = None) -> Path:
    """Append ``entry`` as one line: ``O_APPEND``, one ``write``, ``fsync``; returns the path."""
    path = path or ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(entry, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"{path}: short append ({written} of {len(data)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)
    return path
