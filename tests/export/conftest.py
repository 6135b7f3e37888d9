"""An evaluated run for the export tests: the trained world's ridge run ``ln`` (tests/conftest.py
``trained_world``), evaluated once per session with top_k = 5 (so the long-only book is not the
whole 24-stock universe) in a home of its own; each test gets a copy of the run folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

RUN = "ln"


@pytest.fixture(scope="session")
def evaluated_world(trained_world, tmp_path_factory) -> Path:
    from gogooku.evaluate.config import EvaluateConfig
    from gogooku.evaluate.evaluator import evaluate_run
    from gogooku.settings import Settings

    home = tmp_path_factory.mktemp("export_world")
    for name in ("raw", "datasets"):
        (home / name).symlink_to(trained_world / name, target_is_directory=True)
    shutil.copytree(trained_world / "runs" / RUN, home / "runs" / RUN)
    old = os.environ.get("GOGOOKU_HOME")
    os.environ["GOGOOKU_HOME"] = str(home)
    try:
        evaluate_run(
            home / "runs" / RUN,
            EvaluateConfig(top_k=5, bootstrap=10),
            settings=Settings(),
            write_report=False,
        )
    finally:
        if old is None:
            os.environ.pop("GOGOOKU_HOME", None)
        else:
            os.environ["GOGOOKU_HOME"] = old
    return home


@pytest.fixture
def export_home(evaluated_world, link_home) -> Path:
    """This test's GOGOOKU_HOME: the evaluated world's raw/ and datasets/ linked, runs/ln copied."""
    home = link_home(evaluated_world)
    shutil.copytree(evaluated_world / "runs" / RUN, home / "runs" / RUN)
    return home
