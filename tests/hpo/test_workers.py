"""Two ``gogooku hpo`` processes share one study: on SQLite (a subprocess and this process), and on
a real PostgreSQL server (two subprocesses).

The PostgreSQL test runs two workers on a fresh database of the session's throw-away server
(the ``postgres`` fixture of tests/conftest.py, ``tests/support/postgres.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.hpo.study import default_storage

from .conftest import LGBM, LGBM_SEARCH

GOGOOKU = str(Path(sys.executable).parent / "gogooku")
TRIALS_PER_WORKER = 2


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


@pytest.fixture
def postgres_url(postgres):
    return postgres.database("optuna").replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.mark.slow
def test_two_workers_share_one_postgresql_study(home, write_config, tmp_path, postgres_url):
    out = tmp_path / "search"
    args = _worker_args(write_config(LGBM + LGBM_SEARCH), out, postgres_url)
    workers = [_start_worker(home, args) for _ in range(2)]
    for worker in workers:
        _wait(worker)
    _check_study(postgres_url, out)
    assert not (out / "study.db").exists()
