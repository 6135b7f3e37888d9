"""Bundles: immutable, verified copies of a trained run under ``$GOGOOKU_HOME/bundles/NAME/``.

Layout of one bundle name::

    bundles/NAME/v0001/          one version (files read-only, mode 0444)
        bundle.json              BundleInfo: run, model kind, dataset, horizons, ranges, the
                                 model's raw input features and their hash, static id columns,
                                 normalisation spec, window, dataset schema hash, metrics
                                 summary, code versions, who/when
        config.toml run.json     copied from the run folder (metrics.json and tracking.json too
                                 when present)
        model.pt | lgbm_{h}d.txt | linear.json     the fitted model (see ``model_files``)
        manifest.json            {"files": {name: sha256}} of every other file
        manifest.sig             optional: HMAC of the manifest (``gogooku.bundle.signing``)
    bundles/NAME/CURRENT         the promoted version (one line; replaced atomically); only a
                                 ``vNNNN`` folder of NAME that is not a symlink is accepted
    bundles/NAME/SHADOW          optional: the shadow version (same format): predicted, stored
                                 and monitored by ``gogooku update``, never served
    bundles/NAME/audit.jsonl     append-only: {"at", "who", "action", "from", "to"} per create,
                                 promote, rollback, sign, shadow and unshadow (and a ``detail``
                                 object on rule decisions, ``gogooku.bundle.shadow``)

Creation copies into ``.tmp-<uuid>/`` next to the versions and renames it to the next free
``vNNNN`` under the name's lock file (``.lock``, ``fcntl.flock``), so a half-written bundle is
never visible. ``verify_bundle`` recomputes every SHA-256 of the manifest and reports missing,
changed and unlisted files. ``rollback`` undoes the promotion of the current version: the new
current version is the ``from`` of the latest ``promote`` audit entry whose ``to`` is the current
version.

The feature hash (``feature_hash``) is SHA-256 of the JSON list ``[name, dtype, block, formula]``
of the model's input features in order (then raw columns such as APEX's market columns), read
from the dataset's ``features.json``: a dataset
whose columns were renamed, retyped, reordered or redefined hashes differently.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gogooku.bundle.registry import register_promoted
from gogooku.bundle.signing import (
    KEY_ENV,
    SIGNATURE_FILE,
    configured_key,
    sign,
    signature_problems,
)
from gogooku.errors import GogookuError
from gogooku.io import atomic_write_text, code_version
from gogooku.runs import Ranges
from gogooku.settings import get_settings

BUNDLE_FILE = "bundle.json"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
SHADOW_FILE = "SHADOW"
AUDIT_FILE = "audit.jsonl"
LOCK_FILE = ".lock"
VERSION_RE = re.compile(r"v(\d{4,})")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class BundleError(GogookuError, ValueError):
    """A bundle cannot be created, found, verified or switched; the message names it."""


class BundleInfo(BaseModel):
    """Contents of ``bundle.json`` (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    run_id: str
    model: str
    dataset: str
    horizons: list[int]
    main_horizon: int
    ranges: Ranges
    features: list[str] = Field(description="raw input features, in the model's column order")
    feature_hash: str
    raw_features: list[str] = Field(
        default_factory=list,
        description="raw columns appended after the normalised inputs (APEX's market gate; a "
        "LightGBM bundle's categorical ids, as integer codes)",
    )
    static_names: list[str] = Field(default_factory=list)
    static_cardinalities: list[int] = Field(default_factory=list)
    has_graph: bool = False
    window: int = Field(ge=1, description="days of features per sample (1: tabular)")
    normalization: dict[str, object]
    model_files: list[str]
    dataset_schema_hash: str | None
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    run_code_version: str
    code_version: str
    created_at: dt.datetime
    created_by: str


def bundles_dir() -> Path:
    return get_settings().home / "bundles"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise BundleError(
            f"bundle name {name!r}: use letters, digits, '_', '-' and '.', starting with a "
            "letter or digit"
        )
    return name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def feature_hash(columns: Sequence[dict], names: Sequence[str], source: str) -> str:
    """SHA-256 of ``[name, dtype, block, formula]`` of ``names`` in order (see module doc);
    ``columns`` are the entries of a ``features.json``; ``source`` names it in errors."""
    by_name = {c["name"]: c for c in columns}
    absent = [n for n in names if n not in by_name]
    if absent:
        raise BundleError(f"{source}: feature(s) {absent} are not in the dataset")
    rows = [
        [n, by_name[n].get("dtype"), by_name[n].get("block"), by_name[n].get("formula")]
        for n in names
    ]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _versions(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    found = [
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.is_symlink() and VERSION_RE.fullmatch(p.name)
    ]
    return sorted(found, key=lambda v: int(VERSION_RE.fullmatch(v).group(1)))


def versions(name: str) -> list[str]:
    """Versions of bundle ``name``, oldest first."""
    return _versions(bundles_dir() / check_name(name))


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK_FILE).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _audit(
    root: Path, action: str, before: str | None, after: str | None, detail: dict | None = None
) -> None:
    entry = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "who": getpass.getuser(),
        "action": action,
        "from": before,
        "to": after,
    }
    if detail is not None:
        entry["detail"] = detail
    fd = os.open(root / AUDIT_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_audit(name: str) -> list[dict]:
    path = bundles_dir() / check_name(name) / AUDIT_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_bundle(name: str, files: dict[str, Path], info: dict) -> tuple[Path, BundleInfo]:
    """Copy ``files`` (bundle file name → source path) and ``bundle.json`` built from ``info``
    (every ``BundleInfo`` field but name, version, code_version, created_at/by) into the next
    version of ``name``; returns (folder, info). Atomic: temp folder + rename under the lock.
    Signed (``manifest.sig``) when ``$GOGOOKU_BUNDLE_KEY_FILE`` names a key."""
    root = bundles_dir() / check_name(name)
    key = configured_key()
    with _locked(root):
        existing = _versions(root)
        number = int(VERSION_RE.fullmatch(existing[-1]).group(1)) + 1 if existing else 1
        version = f"v{number:04d}"
        bundle = BundleInfo(
            name=name,
            version=version,
            code_version=code_version(),
            created_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
            created_by=getpass.getuser(),
            **info,
        )
        tmp = root / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            for target, source in files.items():
                shutil.copyfile(source, tmp / target)
            (tmp / BUNDLE_FILE).write_text(bundle.model_dump_json(indent=2) + "\n")
            digests = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
            (tmp / MANIFEST_FILE).write_text(json.dumps({"files": digests}, indent=2) + "\n")
            if key is not None:
                sign(tmp, name, version, MANIFEST_FILE, key)
            for path in tmp.iterdir():
                path.chmod(0o444)
            tmp.rename(root / version)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        _audit(root, "create", None, version)
    return root / version, bundle


def verify_bundle(
    path: Path, key: bytes | None = None, require_signature: bool = False
) -> list[str]:
    """Problems of the bundle folder ``path`` (empty: every manifest hash matches, no file is
    missing or unlisted, and the signature checks out: ``gogooku.bundle.signing``; with no
    ``key`` a signature is not checked, with ``require_signature`` an unsigned bundle fails)."""
    problems = signature_problems(path, MANIFEST_FILE, key, require_signature)
    manifest = path / MANIFEST_FILE
    if not manifest.is_file():
        return [f"{manifest}: missing", *problems]
    try:
        listed: dict[str, str] = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{manifest}: unreadable ({exc})", *problems]
    for name, digest in sorted(listed.items()):
        file = path / name
        if not file.is_file():
            problems.append(f"{file}: missing")
        elif sha256_file(file) != digest:
            problems.append(f"{file}: SHA-256 differs from the manifest")
    present = {p.name for p in path.iterdir() if p.is_file()} - {MANIFEST_FILE, SIGNATURE_FILE}
    problems += [f"{path / n}: not in the manifest" for n in sorted(present - set(listed))]
    return problems


def load_info(path: Path) -> BundleInfo:
    file = path / BUNDLE_FILE
    try:
        return BundleInfo.model_validate_json(file.read_text())
    except FileNotFoundError:
        raise BundleError(f"{file}: missing") from None
    except ValueError as exc:
        raise BundleError(f"{file}: invalid bundle.json: {exc}") from None


def read_pointer(root: Path, file: str = CURRENT_FILE) -> str | None:
    """The version ``root/CURRENT`` (or ``root/file``) names (None: no pointer). Only a
    ``vNNNN`` folder of this bundle name is accepted: a path such as ``../other/v0001`` or a
    version folder that is a symlink would serve another bundle under this name."""
    path = root / file
    if not path.is_file():
        return None
    return check_version(root, path.read_text().strip(), str(path))


def check_version(root: Path, version: str, source: str) -> str:
    """``version`` when it is a ``vNNNN`` folder name of the bundle ``root`` that is not a
    symlink; else a BundleError naming ``source`` (where the version was read)."""
    if not VERSION_RE.fullmatch(version):
        raise BundleError(f"{source}: names {version!r}, not a version (vNNNN) of {root.name!r}")
    if (root / version).is_symlink():
        raise BundleError(
            f"{source}: {root / version} is a symlink, not a version of {root.name!r}"
        )
    return version


def current_version(name: str) -> str | None:
    return read_pointer(bundles_dir() / check_name(name))


def shadow_version(name: str) -> str | None:
    """The version ``bundles/NAME/SHADOW`` names (None: no shadow)."""
    return read_pointer(bundles_dir() / check_name(name), SHADOW_FILE)


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME@VERSION``."""
    name, _, version = ref.partition("@")
    return check_name(name), (version or None)


def resolve(name: str, version: str | None = None) -> Path:
    """The folder of ``name@version`` (default: the promoted version)."""
    root = bundles_dir() / check_name(name)
    if version is None:
        version = current_version(name)
        if version is None:
            raise BundleError(
                f"bundle {name!r} has no promoted version ({root / CURRENT_FILE} missing): "
                f"run `gogooku promote {name} VERSION`"
            )
    path = root / check_version(root, version, f"bundle {name}@{version}")
    if not path.is_dir():
        raise BundleError(f"bundle {name}@{version}: {path} does not exist; have {versions(name)}")
    return path


def sign_bundle(name: str, version: str) -> Path:
    """Sign ``name@version`` with the key of ``$GOGOOKU_BUNDLE_KEY_FILE`` after checking every
    hash (audited as ``sign``); returns the signature file. The signature vouches for the
    manifest as it is now: sign only versions you created or checked yourself."""
    key = configured_key()
    if key is None:
        raise BundleError(f"bundle {name}@{version}: set {KEY_ENV} to the key file to sign with")
    path = resolve(name, version)
    problems = verify_bundle(path)
    if problems:
        raise BundleError(f"bundle {name}@{version} fails verification: " + "; ".join(problems))
    with _locked(path.parent):
        signature = sign(path, name, path.name, MANIFEST_FILE, key)
        _audit(path.parent, "sign", None, path.name)
    return signature


def _set_current(root: Path, version: str) -> None:
    atomic_write_text(root / CURRENT_FILE, version + "\n")


def promote(name: str, version: str) -> str | None:
    """Point ``CURRENT`` of ``name`` at ``version`` after verifying it; returns the previous
    version. Promoting the shadow version also removes ``SHADOW`` (audited as ``unshadow``).
    When the bundle's ``[tracking]`` says so, the promoted version is then registered in
    MLflow (``gogooku.bundle.registry``; a registry failure is a warning)."""

    path = resolve(name, version)
    problems = verify_bundle(path, configured_key())
    if problems:
        raise BundleError(f"bundle {name}@{version} fails verification: " + "; ".join(problems))
    root = path.parent
    with _locked(root):
        try:
            before = current_version(name)
        except BundleError:  # a broken pointer is what a promote repairs
            before = None
        _set_current(root, version)
        _audit(root, "promote", before, version)
        if (root / SHADOW_FILE).is_file() and (root / SHADOW_FILE).read_text().strip() == version:
            (root / SHADOW_FILE).unlink()
            _audit(root, "unshadow", version, None)
    register_promoted(path, name, version, sha256_file(path / MANIFEST_FILE))
    return before


def set_shadow(name: str, version: str | None) -> str | None:
    """Point ``SHADOW`` of ``name`` at ``version`` after verifying it (None: remove the
    pointer); returns the previous shadow. The promoted version cannot be its own shadow.
    Audited as ``shadow`` (from the previous shadow to ``version``) or ``unshadow``."""
    root = bundles_dir() / check_name(name)
    if version is not None:
        path = resolve(name, version)
        problems = verify_bundle(path, configured_key())
        if problems:
            raise BundleError(f"bundle {name}@{version} fails verification: " + "; ".join(problems))
    with _locked(root):
        try:
            before = read_pointer(root, SHADOW_FILE)
        except BundleError:  # a broken pointer is what setting it repairs
            before = None
        if version is None:
            if before is None:
                raise BundleError(f"bundle {name!r} has no shadow version to remove")
            (root / SHADOW_FILE).unlink()
            _audit(root, "unshadow", before, None)
            return before
        if version == current_version(name):
            raise BundleError(f"bundle {name}@{version} is the promoted version, not a shadow")
        atomic_write_text(root / SHADOW_FILE, version + "\n")
        _audit(root, "shadow", before, version)
    return before


def audit_decision(name: str, action: str, before: str | None, after: str | None, detail: dict):
    """Append a decision (``action`` with its figures in ``detail``) to NAME's audit log."""
    root = bundles_dir() / check_name(name)
    with _locked(root):
        _audit(root, action, before, after, detail)


def rollback(name: str) -> tuple[str, str]:
    """Undo the promotion of the current version (see module doc); returns (from, to). A
    registered bundle's MLflow alias ``current`` follows (``gogooku.bundle.registry``)."""
    root = bundles_dir() / check_name(name)
    with _locked(root):
        now = current_version(name)
        if now is None:
            raise BundleError(f"bundle {name!r}: nothing is promoted, nothing to roll back")
        promotions = [e for e in read_audit(name) if e["action"] == "promote" and e["to"] == now]
        target = promotions[-1]["from"] if promotions else None
        if target is None:
            raise BundleError(
                f"bundle {name!r}: {now} was the first promoted version; nothing to roll back to"
            )
        problems = verify_bundle(root / target, configured_key())
        if problems:
            raise BundleError(f"rollback target {name}@{target} fails verification: {problems}")
        _set_current(root, target)
        _audit(root, "rollback", now, target)
    register_promoted(root / target, name, target, sha256_file(root / target / MANIFEST_FILE))
    return now, target


def list_bundles() -> list[dict]:
    """One row per bundle version: name, version, current, shadow, run, model, dataset,
    created_at."""
    root = bundles_dir()
    rows = []
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for name in names:
        current, shadow = current_version(name), shadow_version(name)
        for version in _versions(root / name):
            info = load_info(root / name / version)
            rows.append(
                {
                    "name": name,
                    "version": version,
                    "current": version == current,
                    "shadow": version == shadow,
                    "run_id": info.run_id,
                    "model": info.model,
                    "dataset": info.dataset,
                    "created_at": info.created_at.isoformat(),
                }
            )
    return rows
