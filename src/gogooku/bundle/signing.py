"""Signed bundle manifests: HMAC-SHA256 of a version's ``manifest.json`` under a secret key.

The manifest lists the SHA-256 of every bundle file, so it catches a changed file, but whoever
can change a file can rewrite the manifest too. ``manifest.sig`` (next to it, not listed in it)
holds ``{"alg": "hmac-sha256", "key_id", "mac"}``: the MAC of the bundle name, the version and
the manifest's bytes, so a file changed with its manifest, or a signed version copied under
another name or version number, no longer verifies. Only a holder of the key can sign.

The key is a file outside ``$GOGOOKU_HOME/bundles`` (at least 32 bytes; readable by its owner
only, as ``gogooku bundle keygen`` writes it), named by ``GOGOOKU_BUNDLE_KEY_FILE`` for the
bundle commands and by ``bundle_key_file`` in the service config. ``key_id`` (the first 16 hex
digits of the key's SHA-256) tells which key signed. HMAC is symmetric: a host that can verify
can also sign (docs/security.md, "Threat model").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from gogooku.errors import GogookuError
from gogooku.io import atomic_write_text
from gogooku.settings import get_settings

SIGNATURE_FILE = "manifest.sig"
KEY_ENV = "GOGOOKU_BUNDLE_KEY_FILE"
ALG = "hmac-sha256"
MIN_KEY_BYTES = 32


class SigningError(GogookuError, ValueError):
    """The signing key cannot be used; the message names the file."""


def load_key(path: Path) -> bytes:
    """The key in ``path`` (its bytes without surrounding whitespace), refused when missing,
    shorter than 32 bytes, readable by group or others, or inside the bundles folder."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        key = path.read_bytes().strip()
    except OSError as exc:
        raise SigningError(f"bundle key file {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise SigningError(
            f"bundle key file {path}: readable by group or others (mode {mode & 0o777:o}); "
            f"chmod 600 {path}"
        )
    if len(key) < MIN_KEY_BYTES:
        raise SigningError(
            f"bundle key file {path}: {len(key)} bytes, need at least {MIN_KEY_BYTES} "
            "(gogooku bundle keygen FILE writes one)"
        )
    bundles = (get_settings().home / "bundles").resolve()
    if path.resolve().is_relative_to(bundles):
        raise SigningError(f"bundle key file {path}: inside {bundles}; keep the key elsewhere")
    return key


def configured_key() -> bytes | None:
    """The key of ``$GOGOOKU_BUNDLE_KEY_FILE``, or None when the variable is unset."""
    path = os.environ.get(KEY_ENV)
    return load_key(Path(path)) if path else None


def generate_key(path: Path) -> str:
    """Write a new random key (32 bytes, hex) to ``path``, mode 0600; returns its key id.
    Refuses to overwrite: the bundles signed with the old key would no longer verify."""
    path = Path(path)
    key = secrets.token_hex(MIN_KEY_BYTES).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningError(f"bundle key file {path}: exists; not overwritten") from None
    except OSError as exc:
        raise SigningError(f"bundle key file {path}: {exc.strerror}") from None
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key_id(key)


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _mac(key: bytes, name: str, version: str, manifest: bytes) -> str:
    head = f"gogooku-bundle\0{name}\0{version}\0".encode()
    return hmac.new(key, head + manifest, hashlib.sha256).hexdigest()


def sign(folder: Path, name: str, version: str, manifest_file: str, key: bytes) -> Path:
    """Write ``manifest.sig`` (read-only) into ``folder``, which holds ``name@version`` (its
    final place, or the temporary folder it is written in)."""
    manifest = (folder / manifest_file).read_bytes()
    body = {"alg": ALG, "key_id": key_id(key), "mac": _mac(key, name, version, manifest)}
    path = atomic_write_text(folder / SIGNATURE_FILE, json.dumps(body, indent=2) + "\n")
    path.chmod(0o444)
    return path


def signature_problems(
    version_dir: Path, manifest_file: str, key: bytes | None, required: bool
) -> list[str]:
    """Why the signature of ``version_dir`` does not vouch for its manifest (empty: it does, or
    there is no key to check it with, or it is absent and not ``required``)."""
    path = version_dir / SIGNATURE_FILE
    if not path.is_file():
        return [f"{path}: missing (the bundle is not signed)"] if required else []
    if key is None:
        return [f"{path}: no key to check it (set {KEY_ENV})"] if required else []
    try:
        body = json.loads(path.read_text())
        alg, signer, mac = body["alg"], body["key_id"], body["mac"]
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{path}: unreadable ({exc})"]
    if alg != ALG:
        return [f"{path}: algorithm {alg!r}, expected {ALG!r}"]
    if signer != key_id(key):
        return [f"{path}: signed with key {signer}, not with the configured key {key_id(key)}"]
    manifest = version_dir / manifest_file
    if not manifest.is_file():
        return []  # verify_bundle reports the missing manifest
    if not hmac.compare_digest(
        str(mac), _mac(key, version_dir.parent.name, version_dir.name, manifest.read_bytes())
    ):
        return [f"{path}: the signature does not match {manifest} (manifest altered)"]
    return []
