"""``[[search.candidates]]``: a fixed list of named configs, each tried once in the listed order,
the best chosen on validation; and the errors that name the candidate."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.config import ConfigError
from gogooku.hpo.space import CandidateSpace, load_hpo_config, load_space
from gogooku.hpo.study import default_storage
from gogooku.train.config import load_run_config

from .conftest import SPLITS

State = optuna.trial.TrialState
ROOT = Path(__file__).resolve().parents[2]
LINEAR = SPLITS + '\n[model]\nkind = "linear"\n\n[target]\nhorizons = [1, 5, 20]\n'
# not in order of alpha, so the order tried is the listed one
CANDIDATES = """
[[search.candidates]]
name = "alpha1e3"
"model.alpha" = 1e3

[[search.candidates]]
name = "alpha1"
"model.alpha" = 1.0

[[search.candidates]]
name = "alpha1e5"
"model.alpha" = 1e5
"""


def test_candidates_load_as_named_overrides(write_config):
    base, space = load_hpo_config(write_config(LINEAR + CANDIDATES))
    assert isinstance(space, CandidateSpace)
    assert space.names == ["alpha1e3", "alpha1", "alpha1e5"]
    assert space.overrides({"candidate": "alpha1"}) == {"model.alpha": 1.0}
    assert base.model.kind == "linear"


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (CANDIDATES + '[[search.candidates]]\nname = "alpha1"\n', r"repeated: \['alpha1'\]"),
        (
            CANDIDATES + '[search.x]\n"model.alpha" = {type = "float", low = 1, high = 2}\n',
            r"has candidates and distributions \['x'\]",
        ),
        (
            '[[search.candidates]]\nname = "a"\n"model.num_leaves" = 7\n',
            r"candidate 'a': search.'model.num_leaves': no key 'num_leaves' under model",
        ),
        (
            '[[search.candidates]]\nname = "neg"\n"model.alpha" = -1.0\n',
            r"candidate 'neg' is not a valid run config",
        ),
        ("[search]\ncandidates = []\n", r"search.candidates: List should have at least 1 item"),
    ],
)
def test_bad_candidates_are_refused_naming_them(write_config, search, message):
    with pytest.raises(ConfigError, match=message):
        load_hpo_config(write_config(LINEAR + search))


@pytest.mark.parametrize(
    "definition", sorted((ROOT / "studies").glob("*.toml")), ids=lambda p: p.name
)
def test_every_study_definition_is_a_valid_candidate_list(definition):
    doc = tomllib.loads(definition.read_text())
    study = doc["study"]
    base = load_run_config(ROOT / study["base"])
    assert base.model.kind == study["model"]
    space = load_space(base, doc["search"], str(definition))
    assert isinstance(space, CandidateSpace) and study["baseline"] in space.names


def _hpo(config, out, *extra):
    args = ["hpo", "--model", "linear", "--dataset", "tiny", "--config", str(config)]
    args += ["--study-name", "c", "--output-dir", str(out), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return optuna.load_study(study_name="c", storage=default_storage(out)).get_trials()


@pytest.mark.slow
def test_every_candidate_once_in_order_and_the_best_on_validation(home, write_config, tmp_path):
    config, out = write_config(LINEAR + CANDIDATES), tmp_path / "out"
    first = _hpo(config, out, "--n-trials", "2")
    assert [t.params for t in first[:2]] == [{"candidate": "alpha1e3"}, {"candidate": "alpha1"}]
    assert [t.state for t in first] == [State.COMPLETE, State.COMPLETE, State.WAITING]
    trials = _hpo(config, out)  # the rest: only the candidate not tried yet
    assert [t.params["candidate"] for t in trials] == ["alpha1e3", "alpha1", "alpha1e5"]
    assert [t.state for t in trials] == [State.COMPLETE] * 3
    assert len(_hpo(config, out)) == 3  # nothing left to try
    for trial, alpha in zip(trials, (1e3, 1.0, 1e5), strict=True):
        folder = out / f"trial_{trial.number:03d}"
        assert tomllib.loads((folder / "config.toml").read_text())["model"]["alpha"] == alpha
        metrics = json.loads((folder / "metrics.json").read_text())
        folds = metrics["folds"]
        assert trial.value == pytest.approx(sum(f["rank_ic"] for f in folds) / len(folds))
        for fold in folds:  # scored on validation only: the evaluator never ran
            assert not (Path(fold["run_dir"]) / "metrics.json").exists()
    summary = json.loads((out / "summary.json").read_text())
    best = max(trials, key=lambda t: t.value)
    assert summary["best"]["params"] == best.params
    assert len({t.value for t in trials}) == 3  # the choice is not a tie
    best_config = tomllib.loads((out / "best_config.toml").read_text())
    assert best_config["model"]["alpha"] == (1e3, 1.0, 1e5)[best.number]
