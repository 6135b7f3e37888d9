"""Top-level functions for tests/core/test_parallel.py: Ray workers import them by module name
(``tests.support.parallel_fns``), so the tests put the repository root on the workers'
``PYTHONPATH``."""

from __future__ import annotations

import os
import time

from gogooku.errors import GogookuError
from gogooku.settings import get_settings


class Refused(GogookuError):
    exit_code = 3


def square_slowly(x: int) -> int:
    """x², later items sooner (so Ray finishes them out of order)."""
    time.sleep(0.05 * max(0, 6 - x))
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"item {x} is bad")
    return x


def refuse(x: int) -> int:
    raise Refused(f"refused {x}")


def worker_env(names: list[str]) -> dict[str, str | None]:
    """The worker's view: the named environment variables and the settings' home."""
    return {name: os.environ.get(name) for name in names} | {"home": str(get_settings().home)}
