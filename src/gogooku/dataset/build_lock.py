"""One build of a dataset at a time, and the temporary files of a killed build removed.

A build holds an exclusive lock on ``datasets/.<dataset>.build.lock`` (``fcntl.flock``, released
when the process ends, however it ends; beside the folder, so the folder holds only the dataset);
a second build of the same dataset is refused at once with the lock's path. Holding the lock, the build removes what an earlier build killed before it could
clean up left in the dataset folder: ``.build-*`` spill folders, ``cache.tmp-*`` caches and
``.*.tmp`` files of an interrupted atomic write. Nothing else writes there while the lock is held.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gogooku.dataset.cache import CACHE_DIR
from gogooku.errors import GogookuError
from gogooku.io import TEMP_SUFFIX

LOCK_SUFFIX = ".build.lock"
LEFTOVER_PATTERNS = (".build-*", f"{CACHE_DIR}.tmp-*", f".*{TEMP_SUFFIX}")


class BuildLockedError(GogookuError, RuntimeError):
    """Another process is building the same dataset."""


def lock_path(dataset_dir: Path) -> Path:
    """``datasets/.<name>.build.lock`` of the dataset folder ``datasets/<name>``."""
    return dataset_dir.parent / f".{dataset_dir.name}{LOCK_SUFFIX}"


@contextmanager
def build_lock(dataset_dir: Path) -> Iterator[None]:
    """Hold the dataset's build lock for the block (see the module doc)."""
    dataset_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(dataset_dir)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLockedError(
                f"dataset {dataset_dir.name!r} is being built by another process (lock {path}); "
                "run the build again when it has finished"
            ) from None
        yield


def remove_leftovers(dataset_dir: Path) -> list[Path]:
    """Delete the temporary folders and files of a killed build (call it holding the lock);
    returns what was removed."""
    stale = sorted({p for pattern in LEFTOVER_PATTERNS for p in dataset_dir.glob(pattern)})
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return stale
