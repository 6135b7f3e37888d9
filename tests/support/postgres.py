"""A throw-away PostgreSQL server for tests (the HPO study and the prediction store on
PostgreSQL), from Debian's ``postgresql`` package (``make test`` installs it when missing).

``PostgresServer.start()`` runs ``initdb`` into a fresh folder and ``pg_ctl start`` with a Unix
socket in that folder and no TCP listener (``-F``: no fsync); ``database(name)`` creates a fresh
database and returns its URL (``postgresql://postgres@/NAME?host=FOLDER``); ``stop()`` stops the
server and removes the folder. PostgreSQL refuses to run as root, so under root every server
command runs as the package's ``postgres`` system user (``runuser -u postgres``) in a folder
owned by that user under /tmp (pytest's tmp_path is private to root). The session fixture
``postgres`` (tests/conftest.py) starts one server for the whole session.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

INSTALL_HINT = (
    "run `make test` (it installs Debian's postgresql package) or apt-get install postgresql"
)


class PostgresServer:
    """See the module doc."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins and not shutil.which("initdb"):
            pytest.fail(
                f"PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: {INSTALL_HINT}"
            )
        self.bin = Path(bins[-1]).parent if bins else Path(shutil.which("initdb")).parent
        self.as_user: list[str] = []
        self.dir = Path(tempfile.mkdtemp(prefix="gogooku-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.dir)
                pytest.fail(
                    f"running as root and there is no 'postgres' system user: {INSTALL_HINT}"
                )
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"
        self.started = False

    def run(self, tool: str, *args: str) -> None:
        cmd = [*self.as_user, str(self.bin / tool), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text()[-2000:] if log.is_file() else ""
            pytest.fail(
                f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}{tail}"
            )

    def start(self) -> PostgresServer:
        self.run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = f"-k {self.dir} -c listen_addresses='' -F"
        self.run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-o",
            options,
            "start",
        )
        self.started = True
        return self

    def database(self, name: str) -> str:
        """A fresh, empty database ``name``; its URL (see module doc)."""
        self.run("createdb", "-h", str(self.dir), "-U", "postgres", name)
        return f"postgresql://postgres@/{name}?host={self.dir}"

    def stop(self) -> None:
        try:
            if self.started:
                self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
