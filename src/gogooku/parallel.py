"""Run one function over many items, in this process or as Ray tasks (docs/scale-out.md).

:func:`map_tasks` is the one place gogooku fans work out: ``executor="local"`` applies the
function to each item in turn in this process; ``executor="ray"`` makes each item a Ray task on a
local Ray instance (started for the call) or on a cluster (``address="auto"`` or
``"ray://HEAD:10001"``). Either way the results come back in the order of the items,
``on_done(index, result)`` is called once per item as it finishes (in completion order under Ray),
and the first failure is raised as :class:`ParallelError` naming the item's index and the task's
error, the tasks not yet finished being cancelled.

The function must be picklable (a top-level function of a module the workers can import —
gogooku itself, or a module on the workers' ``PYTHONPATH`` — a builtin, a ``functools.partial`` of
one), and so must the items and the results. Every node of a
cluster needs the same gogooku version installed and the same ``GOGOOKU_HOME`` (a shared
filesystem), passed in ``env``: settings are read from the environment on every call
(``gogooku.settings.get_settings``), so a worker resolves them from ``env``.

Ray is an optional dependency (``pip install 'gogooku[ray]'``, in ``all``) imported only when
``executor="ray"`` is used.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from gogooku.errors import GogookuError
from gogooku.settings import environ_applied

T = TypeVar("T")
R = TypeVar("R")

Executor = Literal["local", "ray"]
EXECUTORS: tuple[str, ...] = ("local", "ray")

# Ray's own environment: no usage statistics, and the token of a local instance kept in this
# process's environment instead of ~/.ray/auth_token (see ray_session)
USAGE_STATS = "RAY_USAGE_STATS_ENABLED"
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


class ParallelError(GogookuError):
    """A task failed (its item's index and error in the message), or Ray is missing or
    misconfigured. A failed task's own GogookuError keeps its exit code."""

    def __init__(self, message: str, index: int | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.index = index
        if exit_code is not None:
            self.exit_code = exit_code


def ray_temp_dir() -> Path:
    """Where a local Ray instance keeps its sessions, sockets and logs (one per user, under the
    system temp folder; short, as Ray's Unix socket paths must be)."""
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return Path(tempfile.gettempdir()) / f"gogooku-ray-{uid}"


def _import_ray() -> Any:
    os.environ.setdefault(USAGE_STATS, "0")
    try:
        import ray
    except ImportError as exc:
        raise ParallelError(
            f"executor 'ray' needs Ray, which is not installed ({exc}): pip install 'gogooku[ray]'"
        ) from None
    return ray


@contextmanager
def _local_auth_token() -> Iterator[None]:
    """Give a local instance a token in this process's environment (its Ray processes inherit
    it), so Ray does not write one to ~/.ray/auth_token; a token the user set up is left alone."""
    saved = {name: os.environ.get(name) for name in AUTH_VARS}
    configured = any(saved.values()) or (Path.home() / ".ray" / "auth_token").exists()
    if not configured:
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    try:
        yield
    finally:
        if not configured:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            try:  # Ray caches the token; a later instance gets a new one
                from ray._raylet import AuthenticationTokenLoader

                AuthenticationTokenLoader.instance().reset_cache()
            except (ImportError, AttributeError):  # pragma: no cover - other Ray versions
                pass


@contextmanager
def ray_session(address: str | None = None, log_to_driver: bool = False) -> Iterator[Any]:
    """Ray, connected for the block: to ``address`` (``"auto"``, ``"ray://HEAD:10001"``) or,
    with none (and no ``RAY_ADDRESS`` in the environment, which Ray itself reads), to a local
    instance with ``os.cpu_count()`` CPUs started here. Already connected
    (an outer block, a caller's own ``ray.init``): used as it is, and left running. Only a block
    that connected shuts Ray down at its end. Yields the ``ray`` module."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    options: dict[str, Any] = {"log_to_driver": log_to_driver, "logging_level": logging.ERROR}
    local = address is None and not os.environ.get("RAY_ADDRESS")  # RAY_ADDRESS: Ray's own default
    if local:
        temp = ray_temp_dir()
        temp.mkdir(parents=True, exist_ok=True)
        # only for an instance started here: a cluster's own settings are refused on connect
        options |= {
            "num_cpus": os.cpu_count() or 1,
            "include_dashboard": False,
            "_temp_dir": str(temp),
        }
    with _local_auth_token() if local else _no_op():
        try:
            ray.init(address=address, **options)
        except Exception as exc:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            raise ParallelError(f"cannot start or reach {where}: {exc}") from exc
        try:
            yield ray
        finally:
            ray.shutdown()


@contextmanager
def _no_op() -> Iterator[None]:
    yield


def _check(executor: str, address: str | None, gpus: float, cpus: float, env: Mapping) -> None:
    if executor not in EXECUTORS:
        raise ParallelError(f"executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise ParallelError(f"address {address!r} is only for executor 'ray'")
    if cpus <= 0 or gpus < 0:
        raise ParallelError(
            f"cpus_per_task {cpus} must be > 0 and gpus_per_task {gpus} must be >= 0"
        )
    wrong = [k for k, v in env.items() if not (isinstance(k, str) and isinstance(v, str))]
    if wrong:
        raise ParallelError(f"env: names and values must be strings (not for {wrong!r})")


def _failure(index: int, exc: BaseException) -> ParallelError:
    cause = getattr(exc, "cause", None) or exc  # Ray's RayTaskError wraps the task's error
    message = str(cause).strip() or type(cause).__name__
    code = cause.exit_code if isinstance(cause, GogookuError) else None
    return ParallelError(
        f"task {index} failed: {type(cause).__name__}: {message}", index=index, exit_code=code
    )


def _call(fn: Callable[[T], R], item: T) -> R:
    """The Ray task: any picklable callable (a function, a builtin, a ``functools.partial``)."""
    return fn(item)


def map_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    executor: Executor = "local",
    address: str | None = None,
    gpus_per_task: float = 0,
    cpus_per_task: float = 1,
    env: Mapping[str, str] | None = None,
    on_done: Callable[[int, R], None] | None = None,
) -> list[R]:
    """``[fn(item) for item in items]``, sequentially here or as Ray tasks.

    ``"local"``: in this process, one item after another, with ``env`` set in ``os.environ``
    for the call (restored afterwards); ``address``/``*_per_task`` do not apply.

    ``"ray"``: one task per item requesting ``cpus_per_task`` CPUs and ``gpus_per_task`` GPUs
    (fractions allowed), on ``address`` or a local instance started (and shut down) by this call
    unless Ray is already connected. The workers' environment is ``env`` plus
    ``OMP_NUM_THREADS=max(1, int(cpus_per_task))`` (unless ``env`` sets it), so N tasks on C cores
    with ``cpus_per_task=C/N`` use about C threads in all; torch and LightGBM thread counts that
    the function sets from its own config win. Worker output stays in the Ray session's logs
    (``ray_temp_dir()/session_latest/logs`` for a local instance), not on this terminal.

    ``on_done(index, result)`` runs here once per item as it finishes. The first failure (in
    completion order) cancels the unfinished tasks and raises :class:`ParallelError`.
    """
    env = dict(env or {})
    _check(executor, address, gpus_per_task, cpus_per_task, env)
    items = list(items)
    if executor == "local":
        results = []
        with environ_applied(env):
            for index, item in enumerate(items):
                try:
                    result = fn(item)
                except Exception as exc:
                    raise _failure(index, exc) from exc
                results.append(result)
                if on_done is not None:
                    on_done(index, result)
        return results
    if not items:
        return []
    worker_env = {"OMP_NUM_THREADS": str(max(1, int(cpus_per_task)))} | env
    with ray_session(address) as ray:
        task = ray.remote(_call).options(
            num_cpus=cpus_per_task,
            num_gpus=gpus_per_task,
            runtime_env={"env_vars": worker_env},
        )
        fn_ref = ray.put(fn)  # sent once, not with every task
        refs = [task.remote(fn_ref, item) for item in items]
        index_of = {ref: i for i, ref in enumerate(refs)}
        done: dict[int, Any] = {}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                index = index_of[ready[0]]
                try:
                    done[index] = ray.get(ready[0])
                except Exception as exc:
                    raise _failure(index, exc) from exc
                if on_done is not None:
                    on_done(index, done[index])
        finally:
            for ref in pending:
                ray.cancel(ref)
        return [done[i] for i in range(len(items))]
