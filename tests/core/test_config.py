"""Typed run configs: strict keys with errors naming file and key, TOML round trip, shipped files."""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gogooku.config import (
    CONFIGS_DIR,
    ConfigError,
    DataConfig,
    LoaderConfig,
    NormalizationConfig,
    SplitConfig,
    _toml_scalar,
    apply_overrides,
    dump_config,
    load_config,
    load_split_config,
    parse_override,
    parse_value,
)


def test_unknown_key_is_named_with_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[splits]\ntrain_days = 10\n\n[loader]\nwindow = 5\nshufle = true\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, DataConfig)
    assert str(err.value) == f"{path}: loader.shufle: unknown key"
    with pytest.raises(ConfigError, match=r"run\.toml: loader\.shufle: unknown key"):
        load_config(path, LoaderConfig, section="loader")
    path.write_text("[normalization]\nmethod = 'zscore'\n[extra]\nx = 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, DataConfig)
    assert f"{path}: normalization.method: Input should be 'rank_gauss' or 'robust_z'" in str(
        err.value
    )
    assert f"{path}: extra: unknown key" in str(err.value)


def test_other_load_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml", DataConfig)
    bad = tmp_path / "bad.toml"
    bad.write_text("[splits\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(bad, DataConfig)
    bad.write_text("x = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: missing table \[splits\]"):
        load_config(bad, SplitConfig, section="splits")
    bad.write_text("[splits]\npurge_days = 3\nlabel_horizon = 5\n")
    with pytest.raises(
        ConfigError, match=r"bad\.toml: splits: Value error, purge_days=3 is shorter"
    ):
        load_config(bad, SplitConfig, section="splits")


def test_dump_and_load_round_trip(tmp_path):
    config = DataConfig(
        splits=SplitConfig(scheme="rolling", train_days=40, embargo_days=3, start=date(2021, 1, 4)),
        normalization=NormalizationConfig(
            method="robust_z", clip=float("inf"), missing_indicator=True
        ),
        loader=LoaderConfig(window=20, features=["a", 'b"q'], stocks_per_day=100),
    )
    path = dump_config(config, tmp_path / "sub" / "run.toml")
    assert load_config(path, DataConfig) == config
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.toml"]
    text = path.read_text()
    assert "[splits]" in text and "start = 2021-01-04" in text and "clip = inf" in text
    assert "stocks_per_day = 100" in text and "targets" not in text  # None: the default


@pytest.mark.parametrize("name", ["splits_default.toml", "demo_data.toml", "quality_data.toml"])
def test_shipped_configs_load(name):
    config = load_config(CONFIGS_DIR / name, DataConfig)
    assert config.splits.purge >= config.splits.label_horizon + 1


RUN_CONFIGS = ["atft", "apex", "apex_pruned", "master", "lgbm", "linear", "factor", "oracle"]
HPO_CONFIGS = ["hpo_atft", "hpo_apex", "hpo_master", "hpo_lgbm"]


@pytest.mark.parametrize("name", RUN_CONFIGS + HPO_CONFIGS)
def test_shipped_run_configs_split_a_ten_year_dataset_like_splits_default(name):
    """Every shipped run config has the ten-year splits of configs/splits_default.toml: rolling
    3 years of training, 6 months of validation and of test, folds one test block apart."""
    split = load_split_config(f"configs/{name}.toml")
    assert split == load_split_config("splits_default.toml")
    assert (split.scheme, split.train_days, split.val_days, split.test_days, split.step) == (
        "rolling",
        735,
        126,
        126,
        126,
    )
    assert (split.purge, split.embargo_days, split.first_day) == (21, 5, 59)
    assert "ten-year" in (CONFIGS_DIR / f"{name}.toml").read_text().split("[data.splits]")[0]


def test_shipped_configs_are_found_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = load_config(CONFIGS_DIR / "demo_data.toml", DataConfig)
    assert load_config("demo_data.toml", DataConfig) == shipped
    assert load_config("configs/demo_data.toml", DataConfig) == shipped
    (tmp_path / "demo_data.toml").write_text("[splits]\ntrain_dayz = 1\n")
    with pytest.raises(ConfigError, match=r"demo_data\.toml: splits\.train_dayz: unknown key"):
        load_config("demo_data.toml", DataConfig)  # a file in the folder wins
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config("nope.toml", DataConfig)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("elsewhere/demo_data.toml", DataConfig)


def test_models_are_frozen():
    with pytest.raises(ValueError, match="frozen"):
        LoaderConfig().window = 3  # type: ignore[misc]


# -- --set overrides ------------------------------------------------------------------------------
def test_override_values_are_toml_or_a_bare_string():
    assert parse_override("train.epochs=1") == (("train", "epochs"), 1)
    assert parse_override(" model.lr = 1e-3 ") == (("model", "lr"), 1e-3)
    assert parse_override("a.b=true") == (("a", "b"), True)
    assert parse_override("target.horizons=[1, 5]") == (("target", "horizons"), [1, 5])
    assert parse_override("model.objective=lambdarank") == (("model", "objective"), "lambdarank")
    assert parse_override('model.objective="1"') == (("model", "objective"), "1")
    assert parse_override("s.start=2021-01-04") == (("s", "start"), date(2021, 1, 4))
    assert parse_override("s.t={a = 1}") == (("s", "t"), {"a": 1})
    assert parse_override("a=x=y") == (("a",), "x=y")
    assert parse_value("1\nb = 2") == "1\nb = 2"  # one value only, never a second key
    for bad in ("epochs", "=1", "a..b=1", "a.=1"):
        with pytest.raises(ConfigError, match=r"--set .*expected KEY=VALUE"):
            parse_override(bad)


def test_apply_overrides_sets_nested_keys_and_refuses_a_key_through_a_value():
    data = {"train": {"epochs": 5}, "model": {"kind": "lgbm"}}
    out = apply_overrides(data, ["train.epochs=1", "data.splits.train_days=50", "train.epochs=2"])
    assert out == {
        "train": {"epochs": 2},
        "model": {"kind": "lgbm"},
        "data": {"splits": {"train_days": 50}},
    }
    assert data == {"train": {"epochs": 5}, "model": {"kind": "lgbm"}}  # not changed in place
    with pytest.raises(ConfigError, match=r"--set model\.kind\.x=1: model\.kind is not a table"):
        apply_overrides(data, ["model.kind.x=1"])


TOML_VALUES = st.recursive(
    st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=20),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


@given(TOML_VALUES)
def test_a_value_written_as_toml_reads_back_through_set(value):
    (key, got) = parse_override(f"section.key={_toml_scalar(value)}")
    assert key == ("section", "key")
    assert got == value or (isinstance(value, float) and math.isnan(got) and math.isnan(value))


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]*", fullmatch=True))
def test_a_bare_word_is_a_string_unless_toml_reads_it(word):
    got = parse_value(word)
    assert got == word or word in ("true", "false", "inf", "nan")


def test_overrides_are_validated_like_the_file_and_errors_name_the_set(tmp_path):
    path = tmp_path / "data.toml"
    path.write_text("[splits]\ntrain_days = 10\n")
    config = load_config(path, DataConfig, overrides=["splits.train_days=20", "loader.window=7"])
    assert config.splits.train_days == 20 and config.loader.window == 7
    with pytest.raises(ConfigError) as err:
        load_config(path, DataConfig, overrides=["splits.train_dayz=20"])
    assert str(err.value) == (
        f"{path}: splits.train_dayz: unknown key (from --set splits.train_dayz=20)"
    )
    with pytest.raises(ConfigError, match=r"extra: unknown key \(from --set extra\.x=1\)"):
        load_config(path, DataConfig, overrides=["extra.x=1"])
    with pytest.raises(ConfigError, match=r"splits\.val_days: .*\(from --set splits\.val_days=0\)"):
        load_config(path, DataConfig, overrides=["splits.val_days=0"])


def test_split_config_of_a_data_config_or_a_run_config(tmp_path):
    data = tmp_path / "data.toml"
    data.write_text("[splits]\ntrain_days = 10\n")
    assert load_split_config(data).train_days == 10
    assert load_split_config(data, ["splits.train_days=11"]).train_days == 11
    run = tmp_path / "run.toml"
    run.write_text('[data.splits]\ntrain_days = 12\n[model]\nkind = "lgbm"\n')
    assert load_split_config(run).train_days == 12
    assert load_split_config(run, ["data.splits.train_days=13"]).train_days == 13
    run.write_text('[model]\nkind = "lgbm"\n')
    assert load_split_config(run) == SplitConfig()  # a run without [data.splits]: the defaults
    run.write_text("[data.splits]\ntrain_dayz = 12\n")
    with pytest.raises(ConfigError, match=r"run\.toml: data\.splits\.train_dayz: unknown key"):
        load_split_config(run)
    other = tmp_path / "other.toml"
    other.write_text("[serve]\nport = 1\n")
    with pytest.raises(ConfigError, match=r"missing table \[splits\] .* or \[data\.splits\]"):
        load_split_config(other)
