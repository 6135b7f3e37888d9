"""gogooku.parallel.map_tasks: the same ordered results locally and on Ray, failures as
ParallelError naming the item, on_done once per item, the caller's env in the workers.

The Ray tests share one local Ray instance per module (starting one takes 10-25 s on the 2-core
CI machine); Ray is in the ``all`` extra, so they skip only where it is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from functools import partial
from pathlib import Path

import pytest

from gogooku.errors import GogookuError
from gogooku.parallel import ParallelError, map_tasks, ray_session, ray_temp_dir

from ..support.parallel_fns import fail_on_three, refuse, square_slowly, worker_env

REPO = Path(__file__).resolve().parents[2]
# workers import tests.support.parallel_fns by name: the repository root on their path
WORKER_ENV = {"PYTHONPATH": str(REPO)}

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (pip install 'gogooku[ray]'; the all extra has it)",
)


def test_local_gives_results_in_item_order_and_calls_on_done_once_per_item():
    seen = []
    assert map_tasks(square_slowly, [3, 1, 2], on_done=lambda i, r: seen.append((i, r))) == [
        9,
        1,
        4,
    ]
    assert seen == [(0, 9), (1, 1), (2, 4)]


def test_local_failure_names_the_item_and_stops():
    seen = []
    with pytest.raises(ParallelError, match=r"task 3 failed: ValueError: item 3 is bad") as info:
        map_tasks(fail_on_three, range(6), on_done=lambda i, r: seen.append(i))
    assert info.value.index == 3
    assert isinstance(info.value, GogookuError)
    assert isinstance(info.value.__cause__, ValueError)
    assert seen == [0, 1, 2]


def test_a_task_gogooku_error_keeps_its_exit_code():
    with pytest.raises(ParallelError, match=r"task 0 failed: Refused: refused 7") as info:
        map_tasks(refuse, [7])
    assert info.value.exit_code == 3


def test_local_applies_env_for_the_call_only(tmp_path, monkeypatch):
    monkeypatch.delenv("GOGOOKU_TEST_VAR", raising=False)
    before = os.environ["GOGOOKU_HOME"]
    env = {"GOGOOKU_HOME": str(tmp_path / "elsewhere"), "GOGOOKU_TEST_VAR": "x"}
    [seen] = map_tasks(worker_env, [["GOGOOKU_TEST_VAR"]], env=env)
    assert seen == {"GOGOOKU_TEST_VAR": "x", "home": str(tmp_path / "elsewhere")}
    assert os.environ["GOGOOKU_HOME"] == before
    assert "GOGOOKU_TEST_VAR" not in os.environ


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"executor": "dask"}, r"executor 'dask': expected one of local, ray"),
        ({"address": "auto"}, r"address 'auto' is only for executor 'ray'"),
        ({"cpus_per_task": 0}, r"cpus_per_task 0 must be > 0"),
        ({"gpus_per_task": -1}, r"gpus_per_task -1 must be >= 0"),
        ({"env": {"N": 1}}, r"env: names and values must be strings"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ParallelError, match=message):
        map_tasks(square_slowly, [1], **kwargs)


def test_missing_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(ParallelError, match=r"pip install 'gogooku\[ray\]'"):
        map_tasks(square_slowly, [1], executor="ray")


def test_no_items_start_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert map_tasks(square_slowly, [], executor="ray") == []


@pytest.fixture(scope="module")
def ray_up(tmp_path_factory):
    """One local Ray instance for the module's Ray tests, started with HOME pointing at an
    empty folder to check that Ray writes nothing there (token, results)."""
    home = tmp_path_factory.mktemp("ray_home")
    saved = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        with ray_session() as ray:
            yield ray, home
    finally:
        if saved is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = saved
    assert not ray.is_initialized()  # the session that started Ray shut it down


@needs_ray
@pytest.mark.slow
def test_ray_writes_nothing_under_home(ray_up):
    ray, home = ray_up
    assert ray.is_initialized()
    assert list(home.iterdir()) == []
    assert (ray_temp_dir() / "session_latest").exists()


@needs_ray
@pytest.mark.slow
def test_ray_gives_the_local_results_in_item_order(ray_up):
    ray, _ = ray_up
    items = list(range(7))
    seen = []
    results = map_tasks(
        square_slowly,
        items,
        executor="ray",
        env=WORKER_ENV,
        on_done=lambda i, r: seen.append((i, r)),
    )
    assert results == map_tasks(square_slowly, items) == [x * x for x in items]
    assert sorted(seen) == [(i, i * i) for i in items]  # once per item, as each finished
    # any picklable callable: a builtin, a partial
    assert map_tasks(partial(pow, 2), [1, 2, 3], executor="ray", env=WORKER_ENV) == [2, 4, 8]
    assert ray.is_initialized()  # connected before the call: left running
    with ray_session():
        pass
    assert ray.is_initialized()


@needs_ray
@pytest.mark.slow
def test_ray_task_failure_is_a_parallel_error_naming_the_item(ray_up):
    with pytest.raises(ParallelError, match=r"task 3 failed: ValueError: item 3 is bad") as info:
        map_tasks(fail_on_three, range(6), executor="ray", env=WORKER_ENV)
    assert info.value.index == 3
    with pytest.raises(ParallelError, match=r"task 0 failed: Refused: refused 5") as info:
        map_tasks(refuse, [5], executor="ray", env=WORKER_ENV)
    assert info.value.exit_code == 3


@needs_ray
@pytest.mark.slow
def test_ray_workers_see_env_and_resolve_settings_from_it(ray_up, tmp_path):
    home = str(tmp_path / "shared_home")
    env = WORKER_ENV | {"GOGOOKU_HOME": home}
    names = ["GOGOOKU_HOME", "OMP_NUM_THREADS"]
    [seen] = map_tasks(worker_env, [names], executor="ray", env=env)
    assert seen == {"GOGOOKU_HOME": home, "OMP_NUM_THREADS": "1", "home": home}
    [seen] = map_tasks(
        worker_env, [names], executor="ray", cpus_per_task=2, env=env | {"OMP_NUM_THREADS": "3"}
    )
    assert seen["OMP_NUM_THREADS"] == "3"  # env wins over cpus_per_task


WALKFORWARD_LGBM = """
[target]
horizons = [1, 5, 20]

