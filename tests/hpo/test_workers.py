"""Two ``gogooku hpo`` processes share one study: on SQLite (a subprocess and this process), and on
a real PostgreSQL server (two subprocesses).

The PostgreSQL test starts a throw-away cluster from Debian's ``postgresql`` package
(``make test`` installs it when missing): ``initdb`` into a fresh folder, ``pg_ctl start`` with a
Unix socket in that folder and no TCP listener, ``createdb``, then two workers; the server is
stopped and the folder removed at the end. PostgreSQL refuses to run as root, so under root every
server command runs as the package's ``postgres`` system user (``runuser -u postgres``) in a
folder owned by that user under /tmp (pytest's tmp_path is private to root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.hpo.study import default_storage

from .conftest import LGBM, LGBM_SEARCH

GOGOOKU = str(Path(sys.executable).parent / "gogooku")
TRIALS_PER_WORKER = 2
INSTALL_HINT = (
    "run `make test` (it installs Debian's postgresql package) or apt-get install postgresql"
)


def _worker_args(config: Path, out: Path, storage: str | None) -> list[str]:
    args = ["hpo", "--model", "lgbm", "--dataset", "tiny", "--config", str(config)]
    args += ["--n-trials", str(TRIALS_PER_WORKER), "--study-name", "shared", "--folds", "-1"]
    return [*args, "--output-dir", str(out), *(["--storage", storage] if storage else [])]


def _start_worker(home: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "GOGOOKU_HOME": str(home)}
    return subprocess.Popen(
        [GOGOOKU, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait(worker: subprocess.Popen) -> None:
    text = worker.communicate(timeout=240)[0]
    assert worker.returncode == 0, text


def _check_study(storage: str, out: Path) -> None:
    trials = optuna.load_study(study_name="shared", storage=storage).get_trials()
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(2 * TRIALS_PER_WORKER)), numbers
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    folders = sorted(p.name for p in out.glob("trial_*"))
    assert folders == [f"trial_{n:03d}" for n in range(2 * TRIALS_PER_WORKER)]


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(home, write_config, tmp_path):
    # one worker is a `gogooku hpo` subprocess, the other the same command in this process
    args = _worker_args(write_config(LGBM + LGBM_SEARCH), tmp_path / "search", None)
    worker = _start_worker(home, args)
    try:
        result = CliRunner().invoke(app, args)
    finally:
        _wait(worker)
    assert result.exit_code == 0, result.output
    _check_study(default_storage(tmp_path / "search"), tmp_path / "search")


class _Postgres:
    """A throw-away PostgreSQL cluster on a Unix socket (see the module docstring)."""

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

    def start(self) -> str:
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
        self.run("createdb", "-h", str(self.dir), "-U", "postgres", "optuna")
        return f"postgresql+psycopg://postgres@/optuna?host={self.dir}"

    def stop(self) -> None:
        try:
            if self.started:
                self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postgres_url():
    server = _Postgres()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.mark.slow
def test_two_workers_share_one_postgresql_study(home, write_config, tmp_path, postgres_url):
    out = tmp_path / "search"
    args = _worker_args(write_config(LGBM + LGBM_SEARCH), out, postgres_url)
    workers = [_start_worker(home, args) for _ in range(2)]
    for worker in workers:
        _wait(worker)
    _check_study(postgres_url, out)
    assert not (out / "study.db").exists()
