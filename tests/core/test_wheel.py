"""The wheel: built from the sources, it ships the run configs and runs the pipeline from any
folder in a fresh environment (its dependencies borrowed from this one's site-packages, no
network): fetch, build and a walk-forward run of a shipped config found by name; and the
container image's entry points (deploy/Dockerfile installs this wheel) answer from it."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from gogooku.config import CONFIGS_DIR

from ..support.markets import TINY_BUILD, TINY_FETCH

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    env: dict[str, str]  # no PYTHONPATH, GOGOOKU_HOME outside the checkout
    elsewhere: Path  # a folder outside the checkout to run from


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """The wheel built from a copy of the sources and installed without dependencies into a
    fresh virtual environment that borrows this one's site-packages."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "source"  # a copy: building in place would leave build/ in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "src", source / "src", ignore=ignore)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(wheels), str(source)],
        check=True,
    )  # fmt: skip
    [wheel] = wheels.glob("gogooku-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    own = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # this environment's packages after the venv's own (its .pth files stay unread, so the
    # development install of gogooku is not seen)
    (Path(own) / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env["GOGOOKU_HOME"] = str(elsewhere / "home")
    return Installed(wheel, venv, env, elsewhere)


@pytest.mark.slow
def test_the_wheel_ships_the_configs_and_runs_a_walkforward_outside_the_checkout(installed):
    shipped = {
        n for n in zipfile.ZipFile(installed.wheel).namelist() if n.startswith("gogooku/configs/")
    }
    assert shipped == {f"gogooku/configs/{p.name}" for p in CONFIGS_DIR.glob("*.toml")}
    venv, env, elsewhere = installed.venv, installed.env, installed.elsewhere
    python = venv / "bin" / "python"
    where = subprocess.run(
        [python, "-c", "import gogooku; print(gogooku.__file__)"],
        capture_output=True, text=True, check=True, cwd=elsewhere, env=env,
    ).stdout  # fmt: skip
    assert Path(where).resolve().is_relative_to(venv.resolve())
    gogooku = str(venv / "bin" / "gogooku")
    splits = "data.splits={train_days = 60, val_days = 20, test_days = 20, first_day = 9}"
    for args in (
        TINY_FETCH,
        [*TINY_BUILD, "--blocks", "returns,sector"],
        ["walkforward", "--model", "linear", "--dataset", "tiny", "--config", "linear.toml",
         "--set", splits, "--folds", "last:2", "--run", "wf"],
    ):  # fmt: skip
        done = subprocess.run(
            [gogooku, *args], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=900
        )
        assert done.returncode == 0, (args[0], done.stdout[-3000:] + done.stderr[-3000:])
    metrics = json.loads((elsewhere / "home" / "runs" / "wf" / "metrics.json").read_text())
    assert [f["fold"] for f in metrics["splits"]["test"]["folds"]] == [1, 2]


@pytest.mark.slow
def test_the_wheel_has_the_image_entry_points_and_every_package_file(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    package = REPO / "src" / "gogooku"
    files = {
        f"gogooku/{p.relative_to(package).as_posix()}"
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert files - names == set()  # configs, py.typed, every data file the image needs
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(installed.wheel).read(entry_points).decode()
    assert "[console_scripts]\ngogooku = gogooku.cli:app" in text
    # deploy/Dockerfile: ENTRYPOINT ["gogooku"], CMD serve; compose and systemd: update and the
    # scheduler; each answers --help from the installed wheel outside the checkout
    bin_dir = installed.venv / "bin"
    for args, expect in (
        ([bin_dir / "gogooku", "--help"], "Commands"),
        ([bin_dir / "gogooku", "serve", "--host", "0.0.0.0", "--port", "8000", "--help"], "--workers"),
        ([bin_dir / "gogooku", "update", "--help"], "--fetch-start"),
        ([bin_dir / "python", "-m", "gogooku.bundle.schedule", "--help"], "--tz"),
    ):  # fmt: skip
        done = subprocess.run(
            args, capture_output=True, text=True, cwd=installed.elsewhere, env=installed.env
        )
        assert done.returncode == 0 and expect in done.stdout, (args, done.stderr[-2000:])
