"""``load_run_config`` with ``--set`` overrides and ``with_data``: a run config with another data
config's sections (the demo's, the studies', a test's own splits)."""

from __future__ import annotations

import pytest

from gogooku.config import CONFIGS_DIR, ConfigError, DataConfig, SplitConfig, load_config
from gogooku.hpo.space import load_hpo_config
from gogooku.train.config import default_run_config, load_run_config, with_data

DEMO = CONFIGS_DIR / "demo_data.toml"


def test_defaults_of_a_kind_with_overrides():
    cfg = load_run_config(None, ["train.epochs=1", "model.objective=lambdarank"], kind="lgbm")
    assert cfg.train.epochs == 1 and cfg.model.objective == "lambdarank"
    assert cfg.model_copy(
        update={
            "train": cfg.train.model_copy(update={"epochs": 20}),
            "model": cfg.model.model_copy(update={"objective": "regression"}),
        }
    ) == default_run_config("lgbm")
    with pytest.raises(ConfigError, match=r"--model lgbm \(defaults\): model\.nonsense: unknown"):
        load_run_config(None, ["model.nonsense=1"], kind="lgbm")
    with pytest.raises(ConfigError, match="--model 'nope'"):
        load_run_config(None, kind="nope")


def test_overrides_of_a_shipped_run_config_and_their_errors():
    cfg = load_run_config("lgbm.toml", ["model.num_leaves=15", "data.splits.train_days=500"])
    assert cfg.model.num_leaves == 15 and cfg.data.splits.train_days == 500
    with pytest.raises(ConfigError, match=r"model\.nonsense: unknown key \(from --set model\."):
        load_run_config("lgbm.toml", ["model.nonsense=1"])
    # a check across sections names every --set that may be behind it
    with pytest.raises(ConfigError, match=r"label_horizon is 5.*\(with --set data\.splits\."):
        load_run_config("lgbm.toml", ["data.splits.label_horizon=5", "data.splits.purge_days=6"])


@pytest.mark.parametrize(
    "name", ["atft", "apex", "apex_pruned", "master", "lgbm", "linear", "factor"]
)
def test_with_data_replaces_only_the_tables_the_data_config_has(name):
    cfg = load_run_config(CONFIGS_DIR / f"{name}.toml")
    demo = with_data(cfg, DEMO)
    assert demo.data.splits == load_config(DEMO, SplitConfig, section="splits")
    assert demo.data.splits.train_days == 100 and cfg.data.splits.train_days == 735
    assert demo.data.loader == cfg.data.loader  # demo_data.toml has no [loader]
    assert demo.model == cfg.model and demo.train == cfg.train and demo.target == cfg.target


def test_with_data_of_a_data_config_object_a_split_config_or_a_run_config(tmp_path):
    cfg = load_run_config("atft.toml")
    whole = DataConfig(splits=SplitConfig(train_days=50), loader=cfg.data.loader)
    assert with_data(cfg, whole).data == whole
    splits = SplitConfig(scheme="rolling", train_days=60)
    assert with_data(cfg, splits).data == cfg.data.model_copy(update={"splits": splits})
    # a run config's [data.*] tables (here the quality split as a run config)
    run = tmp_path / "run.toml"
    run.write_text('[data.splits]\ntrain_days = 70\n[model]\nkind = "lgbm"\n')
    assert with_data(cfg, run).data.splits == SplitConfig(train_days=70)
    assert with_data(cfg, "quality_data.toml").data.splits.train_days == 504


def test_with_data_validates_the_result_and_names_the_data_config(tmp_path):
    cfg = load_run_config("atft.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[splits]\ntrain_dayz = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: splits\.train_dayz: unknown key"):
        with_data(cfg, bad)
    bad.write_text("[splits]\nlabel_horizon = 5\n")  # shorter than the 20-day target
    with pytest.raises(ConfigError, match=r"bad\.toml in the run config: .*label_horizon is 5"):
        with_data(cfg, bad)
    bad.write_text("[loader]\nwindow = 7\n")  # ATFT's window must equal the loader's
    with pytest.raises(ConfigError, match=r"bad\.toml in the run config"):
        with_data(cfg, bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(ConfigError, match=r"empty\.toml: no \[splits\]"):
        with_data(cfg, empty)


def test_hpo_config_with_overrides_and_the_demo_data():
    base, space = load_hpo_config("hpo_lgbm.toml", ["model.num_leaves=15"], data=DEMO)
    assert base.model.num_leaves == 15 and base.data.splits.train_days == 100
    assert space.params  # checked against the final base
    with pytest.raises(ConfigError, match=r"hpo_lgbm\.toml: model\.nonsense: unknown key \(from"):
        load_hpo_config("hpo_lgbm.toml", ["model.nonsense=1"])
