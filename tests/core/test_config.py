"""Typed run configs: strict keys with errors naming file and key, TOML round trip, shipped files."""

from __future__ import annotations

from datetime import date

import pytest

from gogooku.config import (
    CONFIGS_DIR,
    ConfigError,
    DataConfig,
    LoaderConfig,
    NormalizationConfig,
    SplitConfig,
    dump_config,
    load_config,
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


@pytest.mark.parametrize("name", ["splits_default.toml", "demo_data.toml"])
def test_shipped_configs_load(name):
    config = load_config(CONFIGS_DIR / name, DataConfig)
    assert config.splits.purge >= config.splits.label_horizon + 1


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
