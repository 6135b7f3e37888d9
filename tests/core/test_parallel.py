"""gogooku.parallel.map_tasks: the local executor (the Ray one is not shipped here yet)."""

from __future__ import annotations

import pytest

from gogooku.errors import GogookuError
from gogooku.parallel import map_tasks


def _square(x: int) -> int:
    return x * x


def test_local_maps_in_order():
    assert map_tasks(_square, [3, 1, 2]) == [9, 1, 4]
    assert map_tasks(_square, iter([]), executor="local", gpus_per_task=1, env={"A": "b"}) == []


def test_unavailable_or_unknown_executors_are_refused():
    with pytest.raises(GogookuError, match="ray executor not available"):
        map_tasks(_square, [1], executor="ray", address="auto")
    with pytest.raises(GogookuError, match="expected one of local, ray"):
        map_tasks(_square, [1], executor="dask")  # type: ignore[arg-type]
