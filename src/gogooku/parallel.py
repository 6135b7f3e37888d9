"""Map a function over work items, here or on a cluster: what walk-forward runs (and, later,
searches) hand their independent fits to.

``map_tasks(fn, items, executor="local")`` is ``[fn(x) for x in items]``, in order, in this
process. ``executor="ray"`` is the cluster executor (``address``: the Ray cluster,
``gpus_per_task``: GPUs reserved per call, ``env``: environment variables of the workers); this
minimal version does not ship it yet and refuses it. ``fn`` must be a top-level function and the
items picklable, so that the same call works on either executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from gogooku.errors import GogookuError

EXECUTORS: tuple[str, ...] = ("local", "ray")


def map_tasks(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    executor: Literal["local", "ray"] = "local",
    address: str | None = None,
    gpus_per_task: float = 0,
    env: Mapping[str, str] | None = None,
) -> list[Any]:
    """``[fn(x) for x in items]`` on ``executor`` (results in the order of ``items``)."""
    if executor == "local":
        return [fn(x) for x in items]
    if executor == "ray":
        raise GogookuError("ray executor not available")
    raise GogookuError(f"executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
