"""The [search] table: parsing, path and value validation (errors name the path), applying."""

from __future__ import annotations

import optuna
import pytest

from gogooku.config import CONFIGS_DIR, ConfigError
from gogooku.hpo.space import apply_params, load_hpo_config
from gogooku.train.config import default_run_config

from .conftest import ATFT, LGBM


@pytest.mark.parametrize(
    "name", ["hpo_atft.toml", "hpo_apex.toml", "hpo_master.toml", "hpo_lgbm.toml"]
)
def test_shipped_configs_load(name):
    base, space = load_hpo_config(CONFIGS_DIR / name)
    assert space.params
    assert base.model.kind == name.removeprefix("hpo_").removesuffix(".toml")


@pytest.mark.parametrize(
    ("config", "search", "message"),
    [
        (LGBM, '"model.hidden_size" = {type="categorical", choices=[16]}', r"search\.'model\.hidden_size': no key 'hidden_size' under model of the 'lgbm'"),
        (ATFT, '"train.lrr" = {type="float", low=0.001, high=0.01}', r"search\.'train\.lrr': no key 'lrr' under train"),
        (ATFT, '"optim.lr" = {type="float", low=0.001, high=0.01}', r"search\.'optim\.lr': no key 'optim' under the top level"),
        (ATFT, '"train" = {type="float", low=0.001, high=0.01}', r"search\.'train' is a table"),
        (ATFT, '"model.kind" = {type="categorical", choices=["atft"]}', r"model\.kind' cannot be searched"),
        (ATFT, '"model.dropout" = {type="float", low=0.0, high=1.5}', r"search\.'model\.dropout' = 1\.5 is not a valid run config"),
        (ATFT, '"train.lr" = {type="float", low=0.0, high=0.01, log=true}', r"search\.'train\.lr'.*log = true needs low > 0"),
        (ATFT, '"train.lr" = {type="uniform", low=0.0, high=0.01}', r"search\.'train\.lr'"),
        (ATFT, '"train.lr" = {type="float", low=0.01, high=0.001}', r"search\.'train\.lr'.*low <= high"),
        (ATFT, '"model.lstm_layers" = {type="int", low=1, high=2, stepp=1}', r"search\.'model\.lstm_layers'.*stepp"),
    ],
)  # fmt: skip
def test_bad_search_entries_name_the_path(write_config, config, search, message):
    path = write_config(config + "\n[search]\n" + search + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_hpo_config(path)
    assert str(path) in str(info.value)


def test_joint_constraint_is_checked_at_start(write_config):
    # each value is valid alone (base: hidden 16, heads 2); hidden 36 with 8 heads is not
    search = '"model.hidden_size" = {type="categorical", choices=[32, 36]}\n'
    search += '"model.attention_heads" = {type="categorical", choices=[2, 8]}\n'
    with pytest.raises(ConfigError, match=r"(?s)together are not a valid run config.*divisible"):
        load_hpo_config(write_config(ATFT + "\n[search]\n" + search))


def test_missing_search_table_and_bad_run_config(write_config):
    with pytest.raises(ConfigError, match=r"missing table \[search\]"):
        load_hpo_config(write_config(ATFT))
    bad = (
        ATFT.replace("lr = 0.003", "lr = 0.003\nlrr = 1")
        + '\n[search]\n"train.lr" = {type="float", low=0.001, high=0.01}\n'
    )
    with pytest.raises(ConfigError, match=r"train\.lrr: unknown key"):
        load_hpo_config(write_config(bad))


def test_apply_params_sets_nested_values_and_validates():
    base = default_run_config("atft")
    cfg = apply_params(base, {"train.lr": 0.02, "data.loader.seed": 9, "model.gat": False})
    assert (cfg.train.lr, cfg.data.loader.seed, cfg.model.gat) == (0.02, 9, False)
    assert cfg.train.epochs == base.train.epochs
    with pytest.raises(ValueError, match="lr"):
        apply_params(base, {"train.lr": -1.0})


def test_sampled_values_respect_the_distributions(write_config):
    search = '"train.lr" = {type="float", low=1e-4, high=1e-2, log=true}\n'
    search += '"model.lstm_layers" = {type="int", low=1, high=5, step=2}\n'
    search += '"model.dropout" = {type="float", low=0.0, high=0.3, step=0.1}\n'
    search += '"model.gat" = {type="categorical", choices=[true, false]}\n'
    _, space = load_hpo_config(write_config(ATFT + "\n[search]\n" + search))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = space.sample(study.ask())
        assert 1e-4 <= params["train.lr"] <= 1e-2
        assert params["model.lstm_layers"] in (1, 3, 5)
        assert min(abs(params["model.dropout"] - v) for v in (0.0, 0.1, 0.2, 0.3)) < 1e-9
        assert isinstance(params["model.gat"], bool)