[evaluate]
bootstrap = 10

[model]
kind = "lgbm"
num_boost_round = 8
min_data_in_leaf = 20
num_threads = 2
seeds = 2
"""


@needs_ray
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lgbm", "apex"])
def test_walkforward_on_ray_equals_the_sequential_run(ray_up, home, kind):
    """CI's local Ray instance (2 CPUs): a walk-forward run whose fits ran as Ray tasks stitches
    the predictions of the same run made in this process, with the same threads per fit:
    bit-identical for LightGBM (threads and seeds: the tabular kind most likely to drift), within 1e-6 for a network (torch on CPU)."""
    import polars as pl

    from gogooku.config import load_config
    from gogooku.research.walkforward import run_walkforward
    from gogooku.runs import PREDICTIONS_FILE
    from gogooku.train.config import RunConfig

    from ..support.configs import SPLITS
    from ..support.world import run_config

    path = home / f"{kind}.toml"
    models = {"lgbm": SPLITS + WALKFORWARD_LGBM, "apex": run_config("ap")}
    path.write_text(models[kind])
    cfg = load_config(path, RunConfig)
    frames = {}
    for executor in ("local", "ray"):
        run_dir = run_walkforward(
            kind,
            "tiny",
            cfg,
            folds="all",
            run_id=f"wf-{executor}",
            executor=executor,
            evaluate=False,
            threads=2,
        )
        frames[executor] = pl.read_parquet(run_dir / PREDICTIONS_FILE)
    assert frames["local"]["fold"].n_unique() == 3
    if kind == "apex":
        preds = [c for c in frames["local"].columns if c.startswith("pred_")]
        diff = frames["ray"].select(preds) - frames["local"].select(preds)
        assert frames["ray"].select("Date", "Code").equals(frames["local"].select("Date", "Code"))
        assert max(diff.select(pl.all().abs().max()).row(0)) <= 1e-6
    else:
        assert frames["ray"].equals(frames["local"])
