"""A damaged training cache is one line naming the file and the build that rewrites it."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.dataset.cache import CacheError, open_cache


def _truncate(path) -> None:
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


@pytest.fixture
def own_dataset(tiny_home, link_home):
    """This test's home: the session's raw store linked, a copy of dataset ``tiny`` of its own."""
    home = link_home(tiny_home, ("raw",))
    shutil.copytree(tiny_home / "datasets", home / "datasets")
    return home / "datasets" / "tiny"


@pytest.mark.parametrize("name", ["features.npy", "dates.npy", "cache.json"])
def test_open_cache_names_a_truncated_file_and_the_rebuild(own_dataset, name):
    _truncate(own_dataset / "cache" / name)
    with pytest.raises(CacheError) as info:
        open_cache(own_dataset)
    message = str(info.value)
    assert message.startswith(f"{own_dataset / 'cache' / name}: ")
    assert "gogooku build --name tiny --start 2020-03-02 --end 2020-12-30 --blocks" in message
    assert message.endswith(" --full") and "\n" not in message


def test_train_on_a_truncated_cache_is_one_line(own_dataset, config_file):
    features = own_dataset / "cache" / "features.npy"
    _truncate(features)
    args = ["train", "--model", "atft", "--dataset", "tiny", "--config", str(config_file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if "failed" in line]
    assert len(failed) == 1 and failed[0].startswith(f"train failed: {features}: ")
    assert "mmap length is greater than file size" in failed[0]
    assert "rebuild it: gogooku build --name tiny" in failed[0]
    assert "Traceback" not in result.output
